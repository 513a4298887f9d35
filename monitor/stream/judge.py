"""One changed record against its counterpart, with the comparators of `check sample` (pure).

The DynamoDB side is the stream's image of the item (None: removed); the SQL side is its row
(None: there is none). Final states that agree are not findings (CONTRACT §7): a record
abandoned (Compensated / Failed) on one side and absent on the other. Both present: the fields
are judged by `judge_pair` (the sample check's verdict), then the statuses: different is
`status_divergence`, both still pending past the grace period is `stuck_pending`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from monitor.core.accuracy import judge_pair
from monitor.core.compare import FieldSpec
from monitor.core.item import Item
from monitor.core.mapping import MappingError, TableMapping
from monitor.model import Finding, FindingKind, KeyValue


def judge_item(
    mapping: TableMapping,
    specs: Sequence[FieldSpec],
    key: KeyValue,
    pk: str,
    sk: str,
    item: Item | None,
    row: Mapping[str, Any] | None,
) -> tuple[Finding, ...]:
    """Findings for one record whose newest item image is `item` and SQL row is `row`."""
    where = {"pk": pk, "sk": sk}
    abandoned = mapping.status_values.abandoned
    try:
        item_status = None if item is None else mapping.status_from_item(item)
    except MappingError as exc:
        detail = f"the item cannot be read: {exc}"
        field = mapping.status_attribute
        return (Finding(FindingKind.INVALID_DATA, key, field=field, detail=detail, **where),)
    if row is None:
        if item is None or item_status in abandoned:
            return ()
        return (Finding(FindingKind.MISSING_IN_SQL, key, dynamodb_status=item_status, **where),)
    try:
        record = mapping.record_from_row(row)
    except MappingError as exc:
        return (
            Finding(
                FindingKind.INVALID_DATA, key, field=mapping.key_column, detail=str(exc), **where
            ),
        )
    if item is None:
        if record.status in abandoned:
            return ()
        return (Finding(FindingKind.MISSING_IN_DYNAMODB, key, sql_status=record.status, **where),)
    findings = list(judge_pair(mapping, specs, record, item).findings)
    statuses = {"sql_status": record.status, "dynamodb_status": item_status, **where}
    if item_status != record.status:
        findings.append(Finding(FindingKind.STATUS_DIVERGENCE, key, **statuses))
    elif record.status == mapping.status_values.pending:
        findings.append(Finding(FindingKind.STUCK_PENDING, key, **statuses))
    return tuple(findings)
