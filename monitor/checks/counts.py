"""`check counts`: reconcile the settled window slice by slice and name every missing key.

The window is cut into partition value x time-range slices of about `slice_records` records
(ARCHITECTURE decision 3). For each slice PostgreSQL returns `(key, status)` through an index
range scan and DynamoDB answers one Query with `SK BETWEEN`, projecting key, status and sort key;
the pure core diffs the two small sorted lists, and only the few SQL records a finding names are
read again, by key, for their sort key. Slices run concurrently (bounded), so memory is
O(slice x concurrency), not O(window). The slicing, reading and diffing are
`monitor.checks.slices` (which `verify` shares); this module is the check around them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import anyio

from monitor.checks.partitions import Beside, discover_partitions, remembered_partitions
from monitor.checks.reporting import build_report
from monitor.checks.slices import (
    Tally,
    TallyFigures,
    plan_slices,
    reconcile_slices,
    tally_figures,
    unplanned_slices,
)
from monitor.checks.spec import CheckRequest, CheckSpec, Gauge, Points, Progress, figure_gauge
from monitor.config import Settings
from monitor.core.alertmap import Figure
from monitor.core.figures import Figures, spread
from monitor.core.ruleset import COUNT_VARIANCE
from monitor.core.windows import align_down
from monitor.model import CheckReport, FindingKind, Window
from monitor.stores.ports import DiscoveryState, SourceStore, TargetStore

if TYPE_CHECKING:
    from monitor.checks.context import CheckContext


@dataclass(frozen=True, slots=True, kw_only=True)
class CountsFigures(Figures):
    """The summary of `check counts`."""

    tally: TallyFigures = spread()
    slices: int
    partitions: int
    read_units: float
    #: When partition discovery last finished a pass (ISO 8601, `Z`), None before the first.
    discovery_last_run: str | None
    #: Share of the discovery pass in progress already scanned (None: no pass in progress).
    discovery_progress: float | None
    discovery_coverage: float


async def run_counts(
    settings: Settings,
    sql: SourceStore,
    dynamo: TargetStore,
    state: DiscoveryState | None,
    window: Window,
    now: datetime,
    *,
    strict: bool = False,
    progress: Progress | None = None,
) -> CheckReport:
    mapping = sql.mapping
    config = settings.checks.counts
    step = mapping.sort_resolution
    window = Window(align_down(window.start, step), align_down(window.end, step), window.clamped)
    known = await remembered_partitions(state, mapping)
    nameless = 0

    async def count_nameless() -> None:
        nonlocal nameless
        nameless = await sql.null_partition_count(window.start, window.end)

    async with anyio.create_task_group() as group:
        group.start_soon(count_nameless)
        slices = await plan_slices(sql, mapping, window, known, config.slice_records)
    warnings: list[str] = []
    if nameless:
        warnings.append(
            f"{nameless} SQL rows have a NULL partition column and cannot exist in DynamoDB"
        )

    tally = Tally()
    limiter = anyio.CapacityLimiter(settings.dynamodb.max_concurrency)

    def slice_done() -> None:
        if progress is not None:
            progress(tally.slices_done, len(slices), tally.sql + tally.dynamodb)

    # Discovery runs beside the slices, never before them (a first pass over a large table
    # would hold the answer back), paced by their reads and stopped when they are done;
    # partitions it finds that no slice covers are read after it.
    slices_done = anyio.Event()
    planned = len(slices)
    beside = Beside(
        slices_done,
        lambda: dynamo.read_units,
        lambda: min(1.0, tally.slices_done / planned) if planned else 1.0,
    )

    async def run_planned() -> None:
        await reconcile_slices(sql, dynamo, list(slices), tally, limiter, slice_done)
        slices_done.set()

    async with anyio.create_task_group() as group:
        group.start_soon(run_planned)
        discovery = await discover_partitions(
            dynamo, state, mapping, now, beside=beside, remembered=known
        )
        late = unplanned_slices(mapping, window, discovery.values, {p.pk for p in slices})
        slices += late
        group.start_soon(reconcile_slices, sql, dynamo, late, tally, limiter, slice_done)
    warnings[:0] = discovery.warnings

    findings = sorted(tally.findings, key=lambda f: (f.kind, str(f.key)))
    counted, within = tally_figures(settings, tally, findings)
    figures = CountsFigures(
        tally=counted,
        slices=len(slices),
        partitions=len({s.partition for s in slices}),
        read_units=round(dynamo.read_units, 3),
        discovery_last_run=None
        if discovery.last_run is None
        else discovery.last_run.isoformat().replace("+00:00", "Z"),
        discovery_progress=discovery.progress,
        discovery_coverage=round(discovery.coverage, 4),
    )
    return build_report(
        "counts",
        mapping,
        window,
        within_thresholds=within,
        strict=strict,
        figures=figures,
        findings=findings,
        warnings=warnings,
    )


async def counts_check(context: CheckContext, request: CheckRequest) -> CheckReport:
    config = context.settings.checks.counts
    window = request.window(config.window, config.settle, context.settings.checks.max_window)
    return await run_counts(
        context.settings,
        context.sql,
        context.dynamo,
        context.state,
        window,
        request.now,
        strict=request.strict,
        progress=request.progress,
    )


def _variance(figures: CountsFigures) -> Points:
    # CONTRACT §5: a ratio, abs(sql - dynamodb) / max(sql, 1) (the summary's is in percent).
    sql, dynamo = figures.tally.sql_count, figures.tally.dynamodb_count
    return [({}, abs(sql - dynamo) / max(sql, 1.0))]


_MISSING = (FindingKind.MISSING_IN_DYNAMODB, FindingKind.MISSING_IN_SQL)

SPEC = CheckSpec(
    name="counts",
    section="counts",
    run=counts_check,
    figures=CountsFigures,
    needs_sql_writes="it compares the stores window by window (every new record would be"
    " missing_in_sql)",
    rules={
        "data_consistency": Figure(
            lambda f: f.tally.consistency, kinds=_MISSING, title="Data consistency"
        ),
        # `variance_percent` is in percent; the rule's threshold is a ratio.
        COUNT_VARIANCE: Figure(
            lambda f: f.tally.variance_percent, scale=0.01, kinds=_MISSING, title="Count variance"
        ),
    },
    gauges=(
        figure_gauge("dualwrite.consistency", lambda f: f.tally.consistency),
        figure_gauge("dualwrite.records", lambda f: f.tally.sql_count, store="sql"),
        figure_gauge("dualwrite.records", lambda f: f.tally.dynamodb_count, store="dynamodb"),
        Gauge("dualwrite.count_variance", _variance),
    ),
    records_checked=lambda f: f.tally.sql_count + f.tally.dynamodb_count,
)
