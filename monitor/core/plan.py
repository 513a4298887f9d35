"""Repair planning (CONTRACT §8): findings and the phase in, the actions that fix them out.

Pure: no store is read here. The authoritative store follows the phase — SQL up to
`dynamo_reads`, DynamoDB in `dynamo_only`, when SQL is no longer written and repair writes only
DynamoDB. One repairing action per record (the strongest its findings call for); a `leave`
says why a finding is not repaired here.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from monitor.core.figures import Figures
from monitor.core.mapping import StatusValues
from monitor.core.phases import Phase
from monitor.model import Finding, FindingKind, KeyValue


class Action(enum.StrEnum):
    PUT_FROM_SQL = "put_from_sql"
    COMPLETE_COMMIT = "complete_commit"
    ALIGN_STATUS = "align_status"
    REWRITE_FROM_SQL = "rewrite_from_sql"
    COPY_TO_SQL = "copy_to_sql"
    COMPENSATE_ITEM = "compensate_item"
    DELETE_ITEM = "delete_item"
    LEAVE = "leave"


#: When a record's findings call for several actions, the first in this order is taken: it
#: fixes what the later ones would (a rewrite from SQL also aligns the status).
_STRENGTH = (
    Action.PUT_FROM_SQL,
    Action.REWRITE_FROM_SQL,
    Action.COMPLETE_COMMIT,
    Action.ALIGN_STATUS,
    Action.COPY_TO_SQL,
    Action.DELETE_ITEM,
    Action.COMPENSATE_ITEM,
)

Side = Literal["sql", "dynamodb"]


class _Act(Protocol):
    """`act` inside `_plan_one`: a PlannedAction for the finding at hand."""

    def __call__(self, action: Action, reason: str, **extra: object) -> PlannedAction: ...


@dataclass(frozen=True, slots=True)
class PlannedAction:
    action: Action
    key: KeyValue
    finding: FindingKind
    reason: str
    pk: str | None = None
    sk: str | None = None
    #: The statuses the finding saw (None: absent).
    sql_status: str | None = None
    dynamodb_status: str | None = None
    #: align_status: the store written and the status it gets.
    side: Side | None = None
    target_status: str | None = None


def plan_repairs(
    findings: Iterable[Finding],
    phase: Phase,
    statuses: StatusValues,
    *,
    dynamodb_only: Literal["compensate", "delete"] = "compensate",
    sql_gap: frozenset[KeyValue] = frozenset(),
    copy_back: bool = True,
) -> tuple[PlannedAction, ...]:
    """The repair plan: at most one repairing action per key, plus `leave` for the rest.

    `sql_gap` holds the keys of DynamoDB-only records written while the phase was
    `dynamo_only` (SQL not written: a rollback's gap); they are copied back to SQL, not
    compensated — when `copy_back` (the item can be turned into a row), else left.
    Ordered by key (then action), so the same findings give the same plan.
    """
    repairs: dict[KeyValue, PlannedAction] = {}
    leaves: dict[tuple[KeyValue, FindingKind, str], PlannedAction] = {}
    for finding in sorted(findings, key=_finding_order):
        planned = _plan_one(finding, phase, statuses, dynamodb_only, sql_gap, copy_back)
        if planned.action is Action.LEAVE:
            leaves.setdefault((finding.key, finding.kind, planned.reason), planned)
            continue
        held = repairs.get(finding.key)
        if held is None or _STRENGTH.index(planned.action) < _STRENGTH.index(held.action):
            repairs[finding.key] = planned
    actions = [*repairs.values(), *leaves.values()]
    return tuple(sorted(actions, key=lambda a: (_sort_key(a.key), a.action, a.finding)))


def _finding_order(f: Finding) -> tuple[str, ...]:
    """A total order, so that duplicate or conflicting findings plan the same in any order."""
    return tuple(
        "" if v is None else str(v)
        for v in (f.kind, f.sql_status, f.dynamodb_status, f.field, f.pk, f.sk, f.rule, f.detail)
    )


def _sort_key(key: KeyValue) -> tuple[int, int, str]:
    return (0, key, "") if isinstance(key, int) else (1, 0, key)


def _plan_one(
    f: Finding,
    phase: Phase,
    statuses: StatusValues,
    dynamodb_only: Literal["compensate", "delete"],
    sql_gap: frozenset[KeyValue] = frozenset(),
    copy_back: bool = True,
) -> PlannedAction:
    def act(action: Action, reason: str, **extra: object) -> PlannedAction:
        return PlannedAction(
            action,
            f.key,
            f.kind,
            reason,
            pk=f.pk,
            sk=f.sk,
            sql_status=f.sql_status,
            dynamodb_status=f.dynamodb_status,
            **extra,  # type: ignore[arg-type]
        )

    final = statuses.final
    pending = statuses.pending
    if f.kind is FindingKind.MISSING_IN_DYNAMODB:
        if phase is Phase.SQL_ONLY:
            return act(Action.LEAVE, "DynamoDB is not written in sql_only")
        if f.sql_status == pending:
            return act(Action.PUT_FROM_SQL, "pending in SQL past grace, no item")
        if f.sql_status == statuses.committed:
            return act(Action.PUT_FROM_SQL, "committed in SQL, no item")
        return act(Action.LEAVE, f"SQL status {f.sql_status!r}: nothing to copy")
    if f.kind is FindingKind.MISSING_IN_SQL:
        if phase is Phase.DYNAMO_ONLY:
            return act(Action.LEAVE, "SQL is no longer written in dynamo_only")
        if f.dynamodb_status in (statuses.compensated, statuses.failed):
            return act(Action.LEAVE, "the item is already final and absent from SQL: agrees")
        if f.key in sql_gap:
            if not copy_back:
                return act(
                    Action.LEAVE,
                    "written to DynamoDB alone in dynamo_only (the rollback's gap); copying it"
                    " back to SQL needs the default data model",
                )
            return act(
                Action.COPY_TO_SQL,
                "written to DynamoDB alone in dynamo_only (the rollback's gap): copy it back",
                side="sql",
            )
        if dynamodb_only == "delete":
            return act(Action.DELETE_ITEM, "item with no SQL row past grace; deletion configured")
        return act(
            Action.COMPENSATE_ITEM,
            "item with no SQL row past grace: the transaction did not happen in the system"
            " of record",
            side="dynamodb",
            target_status=statuses.compensated,
        )
    if f.kind is FindingKind.STUCK_PENDING:
        if phase is Phase.DYNAMO_ONLY:
            return act(
                Action.ALIGN_STATUS,
                "pending past grace; SQL is no longer written, the item is committed",
                side="dynamodb",
                target_status=statuses.committed,
            )
        return act(Action.COMPLETE_COMMIT, "pending in both stores past grace: finish the commit")
    if f.kind is FindingKind.STATUS_DIVERGENCE:
        return _align(act, f, phase, pending, final)
    if f.kind in (FindingKind.FIELD_MISMATCH, FindingKind.INDEX_INTEGRITY):
        if not phase.sql_is_authoritative:
            return act(
                Action.LEAVE,
                "DynamoDB is authoritative and SQL is no longer written: the SQL copy is stale",
            )
        what = "field" if f.kind is FindingKind.FIELD_MISMATCH else "index attribute"
        return act(Action.REWRITE_FROM_SQL, f"{what} {f.field or ''} differs: rewrite from SQL")
    if f.kind is FindingKind.INVALID_DATA:
        return act(
            Action.LEAVE,
            "invalid data is not repairable here (it is what the application wrote);"
            " fix it at the source",
        )
    return act(Action.LEAVE, "a business rule on the data as written; not a dual-write fault")


def _align(
    act: _Act,
    f: Finding,
    phase: Phase,
    pending: str,
    final: frozenset[str],
) -> PlannedAction:
    sql, dynamo = f.sql_status, f.dynamodb_status
    if sql == pending and dynamo in final:
        side: Side = "sql"
        target = dynamo
        reason = "final in DynamoDB, pending in SQL: finish the SQL side"
    elif dynamo == pending and sql in final:
        side, target = "dynamodb", sql
        reason = "final in SQL, pending in DynamoDB: finish the DynamoDB side"
    elif sql in final and dynamo in final:
        if phase.sql_is_authoritative:
            side, target = "dynamodb", sql
            reason = "both final and different: align DynamoDB to SQL (authoritative)"
        else:
            side, target = "sql", dynamo
            reason = "both final and different: DynamoDB is authoritative"
    else:
        return act(Action.LEAVE, f"unknown statuses {sql!r} / {dynamo!r}: not repaired")
    if side == "sql" and not phase.writes_sql:
        return act(Action.LEAVE, "SQL is no longer written in dynamo_only")
    return act(Action.ALIGN_STATUS, reason, side=side, target_status=target)


@dataclass(frozen=True, slots=True, kw_only=True)
class RepairFigures(Figures):
    """The `summary` of CONTRACT §8: a repair run's actions by result."""

    planned: int = 0
    applied: int = 0
    skipped: int = 0
    failed: int = 0
    left: int = 0


def repair_figures(results: Sequence[str]) -> RepairFigures:
    """The figures of the actions' results (`leave` counted as left)."""
    counts = {"planned": 0, "applied": 0, "skipped": 0, "failed": 0, "left": 0}
    for result in results:
        if result == "left":
            counts["left"] += 1
        elif result == "skipped_changed":
            counts["skipped"] += 1
        elif result in counts:
            counts[result] += 1
    return RepairFigures(**counts)


def summarize(results: Sequence[str]) -> dict[str, int]:
    """The `summary` of CONTRACT §8 from the actions' results (`leave` counted as left)."""
    return repair_figures(results).to_summary()
