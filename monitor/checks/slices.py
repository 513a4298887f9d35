"""Reconciling a range slice by slice: plan the slices from SQL counts, read both sides of each
(bounded concurrency), diff them into a `Tally` naming every missing key, and turn the tally
into counts-shaped figures. `check counts` runs it over one window, `verify` over many.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import anyio

from monitor.config import Settings
from monitor.core.figures import Figures
from monitor.core.mapping import Slice, TableMapping
from monitor.core.reconcile import diff_maps
from monitor.core.thresholds import within_thresholds
from monitor.core.windows import align_down
from monitor.model import Finding, FindingKind, KeyValue, Window
from monitor.stores.ports import SliceRead, SourceStore, TargetStore

_Piece = TypeVar("_Piece")


@dataclass(frozen=True, slots=True, kw_only=True)
class TallyFigures(Figures):
    """The counts-shaped figures of a reconciled range (`counts`, and `verify` over many windows)."""

    sql_count: int
    dynamodb_count: int
    variance_percent: float
    missing_in_dynamodb: int
    missing_in_sql: int
    status_divergence: int
    invalid_data: int
    agreed_absent: int
    #: Keys present in both stores / keys present in either (1.0 for an empty window).
    consistency: float
    threshold_percent: float


@dataclass(slots=True)
class Tally:
    """What the slices of a window (or of many windows, for `verify`) found."""

    sql: int = 0
    dynamodb: int = 0
    matched: int = 0
    #: Abandoned (Compensated/Failed) in one store and absent from the other: they agree.
    agreed_absent: int = 0
    slices_done: int = 0
    findings: list[Finding] = field(default_factory=list)


async def plan_slices(
    sql: SourceStore,
    mapping: TableMapping,
    window: Window,
    extra_partitions: frozenset[tuple[str, ...]],
    slice_records: int,
) -> list[Slice]:
    """Cut the window into slices of about `slice_records` records, by SQL counts.

    The cut points of a bucket's partitions are asked for at once (each is a percentile over
    one partition's range: one after another, they would hold every slice back).
    """
    slices: list[Slice] = []
    step = mapping.sort_resolution
    for bucket_start, bucket_end in mapping.buckets(window.start, window.end):
        counts = dict(await sql.partition_counts(bucket_start, bucket_end))
        partitions = sorted(set(counts) | extra_partitions)
        pieces = {p: max(1, math.ceil(counts.get(p, 0) / slice_records)) for p in partitions}
        cuts = await _cut_points(sql, pieces, bucket_start, bucket_end)
        for partition in partitions:
            pk = mapping.partition_key_for(partition, bucket_start)
            inner = sorted({align_down(c, step) for c in cuts[partition]})
            edges = [bucket_start, *inner, bucket_end]
            slices += [
                Slice(partition, pk, lo, hi)
                for lo, hi in zip(edges, edges[1:], strict=False)
                if lo < hi
            ]
    return slices


async def _cut_points(
    sql: SourceStore, pieces: Mapping[tuple[str, ...], int], start: datetime, end: datetime
) -> dict[tuple[str, ...], list[datetime]]:
    """Each partition's cut points over `[start, end)`, asked for concurrently."""
    cuts: dict[tuple[str, ...], list[datetime]] = {}

    async def cut(partition: tuple[str, ...]) -> None:
        cuts[partition] = await sql.cut_points(partition, start, end, pieces[partition])

    async with anyio.create_task_group() as group:
        for partition in pieces:
            group.start_soon(cut, partition)
    return cuts


def unplanned_slices(
    mapping: TableMapping,
    window: Window,
    partitions: frozenset[tuple[str, ...]],
    planned_pks: set[str],
) -> list[Slice]:
    """A whole-bucket slice for each partition key no planned slice reads.

    Such a partition has no SQL rows in that bucket (or it would have been planned), so its
    slice is as small as what DynamoDB alone holds there.
    """
    late = []
    for lo, hi in mapping.buckets(window.start, window.end):
        for partition in sorted(partitions):
            pk = mapping.partition_key_for(partition, lo)
            if pk not in planned_pks:
                late.append(Slice(partition, pk, lo, hi))
    return late


def tally_figures(
    settings: Settings, tally: Tally, findings: Sequence[Finding]
) -> tuple[TallyFigures, bool]:
    """The figures of a counts-shaped summary, and whether they are within their thresholds."""
    missing_dynamo = sum(f.kind is FindingKind.MISSING_IN_DYNAMODB for f in findings)
    missing_sql = sum(f.kind is FindingKind.MISSING_IN_SQL for f in findings)
    either = tally.matched + missing_dynamo + missing_sql
    consistency = tally.matched / either if either else 1.0
    variance = abs(tally.sql - tally.dynamodb) / max(tally.sql, 1) * 100
    config = settings.checks.counts
    threshold = settings.alerts.thresholds.data_consistency
    within = within_thresholds(
        variance, alert_above=config.threshold_percent
    ) and within_thresholds(consistency * 100, alert_below=threshold.alert_below)
    figures = TallyFigures(
        sql_count=tally.sql,
        dynamodb_count=tally.dynamodb,
        variance_percent=round(variance, 6),
        missing_in_dynamodb=missing_dynamo,
        missing_in_sql=missing_sql,
        status_divergence=sum(f.kind is FindingKind.STATUS_DIVERGENCE for f in findings),
        invalid_data=sum(f.kind is FindingKind.INVALID_DATA for f in findings),
        agreed_absent=tally.agreed_absent,
        consistency=round(consistency, 9),
        threshold_percent=config.threshold_percent,
    )
    return figures, within


async def reconcile_slices(
    sql: SourceStore,
    dynamo: TargetStore,
    slices: Sequence[Slice],
    tally: Tally,
    limiter: anyio.CapacityLimiter,
    on_slice: Callable[[], None] | None = None,
) -> None:
    """Reconcile `slices` concurrently (at most `limiter` at once) into `tally`."""

    async def work(piece: Slice) -> None:
        await _reconcile_slice(sql, dynamo, sql.mapping, piece, tally)

    await run_slices(slices, work, tally, limiter, on_slice)


async def run_slices(
    pieces: Sequence[_Piece],
    work: Callable[[_Piece], Awaitable[None]],
    tally: Tally,
    limiter: anyio.CapacityLimiter,
    on_slice: Callable[[], None] | None = None,
) -> None:
    """`work` on every piece concurrently, at most `limiter` at once, each counted when done."""

    async def run(piece: _Piece) -> None:
        async with limiter:
            await work(piece)
        tally.slices_done += 1
        if on_slice is not None:
            on_slice()

    async with anyio.create_task_group() as group:
        for piece in pieces:
            group.start_soon(run, piece)


async def _reconcile_slice(
    sql: SourceStore,
    dynamo: TargetStore,
    mapping: TableMapping,
    piece: Slice,
    tally: Tally,
) -> None:
    lo, hi = mapping.sort_key_bounds(piece.start, piece.end)
    rows: list[tuple[Any, str | None]] = []

    async def read_sql() -> None:
        nonlocal rows
        rows = await sql.slice_key_status(piece.partition, piece.start, piece.end)

    async with anyio.create_task_group() as group:
        group.start_soon(read_sql)
        items = await dynamo.slice_keys(piece.pk, lo, hi)
    await record_slice(sql, mapping, piece, rows, items, tally)


async def record_slice(
    sql: SourceStore,
    mapping: TableMapping,
    piece: Slice,
    rows: Sequence[tuple[Any, str | None]],
    items: SliceRead,
    tally: Tally,
) -> None:
    """Diff one slice's two reads into `tally`, naming every key found on one side only."""
    sql_statuses = dict(rows)
    diff = diff_maps(sql_statuses, items.statuses)
    # Each item, with its sort key; an item repeating a key already read has no SQL row left.
    only_dynamo = [(e, items.sort_keys[e.key]) for e in diff.missing_in_sql] + items.duplicates
    # A transaction that did not happen is absent from one store and abandoned in the other:
    # the stores agree, so it is neither a finding nor counted on either side (CONTRACT §7).
    abandoned = mapping.status_values.abandoned
    agreed_sql = [e for e in diff.missing_in_dynamodb if e.status in abandoned]
    agreed_dynamo = [e for e, _ in only_dynamo if e.status in abandoned]
    diff.missing_in_dynamodb = [e for e in diff.missing_in_dynamodb if e.status not in abandoned]
    only_dynamo = [(e, sk) for e, sk in only_dynamo if e.status not in abandoned]
    tally.agreed_absent += len(agreed_sql) + len(agreed_dynamo)
    tally.sql += len(sql_statuses) - len(agreed_sql)
    tally.dynamodb += items.readable - len(agreed_dynamo) + len(items.invalid)
    tally.matched += diff.matched

    # Sort keys for the few SQL records a finding names: one read by key, not the whole slice.
    named = [e.key for e in diff.missing_in_dynamodb] + [a.key for a, _ in diff.status_divergent]
    sql_rows: dict[KeyValue, Mapping[str, Any]] = {}
    if named:
        fetched = await sql.rows_by_keys(named) or ()
        sql_rows = {row[mapping.key_column]: row for row in fetched}

    def sql_sort_key(key: KeyValue) -> str | None:
        row = sql_rows.get(key)
        return None if row is None else mapping.sort_key_of(row)

    found = tally.findings
    # An unreadable item that still names its record (through its sort key) is that record's
    # counterpart: it is reported once, as invalid_data, not again as missing_in_dynamodb.
    unreadable = {bad.embedded_key for bad in items.invalid if bad.embedded_key is not None}
    for entry in diff.missing_in_dynamodb:
        if entry.key in unreadable:
            continue
        found.append(
            Finding(
                FindingKind.MISSING_IN_DYNAMODB,
                entry.key,
                pk=piece.pk,
                sk=sql_sort_key(entry.key),
                sql_status=entry.status,
            )
        )
    for entry, sk in only_dynamo:
        found.append(
            Finding(
                FindingKind.MISSING_IN_SQL,
                entry.key,
                pk=piece.pk,
                sk=sk,
                dynamodb_status=entry.status,
            )
        )
    for left, right in diff.status_divergent:
        found.append(
            Finding(
                FindingKind.STATUS_DIVERGENCE,
                left.key,
                pk=piece.pk,
                sk=sql_sort_key(left.key),
                sql_status=left.status,
                dynamodb_status=right.status,
            )
        )
    for bad in items.invalid:
        found.append(
            Finding(
                FindingKind.INVALID_DATA,
                bad.label,
                pk=piece.pk,
                sk=bad.sk,
                field=mapping.key_attribute,
                detail=bad.reason,
            )
        )
