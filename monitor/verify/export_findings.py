"""What a difference between an export and a snapshot is, whichever engine found it (pure).

DuckDB and the Spark job both join the two sides and hand the rows that differ to this module,
so both name the same findings, as `check counts` names them: the kinds, the keys, the partition
and sort keys, the statuses, and, for an item whose key or status cannot be read, the reason the
mapping (the decoder of the online checks) gives.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from monitor.checks.slices import Tally
from monitor.core.item import item_key_label
from monitor.core.mapping import MappingError, TableMapping
from monitor.model import Finding, FindingKind, KeyValue
from monitor.stores.export_items import decode_json_attributes


@dataclass(slots=True)
class Comparison:
    """The tally and findings of one export comparison, with the counts check's meanings."""

    tally: Tally = field(default_factory=Tally)
    #: Items read from the export (all of them, inside the range or not).
    export_items: int = 0
    #: SQL rows of the range with no partition or sort key (a NULL column).
    keyless: int = 0


@dataclass(frozen=True, slots=True)
class JoinCounts:
    """What an engine counts of its join; `count_into` gives them the counts check's meaning."""

    sql_rows: int
    dynamo_items: int
    #: Abandoned (Compensated/Failed) on one side with no counterpart: they agree.
    agreed_sql: int
    agreed_dynamo: int
    #: SQL rows with no item.
    unmatched_sql: int
    #: Unreadable items of the range (invalid_data findings), counted on the DynamoDB side.
    invalid: int

    def count_into(self, tally: Tally) -> None:
        tally.agreed_absent = self.agreed_sql + self.agreed_dynamo
        tally.sql = self.sql_rows - self.agreed_sql
        tally.dynamodb = self.dynamo_items - self.agreed_dynamo + self.invalid
        tally.matched = self.sql_rows - self.unmatched_sql


@dataclass(slots=True)
class SlowItems:
    """Items the engine's fast path could not read, decoded by the mapping."""

    #: (key, status, pk, sk) of those that are readable after all (an N such as "5.002E3").
    readable: list[tuple[KeyValue, str | None, str | None, str | None]] = field(
        default_factory=list
    )
    invalid: list[Finding] = field(default_factory=list)
    #: Keys that unreadable items still name through their sort key: their SQL row is not
    #: missing in DynamoDB, it has an unreadable counterpart (reported once, as invalid_data).
    unreadable: set[KeyValue] = field(default_factory=set)


def decode_slow(
    mapping: TableMapping,
    rows: Iterable[tuple[str | None, str | None, str | None, str | None]],
) -> SlowItems:
    """(pk, sk, key attribute JSON, status attribute JSON) of each slow item, decoded."""
    out = SlowItems()
    for pk, sk, key_raw, status_raw in rows:
        item = decode_json_attributes(
            {mapping.key_attribute: key_raw, mapping.status_attribute: status_raw}
        )
        try:
            out.readable.append(
                (mapping.key_from_item(item), mapping.status_from_item(item), pk, sk)
            )
        except MappingError as exc:
            embedded = None if sk is None else mapping.key_from_sort_key(sk)
            if embedded is not None:
                out.unreadable.add(embedded)
            out.invalid.append(
                Finding(
                    FindingKind.INVALID_DATA,
                    item_key_label(item.get(mapping.key_attribute)),
                    pk=pk,
                    sk=sk,
                    field=mapping.key_attribute,
                    detail=str(exc),
                )
            )
    return out


def exact_key(value: Any) -> KeyValue:
    """A key as the report carries it: text, or an exact int (from HUGEINT or DECIMAL(38,0))."""
    if isinstance(value, str):
        return value
    if isinstance(value, Decimal):
        return int(value)
    return int(value)


@dataclass(frozen=True, slots=True)
class DiffRow:
    """One row of the full outer join that differs: the SQL side and the DynamoDB side."""

    s_key: Any
    s_status: str | None
    s_pk: str | None
    s_sk: str | None
    d_key: Any
    d_status: str | None
    d_pk: str | None
    d_sk: str | None


def key_finding(
    row: DiffRow, unreadable: set[KeyValue], abandoned: frozenset[str]
) -> Finding | None:
    """The missing or divergent finding a differing row is; None when it is none of them.

    A record abandoned (`abandoned` statuses) on one side and absent from the other agrees.
    """
    if row.d_key is None:
        key = exact_key(row.s_key)
        if key in unreadable or row.s_status in abandoned:
            return None
        return Finding(
            FindingKind.MISSING_IN_DYNAMODB, key, pk=row.s_pk, sk=row.s_sk, sql_status=row.s_status
        )
    if row.s_key is None:
        if row.d_status in abandoned:
            return None
        return Finding(
            FindingKind.MISSING_IN_SQL,
            exact_key(row.d_key),
            pk=row.d_pk,
            sk=row.d_sk,
            dynamodb_status=row.d_status,
        )
    if row.s_status == row.d_status:
        return None
    return Finding(
        FindingKind.STATUS_DIVERGENCE,
        exact_key(row.s_key),
        pk=row.s_pk,
        sk=row.s_sk,
        sql_status=row.s_status,
        dynamodb_status=row.d_status,
    )


def field_finding(
    key: Any, pk: str | None, sk: str | None, attribute: str, value: str, left: Any, right: Any
) -> Finding:
    """A field that differs: named by its attribute, with hashes, never the values."""
    if value == "epoch_us":
        detail = (
            "differs by more than the tolerance"
            if left is not None and right is not None
            else f"{'SQL' if left is None else 'DynamoDB'} has no readable time"
        )
    else:
        detail = f"md5 {_short(left)} in SQL, {_short(right)} in DynamoDB"
    return Finding(
        FindingKind.FIELD_MISMATCH, exact_key(key), pk=pk, sk=sk, field=attribute, detail=detail
    )


def _short(digest: Any) -> str:
    return "absent" if digest is None else str(digest)[:8]
