"""Orphans, judged purely: records pending in either store, against their counterparts.

A record is seen from each store as an `Observed` (key, write status, and where its DynamoDB item
lives or should live), or not at all (None). `judge` names what is wrong with such a pair;
`reconcile` runs both directions — SQL-pending rows first, then DynamoDB-pending items the SQL
side did not already judge — so each record is found exactly once. `figures` turns the findings
and the window's SQL counts by status into the ratios of CONTRACT §5.

Nothing here reads a store: the check hands in rows, items and counts and gets values back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from monitor.core.item import Item, item_key_label, text_of
from monitor.core.mapping import (
    MappingError,
    StatusValues,
    TableMapping,
)
from monitor.model import Finding, FindingKind, KeyValue

#: The kinds an orphan finding can have; `invalid_data` is listed beside them, not counted.
ORPHAN_KINDS = (
    FindingKind.MISSING_IN_DYNAMODB,
    FindingKind.MISSING_IN_SQL,
    FindingKind.STATUS_DIVERGENCE,
    FindingKind.STUCK_PENDING,
)

#: (partition key, sort key) of a DynamoDB item.
Location = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Unreadable:
    """Why an attribute of an item cannot be read as its declared type (names, never values)."""

    field: str
    reason: str


@dataclass(frozen=True, slots=True)
class Observed:
    """One store's view of a record. `pk`/`sk` locate its DynamoDB item (or where it should be)."""

    key: KeyValue
    status: str | None
    pk: str | None = None
    sk: str | None = None
    #: Set when the DynamoDB item exists but its status cannot be read.
    problem: Unreadable | None = None

    @property
    def location(self) -> Location | None:
        return None if self.pk is None or self.sk is None else (self.pk, self.sk)


# --- reading rows and items ------------------------------------------------------------------


def observe_rows(mapping: TableMapping, rows: Iterable[Mapping[str, Any]]) -> list[Observed]:
    """SQL rows (key, status and key-template columns) as observations. Raises MappingError."""
    out: list[Observed] = []
    for row in rows:
        record = mapping.record_from_row(row)
        out.append(Observed(record.key, record.status, record.pk, record.sk))
    return out


def read_status(mapping: TableMapping, item: Item) -> str | Unreadable:
    try:
        status = mapping.status_from_item(item)
    except MappingError as exc:
        return Unreadable(mapping.status_attribute, str(exc))
    if status is None:
        return Unreadable(mapping.status_attribute, f"item has no {mapping.status_attribute}")
    return status


def item_location(mapping: TableMapping, item: Item) -> Location | None:
    pk, sk = text_of(item, mapping.partition_key), text_of(item, mapping.sort_key)
    return None if pk is None or sk is None else (pk, sk)


def counterparts(mapping: TableMapping, items: Iterable[Item]) -> dict[Location, str | Unreadable]:
    """Items fetched by location (BatchGetItem) -> their status, or why it cannot be read.

    The key attribute is not needed: the SQL row that asked for the location already has it.
    """
    found: dict[Location, str | Unreadable] = {}
    for item in items:
        location = item_location(mapping, item)
        if location is not None:
            found[location] = read_status(mapping, item)
    return found


def observe_items(
    mapping: TableMapping, items: Iterable[Item]
) -> tuple[list[Observed], list[Finding]]:
    """Pending DynamoDB items as observations; items whose key cannot be read as findings.

    An item with an unreadable key can be neither looked up nor deduplicated, so it is reported
    as `invalid_data` at once rather than dropped.
    """
    observed: list[Observed] = []
    invalid: list[Finding] = []
    for item in items:
        pk, sk = item_location(mapping, item) or (None, None)
        try:
            key = mapping.key_from_item(item)
        except MappingError as exc:
            invalid.append(
                Finding(
                    FindingKind.INVALID_DATA,
                    item_key_label(item.get(mapping.key_attribute)),
                    pk=pk,
                    sk=sk,
                    field=mapping.key_attribute,
                    detail=str(exc),
                )
            )
            continue
        status = read_status(mapping, item)
        if isinstance(status, Unreadable):
            observed.append(Observed(key, None, pk, sk, status))
        else:
            observed.append(Observed(key, status, pk, sk))
    return observed, invalid


# --- judging -----------------------------------------------------------------------------------


def judge(
    sql: Observed | None, dynamodb: Observed | None, statuses: StatusValues
) -> FindingKind | None:
    """What is wrong with a record seen as `sql` and `dynamodb` (None: that store lacks it).

    Only pending records are orphans: a final record missing on one side is for `counts`.
    Two statuses that differ are a divergence whichever they are (a re-read may see Committed
    against Failed); the same status is fine unless it is still pending in both.
    """
    pending = statuses.pending
    if sql is None:
        if dynamodb is None or dynamodb.status != pending:
            return None
        return FindingKind.MISSING_IN_SQL
    if dynamodb is None:
        return FindingKind.MISSING_IN_DYNAMODB if sql.status == pending else None
    if sql.status != dynamodb.status:
        return FindingKind.STATUS_DIVERGENCE
    return FindingKind.STUCK_PENDING if sql.status == pending else None


def finding_for(
    sql: Observed | None, dynamodb: Observed | None, statuses: StatusValues
) -> Finding | None:
    """The finding for one pair, located at the DynamoDB item (or where it should be)."""
    where = dynamodb if dynamodb is not None else sql
    if where is None:
        return None
    key = sql.key if sql is not None else where.key
    sql_status = None if sql is None else sql.status
    if dynamodb is not None and dynamodb.problem is not None:
        return Finding(
            FindingKind.INVALID_DATA,
            key,
            pk=where.pk,
            sk=where.sk,
            sql_status=sql_status,
            field=dynamodb.problem.field,
            detail=dynamodb.problem.reason,
        )
    kind = judge(sql, dynamodb, statuses)
    if kind is None:
        return None
    detail = None
    if kind is FindingKind.MISSING_IN_DYNAMODB and where.location is None:
        detail = "a key-template column is NULL: no DynamoDB key can be built for this row"
    return Finding(
        kind,
        key,
        pk=where.pk,
        sk=where.sk,
        sql_status=sql_status,
        dynamodb_status=None if dynamodb is None else dynamodb.status,
        detail=detail,
    )


def keys_to_look_up(
    sql_pending: Sequence[Observed], dynamodb_pending: Sequence[Observed]
) -> list[KeyValue]:
    """Keys of DynamoDB-pending items the SQL side has not judged: their SQL rows are needed."""
    judged = {row.key for row in sql_pending}
    wanted: dict[KeyValue, None] = {}
    for item in dynamodb_pending:
        if item.key not in judged:
            wanted[item.key] = None
    return list(wanted)


def reconcile(
    sql_pending: Sequence[Observed],
    found_in_dynamodb: Mapping[Location, str | Unreadable],
    dynamodb_pending: Sequence[Observed],
    sql_rows: Mapping[KeyValue, Observed],
    statuses: StatusValues,
) -> list[Finding]:
    """Both directions, each record judged once.

    `sql_pending`: SQL rows pending in the window. `found_in_dynamodb`: the items at their
    locations. `dynamodb_pending`: items pending in the window (an item of the pending index
    whose status is already final is a stale index entry, for `quality`, and is skipped here).
    `sql_rows`: the SQL rows, by key, of the DynamoDB-pending items.
    """
    findings: list[Finding] = []
    judged: set[KeyValue] = set()
    for row in sql_pending:
        if row.key in judged:
            continue
        judged.add(row.key)
        location = row.location
        seen = None if location is None else found_in_dynamodb.get(location)
        item: Observed | None = None
        if location is not None and seen is not None:
            pk, sk = location
            if isinstance(seen, Unreadable):
                item = Observed(row.key, None, pk, sk, seen)
            else:
                item = Observed(row.key, seen, pk, sk)
        found = finding_for(row, item, statuses)
        if found is not None:
            findings.append(found)
    for item in dynamodb_pending:
        if item.key in judged or (item.problem is None and item.status != statuses.pending):
            continue
        judged.add(item.key)
        found = finding_for(sql_rows.get(item.key), item, statuses)
        if found is not None:
            findings.append(found)
    return findings


def rejudge(
    candidate: Finding,
    sql_now: Observed | None,
    dynamodb_now: str | Unreadable | None,
    statuses: StatusValues,
) -> Finding | None:
    """A candidate finding judged again from fresh reads of both sides (None: it healed)."""
    item: Observed | None = None
    if dynamodb_now is not None and candidate.pk is not None and candidate.sk is not None:
        if isinstance(dynamodb_now, Unreadable):
            item = Observed(candidate.key, None, candidate.pk, candidate.sk, dynamodb_now)
        else:
            item = Observed(candidate.key, dynamodb_now, candidate.pk, candidate.sk)
    return finding_for(sql_now, item, statuses)


# --- figures -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrphanRatios:
    """The summary's numbers. Ratios are in [0, 1]; an empty window reads as all good."""

    records: int
    by_kind: Mapping[str, int]
    orphans: int
    orphan_ratio: float
    write_success: float
    transaction_completion: float


def figures(
    findings: Sequence[Finding],
    sql_status_counts: Mapping[str | None, int],
    statuses: StatusValues,
) -> OrphanRatios:
    """The ratios of CONTRACT §5 over the orphan window (see docs/checks.md for the exact terms).

    records  = SQL rows in the window + DynamoDB-only pending records (missing_in_sql)
    orphans  = findings of the four orphan kinds
    Committed in both = SQL rows Committed - orphan findings whose SQL side is Committed
    complete = SQL rows in a final status - orphan findings whose SQL side is final but whose
               DynamoDB side is not (pending or absent)
    """
    by_kind = {str(kind): 0 for kind in (*ORPHAN_KINDS, FindingKind.INVALID_DATA)}
    for finding in findings:
        by_kind[str(finding.kind)] = by_kind.get(str(finding.kind), 0) + 1
    orphan_findings = [f for f in findings if f.kind in ORPHAN_KINDS]
    records = sum(sql_status_counts.values()) + by_kind[str(FindingKind.MISSING_IN_SQL)]
    final = statuses.final
    committed = sql_status_counts.get(statuses.committed, 0) - sum(
        f.sql_status == statuses.committed for f in orphan_findings
    )
    complete = sum(n for status, n in sql_status_counts.items() if status in final) - sum(
        f.sql_status in final and f.dynamodb_status not in final for f in orphan_findings
    )
    return OrphanRatios(
        records=records,
        by_kind=by_kind,
        orphans=len(orphan_findings),
        orphan_ratio=_share(len(orphan_findings), records, empty=0.0),
        write_success=_share(committed, records, empty=1.0),
        transaction_completion=_share(complete, records, empty=1.0),
    )


def _share(part: int, whole: int, *, empty: float) -> float:
    # A record whose two stores disagree on its timestamp may be counted on one side only;
    # clamping keeps such an edge from producing a ratio outside [0, 1].
    if whole <= 0:
        return empty
    return min(1.0, max(0.0, part / whole))
