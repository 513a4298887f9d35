"""One window verified with PostgreSQL's side pushed down (ARCHITECTURE decision 3, reladiff's
count-and-checksum).

PostgreSQL answers one aggregate query per window: rows and a (key, status) checksum per
partition value and fine time bucket. Fine buckets are merged into slices of about
`slice_records` rows; DynamoDB, which has no server-side hash, reads each slice once (one
projected Query, slices in parallel) and the same checksum is computed from what it returned.
A slice whose count and checksum agree is consistent and costs PostgreSQL nothing more; only a
slice that differs has its SQL keys read and diffed, exactly as `check counts` diffs them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import anyio

from monitor.checks.slices import Tally, record_slice, run_slices
from monitor.core.checksum import checksum
from monitor.core.mapping import Slice, TableMapping
from monitor.core.windows import align_down
from monitor.model import Window
from monitor.stores.ports import SourceStore, TargetStore

#: Fine buckets per partition-key period of a window at first; raised when a bucket holds
#: more than two slices' worth of rows, and kept for the next windows (density changes slowly).
FIRST_FINE_BUCKETS = 16
MAX_FINE_BUCKETS = 4096
#: Slices in progress (read from DynamoDB, their SQL side pending) per DynamoDB slot.
SLICES_HELD_PER_SLOT = 2


@dataclass(frozen=True, slots=True)
class PlannedSlice:
    slice: Slice
    #: SQL rows in the slice, and the sum of their (key, status) hashes.
    rows: int
    checksum: int


@dataclass(slots=True)
class PushdownStats:
    #: Slices found equal by count and checksum (no SQL key read).
    equal: int = 0
    #: Slices whose SQL keys were read and diffed.
    diffed: int = 0
    #: Aggregate queries run (one per window once the bucket size has settled).
    aggregates: int = 0


def fine_edges(start: datetime, end: datetime, count: int, step: timedelta) -> list[datetime]:
    """Up to `count` bucket starts in `[start, end)`, aligned to the sort key's resolution."""
    span = end - start
    edges = {align_down(start + span * i / count, step) for i in range(count)}
    return sorted({start, *(e for e in edges if start <= e < end)})


class WindowPlanner:
    """Plans the slices of each window from one aggregate query (two while it adapts)."""

    def __init__(self, sql: SourceStore, slice_records: int) -> None:
        self.sql = sql
        self.mapping: TableMapping = sql.mapping
        self.slice_records = slice_records
        self.fine = FIRST_FINE_BUCKETS
        self.stats = PushdownStats()

    async def plan(
        self, window: Window, partitions: frozenset[tuple[str, ...]]
    ) -> list[PlannedSlice]:
        step = self.mapping.sort_resolution
        while True:
            pieces = list(self.mapping.buckets(window.start, window.end))
            piece_edges = [fine_edges(lo, hi, self.fine, step) for lo, hi in pieces]
            edges = [edge for starts in piece_edges for edge in starts]
            rows = await self.sql.bucket_checksums(window.start, window.end, edges)
            self.stats.aggregates += 1
            biggest = max((count for _, _, count, _ in rows), default=0)
            if biggest <= 2 * self.slice_records or self.fine >= MAX_FINE_BUCKETS:
                break
            self.fine = min(MAX_FINE_BUCKETS, math.ceil(self.fine * biggest / self.slice_records))
        return self._slices(pieces, piece_edges, rows, partitions)

    def _slices(
        self,
        pieces: Sequence[tuple[datetime, datetime]],
        piece_edges: Sequence[Sequence[datetime]],
        rows: Sequence[tuple[tuple[str, ...], int, int, int]],
        partitions: frozenset[tuple[str, ...]],
    ) -> list[PlannedSlice]:
        # Global bucket number (1-based, as width_bucket counts) -> (piece, bucket in piece).
        where: list[tuple[int, int]] = [
            (p, b) for p, starts in enumerate(piece_edges) for b in range(len(starts))
        ]
        found: dict[tuple[int, tuple[str, ...]], dict[int, tuple[int, int]]] = {}
        for partition, bucket, count, total in rows:
            piece, local = where[bucket - 1]
            found.setdefault((piece, partition), {})[local] = (count, total)
        planned: list[PlannedSlice] = []
        for piece, (lo, hi) in enumerate(pieces):
            starts = [*piece_edges[piece], hi]
            # A known partition with no SQL row here is still read (one Query): discovery knows
            # DynamoDB's partition values, not their days, so only the Query can find an item
            # that DynamoDB alone holds there (docs/verify.md).
            names = {p for (k, p) in found if k == piece} | set(partitions)
            for partition in sorted(names):
                buckets = found.get((piece, partition), {})
                pk = self.mapping.partition_key_for(partition, lo)
                planned += self._merge(partition, pk, starts, buckets)
        return planned

    def _merge(
        self,
        partition: tuple[str, ...],
        pk: str,
        starts: Sequence[datetime],
        buckets: dict[int, tuple[int, int]],
    ) -> list[PlannedSlice]:
        """Consecutive fine buckets merged into slices of about `slice_records` rows."""
        out: list[PlannedSlice] = []
        first, rows, total = 0, 0, 0
        for index in range(len(starts) - 1):
            count, summed = buckets.get(index, (0, 0))
            rows, total = rows + count, total + summed
            last = index == len(starts) - 2
            if rows >= self.slice_records or last:
                out.append(
                    PlannedSlice(
                        Slice(partition, pk, starts[first], starts[index + 1]), rows, total
                    )
                )
                first, rows, total = index + 1, 0, 0
        return out


async def verify_slices(
    sql: SourceStore,
    dynamo: TargetStore,
    planned: Sequence[PlannedSlice],
    tally: Tally,
    limiter: anyio.CapacityLimiter,
    stats: PushdownStats,
    on_slice: Callable[[], None] | None = None,
) -> None:
    """Read each slice from DynamoDB once; diff against SQL keys only where checksums differ.

    `limiter` (DynamoDB's `max_concurrency`, shared by the windows in flight) is held for the
    DynamoDB Query alone: a slice reading its SQL keys holds no DynamoDB slot, so PostgreSQL
    never throttles DynamoDB's reads. At most `SLICES_HELD_PER_SLOT` slices per slot are in
    progress at once, which bounds the items held while their SQL side is read.
    """
    mapping = sql.mapping

    async def work(piece: PlannedSlice) -> None:
        lo, hi = mapping.sort_key_bounds(piece.slice.start, piece.slice.end)
        async with limiter:
            items = await dynamo.slice_keys(piece.slice.pk, lo, hi)
        if (
            not items.invalid
            and items.readable == piece.rows
            and checksum(items.entries()) == piece.checksum
        ):
            stats.equal += 1
            tally.sql += piece.rows
            tally.dynamodb += piece.rows
            tally.matched += piece.rows
            return
        stats.diffed += 1
        rows = await sql.slice_key_status(piece.slice.partition, piece.slice.start, piece.slice.end)
        await record_slice(sql, mapping, piece.slice, rows, items, tally)

    in_progress = anyio.CapacityLimiter(SLICES_HELD_PER_SLOT * limiter.total_tokens)
    await run_slices(planned, work, tally, in_progress, on_slice)
