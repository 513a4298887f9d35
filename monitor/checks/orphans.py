"""`check orphans`: records pending in either store, judged against their counterparts.

Cost follows what is pending, not the table (SEED-REVIEW rows 4–6):

- SQL: the rows pending in the window, through the partial index `<table>_dwm_pending`; their
  DynamoDB counterparts by BatchGetItem of 100, projected to key, status and location.
- DynamoDB: the sparse pending GSI, one Query per index partition (one per day for
  `PENDING#{date}`) with its sort key BETWEEN the window's bounds; the SQL rows of items the SQL
  side has not judged by `key = ANY($1)`, one query per batch.

Without a usable pending index the window is queried on the base table, partition by partition,
filtered on the status: that costs the window, and the report warns about it.

The window ends at `now - grace`, so a write in flight is never judged. A divergent pair is read
once more before it is reported, because a commit landing between the two reads of a record
looks exactly like a divergence.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

import anyio

from monitor.checks.orphan_reads import (
    confirm_divergences,
    for_each_pending_page,
    observe_sql_rows,
    orphan_projection,
    rows_by_keys,
)
from monitor.checks.reporting import build_report
from monitor.checks.spec import CheckRequest, CheckSpec, Gauge, Points, figure_gauge
from monitor.config import Settings, Threshold
from monitor.core.alertmap import Figure
from monitor.core.figures import Figures
from monitor.core.item import Item
from monitor.core.mapping import TableMapping
from monitor.core.orphans import ORPHAN_KINDS as _ORPHAN_KINDS
from monitor.core.orphans import (
    Observed,
    counterparts,
    figures,
    observe_items,
    reconcile,
)
from monitor.core.pending_index import index_problem
from monitor.core.thresholds import within_thresholds
from monitor.core.windows import align_down
from monitor.model import CheckReport, Finding, FindingKind, KeyValue, Window
from monitor.stores.ports import DiscoveryState, SourceStore, TargetStore

if TYPE_CHECKING:
    from monitor.checks.context import CheckContext

log = logging.getLogger(__name__)

#: Pending SQL rows judged per step (keyset pages): memory holds a batch, never the window.
PENDING_BATCH = 1000


@dataclass(frozen=True, slots=True, kw_only=True)
class OrphansFigures(Figures):
    """The summary of `check orphans`. Ratios are in [0, 1]; an empty window reads as all good."""

    records: int
    sql_pending: int
    dynamodb_pending: int
    #: Findings by kind: the four orphan kinds, then unreadable items.
    missing_in_dynamodb: int
    missing_in_sql: int
    status_divergence: int
    stuck_pending: int
    invalid_data: int
    orphans: int
    orphan_ratio: float
    write_success: float
    transaction_completion: float
    #: Where pending DynamoDB items were read: "index <name>" or "base table".
    pending_source: str
    read_units: float

    def orphans_of(self, kind: FindingKind) -> int:
        """The findings of one orphan kind."""
        counts = {
            FindingKind.MISSING_IN_DYNAMODB: self.missing_in_dynamodb,
            FindingKind.MISSING_IN_SQL: self.missing_in_sql,
            FindingKind.STATUS_DIVERGENCE: self.status_divergence,
            FindingKind.STUCK_PENDING: self.stuck_pending,
        }
        return counts[kind]


@dataclass(slots=True)
class _Reads:
    #: Findings of the SQL direction (rows pending in SQL) and of the DynamoDB direction.
    sql_findings: list[Finding] = field(default_factory=list)
    dynamodb_findings: list[Finding] = field(default_factory=list)
    unreadable_items: list[Finding] = field(default_factory=list)
    sql_pending: int = 0
    dynamodb_pending: int = 0
    status_counts: dict[str | None, int] = field(default_factory=dict)


async def run_orphans(
    settings: Settings,
    sql: SourceStore,
    dynamo: TargetStore,
    state: DiscoveryState | None,
    window: Window,
    now: datetime,
    *,
    strict: bool = False,
) -> CheckReport:
    mapping = sql.mapping
    statuses = mapping.status_values
    step = mapping.sort_resolution
    window = Window(align_down(window.start, step), align_down(window.end, step), window.clamped)
    warnings: list[str] = []

    problem = index_problem(mapping, await dynamo.indexes())
    index = mapping.pending_index if problem is None else None
    if problem is not None:
        warnings.append(
            f"{problem}; pending DynamoDB items are read by querying the window on the base"
            " table, which costs the whole window"
        )
        if mapping.pending_index is not None:
            log.warning("orphans: pending index unusable, querying the base table: %s", problem)

    reads = _Reads()

    async def read_sql_side() -> None:
        # One batch of pending rows at a time: memory is a batch, not the window's pending rows.
        async for batch in sql.pending_batches(window.start, window.end, PENDING_BATCH):
            rows = observe_sql_rows(mapping, batch)
            reads.sql_pending += len(rows)
            locations = [row.location for row in rows if row.location is not None]
            items = await dynamo.batch_get(locations, orphan_projection(mapping))
            found = counterparts(mapping, items)
            reads.sql_findings += reconcile(rows, found, [], {}, statuses)

    async def judge_items(items: list[Item]) -> None:
        observed, unreadable = observe_items(mapping, items)
        reads.unreadable_items += unreadable
        # A pending-index entry whose status is already final is stale: `quality` reports it.
        pending = [i for i in observed if i.problem is not None or i.status == statuses.pending]
        reads.dynamodb_pending += len(pending)
        keys = list(dict.fromkeys(i.key for i in pending))
        sql_rows, untyped, judged_by_sql = await rows_by_keys(sql, mapping, keys, window)
        # A record whose SQL row is pending in the window is judged by the SQL direction.
        rest = [i for i in pending if i.key not in judged_by_sql]
        typed = [i for i in rest if i.key not in untyped]
        reads.dynamodb_findings += reconcile([], {}, typed, sql_rows, statuses)
        reads.dynamodb_findings += _untyped_findings(mapping, rest, untyped)

    async def read_dynamodb_side() -> None:
        await for_each_pending_page(
            dynamo, sql, state, mapping, window, index, now, warnings, judge_items
        )

    async def count_window() -> None:
        reads.status_counts = await sql.status_counts(window.start, window.end)

    async with anyio.create_task_group() as group:
        group.start_soon(read_sql_side)
        group.start_soon(read_dynamodb_side)
        group.start_soon(count_window)

    findings = reads.sql_findings + _not_judged(reads.dynamodb_findings, reads.sql_findings)
    findings = await confirm_divergences(sql, dynamo, mapping, findings)
    findings += reads.unreadable_items
    findings.sort(key=lambda f: (f.kind, str(f.key)))

    numbers = figures(findings, reads.status_counts, statuses)
    thresholds = settings.alerts.thresholds
    within = (
        _within(numbers.orphan_ratio, thresholds.orphaned_records)
        and _within(numbers.write_success, thresholds.write_success_rate)
        and _within(numbers.transaction_completion, thresholds.transaction_completion)
    )
    by_kind = numbers.by_kind
    summary = OrphansFigures(
        records=numbers.records,
        sql_pending=reads.sql_pending,
        dynamodb_pending=reads.dynamodb_pending + len(reads.unreadable_items),
        missing_in_dynamodb=by_kind[FindingKind.MISSING_IN_DYNAMODB],
        missing_in_sql=by_kind[FindingKind.MISSING_IN_SQL],
        status_divergence=by_kind[FindingKind.STATUS_DIVERGENCE],
        stuck_pending=by_kind[FindingKind.STUCK_PENDING],
        invalid_data=by_kind[FindingKind.INVALID_DATA],
        orphans=numbers.orphans,
        orphan_ratio=round(numbers.orphan_ratio, 9),
        write_success=round(numbers.write_success, 9),
        transaction_completion=round(numbers.transaction_completion, 9),
        pending_source="base table" if index is None else f"index {index.name}",
        read_units=round(dynamo.read_units, 3),
    )
    return build_report(
        "orphans",
        mapping,
        window,
        within_thresholds=within,
        strict=strict,
        figures=summary,
        findings=findings,
        warnings=warnings,
    )


def _not_judged(findings: Sequence[Finding], judged: Sequence[Finding]) -> list[Finding]:
    """The DynamoDB direction's findings for records the SQL direction has not already reported
    (a row committed between the two directions' reads would otherwise be reported twice)."""
    seen = {f.key for f in judged}
    out: list[Finding] = []
    for finding in findings:
        if finding.key not in seen:
            seen.add(finding.key)
            out.append(finding)
    return out


def _untyped_findings(
    mapping: TableMapping, items: Sequence[Observed], untyped: set[KeyValue]
) -> list[Finding]:
    """Items whose key has a type the SQL key column cannot hold: one finding per key."""
    chosen: dict[KeyValue, Observed] = {}
    for item in items:
        if item.key in untyped:
            chosen.setdefault(item.key, item)
    return [
        Finding(
            FindingKind.INVALID_DATA,
            item.key,
            pk=item.pk,
            sk=item.sk,
            dynamodb_status=item.status,
            field=mapping.key_attribute,
            detail=f"the SQL key column {mapping.key_column} cannot hold a key of this type",
        )
        for item in chosen.values()
    ]


def _within(ratio: float, threshold: Threshold) -> bool:
    return within_thresholds(
        ratio * 100, alert_below=threshold.alert_below, alert_above=threshold.alert_above
    )


async def orphans_check(context: CheckContext, request: CheckRequest) -> CheckReport:
    config = context.settings.checks.orphans
    # The window ends at now - grace: younger records are in flight and never judged.
    window = request.window(config.window, config.grace, context.settings.checks.max_window)
    return await run_orphans(
        context.settings,
        context.sql,
        context.dynamo,
        context.state,
        window,
        request.now,
        strict=request.strict,
    )


def _orphan_counts(figures: OrphansFigures) -> Points:
    """`dualwrite.orphans{kind}`: every orphan kind, 0 when the run found none."""
    return [({"kind": str(kind)}, float(figures.orphans_of(kind))) for kind in _ORPHAN_KINDS]


#: Findings whose keys an orphans alert lists, most telling kind first.
_EXAMPLES = (
    FindingKind.STUCK_PENDING,
    FindingKind.STATUS_DIVERGENCE,
    FindingKind.MISSING_IN_DYNAMODB,
    FindingKind.MISSING_IN_SQL,
)

SPEC = CheckSpec(
    name="orphans",
    section="orphans",
    run=orphans_check,
    figures=OrphansFigures,
    rules={
        "orphaned_records": Figure(
            lambda f: f.orphan_ratio, kinds=_EXAMPLES, title="Orphaned records"
        ),
        "write_success_rate": Figure(
            lambda f: f.write_success, kinds=_EXAMPLES, title="Write success rate"
        ),
        "transaction_completion": Figure(
            lambda f: f.transaction_completion, kinds=_EXAMPLES, title="Transaction completion"
        ),
    },
    gauges=(
        Gauge("dualwrite.orphans", _orphan_counts),
        figure_gauge("dualwrite.orphan_ratio", lambda f: f.orphan_ratio),
        figure_gauge("dualwrite.write_success", lambda f: f.write_success),
        figure_gauge("dualwrite.transaction_completion", lambda f: f.transaction_completion),
    ),
    records_checked=lambda f: f.records,
)
