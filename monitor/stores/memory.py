"""The read ports of both stores, and the discovery cache, in memory: for fast check tests.

Each answers exactly as the real adapter does for the same data (the check tests run one body
over both), but keeps its rows and items in Python structures. A `MemoryWorld` holds the data of
one scenario; opening stores over it with a `TableMapping` gives the ports the checks use.

Not for production: there is no persistence, no concurrency control beyond the event loop, and
DynamoDB's read units are estimated (half a unit per item read, one per request at least).
"""

from __future__ import annotations

import bisect
import copy
import math
import random
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from monitor.config import DynamoSettings
from monitor.core.checksum import key_status_hash
from monitor.core.item import Attribute, Item, text_of
from monitor.core.mapping import IndexMap, KeyKind, TableMapping
from monitor.core.sampling import SqlSample, keep_probability, key_order, pick_rows
from monitor.model import IndexInfo
from monitor.stores.budget import ReadBudget
from monitor.stores.ports import Cursor, DiscoveryCursor, ScanPage, SliceRead

_INT64 = range(-(2**63), 2**63)
#: Estimated read units of one item (an eventually consistent read of up to 4 KB).
_UNITS_PER_ITEM = 0.5


@dataclass
class MemoryWorld:
    """The data of both stores and the discovery cache, shared by every store opened over it."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    #: (pk, sk) -> item; the attribute names follow whichever mapping wrote them.
    items: dict[tuple[str, str], dict[str, Attribute]] = field(default_factory=dict)
    #: The SQL table's columns (None: those of the rows).
    columns: frozenset[str] | None = None
    #: The table's secondary indexes (None: the mapping's pending index, active, projecting all).
    indexes: list[IndexInfo] | None = None
    state: MemoryState = field(default_factory=lambda: MemoryState())

    def put_item(self, mapping: TableMapping, item: Mapping[str, Attribute]) -> None:
        pk, sk = text_of(item, mapping.partition_key), text_of(item, mapping.sort_key)
        if pk is None or sk is None:
            raise ValueError("an item needs string partition and sort keys")
        self.items[(pk, sk)] = dict(item)


def _in(row: Mapping[str, Any], column: str, start: datetime, end: datetime) -> bool:
    moment = row.get(column)
    return moment is not None and start <= moment < end


class MemorySource:
    """`SourceStore` over a `MemoryWorld`'s rows."""

    def __init__(self, world: MemoryWorld, mapping: TableMapping) -> None:
        self.world = world
        # As the PostgreSQL adapter reads it from the catalog: what the key column holds.
        kinds = {type(row.get(mapping.key_column)) for row in world.rows}
        kind = KeyKind.NUMBER if kinds == {int} else KeyKind.TEXT if kinds == {str} else None
        self.mapping = replace(mapping, key_kind=kind) if kind is not None else mapping

    def _window(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        return [r for r in self.world.rows if _in(r, self.mapping.timestamp_column, start, end)]

    def _partition_of(self, row: Mapping[str, Any]) -> tuple[str, ...] | None:
        values = [row.get(c) for c in self.mapping.partition_columns]
        return None if any(v is None for v in values) else tuple(str(v) for v in values)

    def _in_partition(self, partition: Sequence[str], start: datetime, end: datetime) -> list[Any]:
        wanted = tuple(partition)
        return [r for r in self._window(start, end) if self._partition_of(r) == wanted]

    def _project(self, row: Mapping[str, Any], columns: Sequence[str]) -> dict[str, Any]:
        return {c: row.get(c) for c in columns}

    async def partition_counts(
        self, start: datetime, end: datetime
    ) -> list[tuple[tuple[str, ...], int]]:
        counts = Counter(
            p for r in self._window(start, end) if (p := self._partition_of(r)) is not None
        )
        return sorted(counts.items())

    async def null_partition_count(self, start: datetime, end: datetime) -> int:
        if not self.mapping.partition_columns:
            return 0
        return sum(self._partition_of(r) is None for r in self._window(start, end))

    async def cut_points(
        self, partition: Sequence[str], start: datetime, end: datetime, pieces: int
    ) -> list[datetime]:
        if pieces <= 1:
            return []
        ts = self.mapping.timestamp_column
        times = sorted(r[ts] for r in self._in_partition(partition, start, end))
        if not times:
            return []
        # percentile_disc: the first value whose cumulative share reaches the fraction.
        cuts = {times[max(0, math.ceil(i / pieces * len(times)) - 1)] for i in range(1, pieces)}
        return sorted(c for c in cuts if start < c < end)

    async def slice_key_status(
        self, partition: Sequence[str], start: datetime, end: datetime
    ) -> list[tuple[Any, str | None]]:
        m = self.mapping
        return [
            (r.get(m.key_column), r.get(m.status_column))
            for r in self._in_partition(partition, start, end)
        ]

    async def bucket_checksums(
        self, start: datetime, end: datetime, edges: Sequence[datetime]
    ) -> list[tuple[tuple[str, ...], int, int, int]]:
        m = self.mapping
        found: dict[tuple[tuple[str, ...], int], list[int]] = {}
        for row in self._window(start, end):
            partition = self._partition_of(row)
            if partition is None:
                continue
            bucket = bisect.bisect_right(list(edges), row[m.timestamp_column])
            tally = found.setdefault((partition, bucket), [0, 0])
            tally[0] += 1
            tally[1] += key_status_hash(row[m.key_column], row.get(m.status_column))
        return [(p, b, n, total) for (p, b), (n, total) in sorted(found.items())]

    async def status_counts(self, start: datetime, end: datetime) -> dict[str | None, int]:
        status = self.mapping.status_column
        counts = Counter(r.get(status) for r in self._window(start, end))
        return {None if s is None else str(s): n for s, n in counts.items()}

    async def pending_rows(self, start: datetime, end: datetime) -> Sequence[Mapping[str, Any]]:
        m = self.mapping
        pending = m.status_values.pending
        return [
            self._project(r, m.row_columns)
            for r in self._window(start, end)
            if r.get(m.status_column) == pending
        ]

    async def pending_batches(
        self, start: datetime, end: datetime, size: int
    ) -> AsyncIterator[Sequence[Mapping[str, Any]]]:
        m = self.mapping
        rows = sorted(
            await self.pending_rows(start, end),
            key=lambda r: (r[m.timestamp_column], key_order(r[m.key_column])),
        )
        for at in range(0, len(rows), size):
            yield rows[at : at + size]

    def _holds(self, key: object) -> bool:
        """Whether the key column could hold this key (its type is that of the stored keys)."""
        stored = {type(r.get(self.mapping.key_column)) for r in self.world.rows}
        if isinstance(key, bool) or not isinstance(key, int | str):
            return False
        if isinstance(key, int):
            return key in _INT64 and str not in stored
        return int not in stored

    async def rows_by_keys(self, keys: Sequence[Any]) -> Sequence[Mapping[str, Any]] | None:
        if not all(self._holds(k) for k in keys):
            return None
        m = self.mapping
        wanted = set(keys)
        return [
            self._project(r, m.row_columns)
            for r in self.world.rows
            if r.get(m.key_column) in wanted
        ]

    async def table_columns(self) -> frozenset[str]:
        if self.world.columns is not None:
            return self.world.columns
        return frozenset(c for r in self.world.rows for c in r)

    async def sample_window(
        self,
        start: datetime,
        end: datetime,
        size: int,
        columns: Sequence[str],
        *,
        rng: random.Random,
        seed: float | None = None,
    ) -> SqlSample:
        window = self._window(start, end)
        columns = list(dict.fromkeys(columns))
        if len(window) <= size:
            return SqlSample([self._project(r, columns) for r in window], len(window), "all", 1.0)
        rate = keep_probability(len(window), size)
        store_rng = random.Random(seed)  # the store's own random(), as setseed makes it
        ts = self.mapping.timestamp_column
        kept = sorted(r[ts] for r in window if store_rng.random() < rate)
        chosen = Counter(rng.sample(kept, min(size, len(kept))))
        rows = [self._project(r, columns) for r in window if r[ts] in chosen]
        m = self.mapping
        picked = pick_rows(rows, chosen, m.timestamp_column, m.key_column, rng)
        return SqlSample(picked, len(window), "bernoulli", rate)


class MemoryTarget:
    """`TargetStore` over a `MemoryWorld`'s items."""

    def __init__(
        self,
        world: MemoryWorld,
        settings: DynamoSettings,
        mapping: TableMapping,
        *,
        budget: ReadBudget | None = None,
    ) -> None:
        self.world = world
        self.settings = settings
        self.mapping = mapping
        self.budget = budget or ReadBudget(settings.max_read_units_per_second)
        self.requests = 0
        #: This view's read units first, then those of the views it was derived from.
        self._meters: tuple[list[float], ...] = ([0.0],)

    def for_run(self) -> MemoryTarget:
        view = copy.copy(self)
        view._meters = ([0.0], *self._meters)
        return view

    @property
    def read_units(self) -> float:
        return self._meters[0][0]

    async def _read(self, items: int) -> float:
        self.requests += 1
        reserved = await self.budget.acquire()
        units = max(1.0, items * _UNITS_PER_ITEM)
        self.budget.charge(units, reserved)
        for meter in self._meters:
            meter[0] += units
        return units

    @staticmethod
    def _project(item: Item, projection: Iterable[str] | None) -> dict[str, Attribute]:
        if projection is None:
            return dict(item)
        return {name: item[name] for name in dict.fromkeys(projection) if name in item}

    def _partition(self, pk: str, start_sk: str, end_sk: str) -> list[dict[str, Attribute]]:
        found = [
            (sk, item)
            for (item_pk, sk), item in self.world.items.items()
            if item_pk == pk and start_sk <= sk <= end_sk
        ]
        return [item for _, item in sorted(found, key=lambda pair: pair[0])]

    async def slice_keys(self, pk: str, start_sk: str, end_sk: str) -> SliceRead:
        m = self.mapping
        items = self._partition(pk, start_sk, end_sk)
        await self._read(len(items))
        out = SliceRead()
        for item in items:
            out.add(m, item)
        return out

    async def batch_get(
        self,
        keys: Sequence[tuple[str, str]],
        projection: Sequence[str] | None = None,
        *,
        consistent: bool = False,
    ) -> list[Item]:
        unique = list(dict.fromkeys(keys))
        found = [self.world.items[k] for k in unique if k in self.world.items]
        for start in range(0, len(unique), 100):
            await self._read(len(unique[start : start + 100]))
        return [self._project(item, projection) for item in found]

    async def query_range(
        self,
        pk: str,
        start_sk: str,
        end_sk: str,
        projection: Sequence[str],
        *,
        index: IndexMap | None = None,
        status: str | None = None,
    ) -> list[Item]:
        if index is None:
            items = self._partition(pk, start_sk, end_sk)
        else:
            pairs = []
            for item in self.world.items.values():
                index_pk, index_sk = (
                    text_of(item, index.partition_key),
                    text_of(item, index.sort_key),
                )
                if index_pk == pk and index_sk is not None and start_sk <= index_sk <= end_sk:
                    pairs.append((index_sk, item))
            items = [item for _, item in sorted(pairs, key=lambda pair: pair[0])]
        await self._read(len(items))
        if status is not None:
            items = [i for i in items if text_of(i, self.mapping.status_attribute) == status]
        return [self._project(item, projection) for item in items]

    async def query_range_pages(
        self,
        pk: str,
        start_sk: str,
        end_sk: str,
        projection: Sequence[str],
        *,
        index: IndexMap | None = None,
        status: str | None = None,
    ) -> AsyncIterator[list[Item]]:
        # One page: the memory store has no 1 MB response limit.
        yield await self.query_range(pk, start_sk, end_sk, projection, index=index, status=status)

    def _segment_keys(self, segment: int, segments: int) -> list[str]:
        keys = sorted({pk for pk, _ in self.world.items})
        return [pk for i, pk in enumerate(keys) if i % segments == segment]

    async def scan_partition_keys_page(
        self,
        segment: int,
        segments: int,
        start_key: Cursor | None,
        limit: int | None = None,
    ) -> ScanPage:
        keys = self._segment_keys(segment, segments)
        offset = int(start_key["offset"]) if start_key else 0
        end = len(keys) if limit is None else min(len(keys), offset + limit)
        units = await self._read(end - offset)
        resume = {"offset": end} if end < len(keys) else None
        return ScanPage(set(keys[offset:end]), resume, units)

    async def indexes(self) -> list[IndexInfo]:
        if self.world.indexes is not None:
            return list(self.world.indexes)
        index = self.mapping.pending_index
        if index is None:
            return []
        schema = {"HASH": index.partition_key, "RANGE": index.sort_key}
        return [IndexInfo(index.name, "ACTIVE", schema)]


@dataclass
class MemoryState:
    """`DiscoveryState` in memory."""

    partitions: dict[str, tuple[str, ...]] = field(default_factory=dict)
    runs: list[datetime] = field(default_factory=list)
    cursors: dict[int, DiscoveryCursor] = field(default_factory=dict)

    async def remembered_partitions(self) -> list[tuple[str, ...]]:
        return list(self.partitions.values())

    async def remember_partitions(self, found: Iterable[tuple[str, Sequence[str]]]) -> None:
        for pk, values in found:
            self.partitions.setdefault(pk, tuple(values))

    async def last_discovery(self) -> datetime | None:
        return max(self.runs, default=None)

    async def discovery_cursors(self) -> list[DiscoveryCursor]:
        return [self.cursors[s] for s in sorted(self.cursors)]

    async def save_cursor(self, cursor: DiscoveryCursor) -> None:
        self.cursors[cursor.segment] = replace(cursor)

    async def finish_discovery_pass(
        self, partition_keys: int, read_units: float, finished_at: datetime
    ) -> None:
        self.cursors.clear()
        self.runs.append(finished_at)
