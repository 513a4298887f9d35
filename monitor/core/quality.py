"""Data quality of one sampled record: data types, index integrity, business rules.

The plan (what to check) is `monitor.core.quality_plan`, the grade `monitor.core.grade`; both
are re-exported here.

Pure: the check hands in a SQL row (the system of record), its normalised `Record` and the
DynamoDB item (typed `Attribute`s, `monitor.core.item`), and receives findings. No finding carries a value:
details name types, templates, rules and JSON positions only.

- **Data types** (`invalid_data`): a value that cannot be read as its declared type. The declared
  type of an attribute comes from the SQL column it mirrors (a boolean column is `BOOL`, a
  number `N`, text and timestamps `S`) and from its `compare` kind (`json` text must parse,
  `timestamp` text must be ISO-8601 with an offset, `number` must be `N`). The key attribute
  must hold the record's own key, also where the sort key embeds it.
- **Index integrity** (`index_integrity`): each configured index's partition attribute equals
  its template rendered from the SQL row, its sort attribute equals the item's sort key, and
  both are present exactly when the index's `when` holds on the SQL row (a sparse index). The
  pending index of `[mapping]` is present exactly while the item's status is pending.
- **Business rules** (`rule_violation`): `when` holds on the SQL row and `require` is false.
  Like a SQL CHECK constraint, a requirement that is unknown because of a NULL passes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from monitor.core import ruleexpr
from monitor.core.compare import FieldSpec, compare_field
from monitor.core.grade import GRADE_FLOORS, Grade, grade_for
from monitor.core.item import Attribute, AttributeType, Item, MalformedAttribute
from monitor.core.mapping import MappingError, Record, TableMapping
from monitor.core.quality_plan import (
    BusinessRule,
    IndexRule,
    PlanError,
    QualityPlan,
    build_plan,
)
from monitor.model import Finding, FindingKind

__all__ = [
    "GRADE_FLOORS",
    "BusinessRule",
    "Grade",
    "IndexRule",
    "Inspection",
    "PlanError",
    "QualityPlan",
    "build_plan",
    "expected_tags",
    "grade_for",
    "inspect_record",
    "value_problem",
]


# --- declared types -----------------------------------------------------------------------


def expected_tags(spec: FieldSpec, sql_value: object) -> frozenset[AttributeType] | None:
    """The DynamoDB types an attribute may have, from its compare kind and its SQL value's type.

    None when nothing can be said (an `exact` field whose SQL value is NULL or of an unusual type).
    """
    if spec.compare == "json":
        return frozenset({AttributeType.S, AttributeType.M, AttributeType.L})
    if spec.compare == "timestamp":
        return frozenset({AttributeType.S})
    if spec.compare == "number":
        return frozenset({AttributeType.N})
    kind = ruleexpr.value_kind(sql_value)
    return {
        "boolean": frozenset({AttributeType.BOOL}),
        "number": frozenset({AttributeType.N}),
        "text": frozenset({AttributeType.S}),
        "binary": frozenset({AttributeType.B}),
        "timestamp": frozenset({AttributeType.S}),
    }.get(kind)


def value_problem(spec: FieldSpec, value: object) -> str | None:
    """Why `value` cannot be read as the field's kind (value-free), or None when it can.

    Uses the comparator on the value against itself, so `sample` and `quality` agree exactly on
    what is valid JSON, a valid timestamp or a valid number.
    """
    if value is None:
        return None
    result = compare_field(spec, value, value)
    if result.status not in ("invalid_sql", "invalid_dynamodb"):
        return None
    detail = result.detail or "is invalid"
    return detail.removeprefix("sql value ").split("; dynamodb value", 1)[0]


# --- inspecting one record --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Inspection:
    findings: tuple[Finding, ...] = ()
    #: (rule or index name, why it could not be evaluated on this row), value-free.
    errors: tuple[tuple[str, str], ...] = ()


@dataclass(slots=True)
class _Collector:
    record: Record
    dynamodb_status: str | None = None
    findings: list[Finding] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)

    def add(
        self,
        kind: FindingKind,
        detail: str,
        *,
        attribute: str | None = None,
        rule: str | None = None,
    ) -> None:
        r = self.record
        self.findings.append(
            Finding(
                kind,
                r.key,
                pk=r.pk,
                sk=r.sk,
                sql_status=r.status,
                dynamodb_status=self.dynamodb_status,
                field=attribute,
                rule=rule,
                detail=detail,
            )
        )


def inspect_record(
    plan: QualityPlan,
    row: Mapping[str, Any],
    record: Record,
    item: Item | None,
) -> Inspection:
    """Every quality finding of one sampled record. `item` is None when DynamoDB has none."""
    out = _Collector(record)
    _check_sql_types(plan, row, out)
    if item is not None:
        status_ok = _check_item_keys(plan.mapping, record, item, out)
        _check_item_types(plan, row, item, out)
        _check_indexes(plan, row, item, out, status_known=status_ok)
    _check_rules(plan, row, out)
    return Inspection(tuple(out.findings), tuple(out.errors))


def _check_sql_types(plan: QualityPlan, row: Mapping[str, Any], out: _Collector) -> None:
    for spec in plan.fields:
        problem = value_problem(spec, row.get(spec.column))
        if problem is not None:
            out.add(FindingKind.INVALID_DATA, f"sql value {problem}", attribute=spec.attribute)


def _check_item_keys(mapping: TableMapping, record: Record, item: Item, out: _Collector) -> bool:
    """Key and status attributes; returns whether the item's status could be read."""
    status_ok = True
    try:
        out.dynamodb_status = mapping.status_from_item(item)
    except MappingError as exc:
        status_ok = False
        out.add(FindingKind.INVALID_DATA, str(exc), attribute=mapping.status_attribute)
    try:
        key = mapping.key_from_item(item)
    except MappingError as exc:
        out.add(FindingKind.INVALID_DATA, str(exc), attribute=mapping.key_attribute)
        return status_ok
    embedded = mapping.embedded_key_mismatch(item)
    if embedded is not None:
        out.add(FindingKind.INVALID_DATA, embedded, attribute=mapping.key_attribute)
    elif str(key) != str(record.key):
        out.add(
            FindingKind.INVALID_DATA,
            f"{mapping.key_attribute} holds another record's key than the SQL row",
            attribute=mapping.key_attribute,
        )
    elif type(key) is not type(record.key):
        expected = "N" if isinstance(record.key, int) else "S"
        out.add(
            FindingKind.INVALID_DATA,
            f"{mapping.key_attribute} has the wrong type, expected {expected}",
            attribute=mapping.key_attribute,
        )
    return status_ok


def _check_item_types(
    plan: QualityPlan, row: Mapping[str, Any], item: Item, out: _Collector
) -> None:
    for spec in plan.fields:
        raw = item.get(spec.attribute)
        if raw is None or raw.is_null:  # NULL is the same as absent (CONTRACT §1)
            continue
        try:
            value = raw.plain()
        except MalformedAttribute as exc:
            out.add(FindingKind.INVALID_DATA, str(exc), attribute=spec.attribute)
            continue
        assert raw.type is not None  # a malformed value has no plain value
        sql_value = row.get(spec.column)
        allowed = expected_tags(spec, sql_value)
        if allowed is not None and raw.type not in allowed:
            column_kind = (
                f"a {spec.compare} field"
                if spec.compare != "exact"
                else f"its column holds {ruleexpr.value_kind(sql_value)}"
            )
            out.add(
                FindingKind.INVALID_DATA,
                f"dynamodb type {raw.type}, expected {'/'.join(sorted(allowed))} ({column_kind})",
                attribute=spec.attribute,
            )
            continue
        problem = value_problem(spec, value)
        if problem is not None:
            out.add(FindingKind.INVALID_DATA, f"dynamodb value {problem}", attribute=spec.attribute)


def _index_expected(
    index: IndexRule, row: Mapping[str, Any], status: str | None, pending_value: str
) -> tuple[bool, str]:
    """Whether the item belongs in the index, and the reason in words (for the detail)."""
    if index.pending:
        return (
            status == pending_value,
            f"status is {'' if status == pending_value else 'not '}pending",
        )
    if index.when is None:
        return True, ""
    holds = ruleexpr.evaluate(index.when, row) is True
    text = ruleexpr.render(index.when)
    return holds, f"`{text}` {'holds' if holds else 'does not hold'}"


def _check_indexes(
    plan: QualityPlan,
    row: Mapping[str, Any],
    item: Item,
    out: _Collector,
    *,
    status_known: bool,
) -> None:
    mapping = plan.mapping
    base_sk = item.get(mapping.sort_key)
    for index in plan.indexes:
        if index.pending and not status_known:
            continue  # the status itself is invalid_data already
        try:
            belongs, why = _index_expected(
                index, row, out.dynamodb_status, mapping.status_values.pending
            )
        except ruleexpr.RuleTypeError as exc:
            out.errors.append((f"index {index.name}", str(exc)))
            continue
        expected: str | None = None
        if belongs:
            try:
                expected = index.template.render(row)
            except MappingError:
                # A NULL column: no writer can build the attribute, so it must be absent.
                belongs, why = False, "a column of its template is NULL"
        reason = f" ({why})" if why else ""
        _check_index_attribute(
            out, index, index.partition_key, item.get(index.partition_key), expected, reason
        )
        if index.sort_key is not None:
            want = base_sk.text if belongs and base_sk is not None else None
            if belongs and want is None:
                continue  # the base sort key is not a string: invalid_data already
            _check_index_attribute(
                out, index, index.sort_key, item.get(index.sort_key), want, reason, is_sk=True
            )


def _check_index_attribute(
    out: _Collector,
    index: IndexRule,
    attribute: str,
    raw: Attribute | None,
    expected: str | None,
    reason: str,
    *,
    is_sk: bool = False,
) -> None:
    source = "the item's sort key" if is_sk else index.template.source
    present = raw is not None and not raw.is_null
    if expected is None:
        if present:
            out.add(
                FindingKind.INDEX_INTEGRITY,
                f"present, but the item does not belong in {index.name}{reason}",
                attribute=attribute,
            )
        return
    if raw is None or not present:
        out.add(
            FindingKind.INDEX_INTEGRITY,
            f"missing: {index.name} should hold the item{reason}",
            attribute=attribute,
        )
        return
    if raw.type is not AttributeType.S:
        out.add(
            FindingKind.INDEX_INTEGRITY,
            f"has type {raw.type or 'unknown'}, expected S",
            attribute=attribute,
        )
        return
    if raw.value != expected:
        built = "" if is_sk else " built from the SQL row"
        out.add(
            FindingKind.INDEX_INTEGRITY,
            f"differs from {source}{built}",
            attribute=attribute,
        )


def _check_rules(plan: QualityPlan, row: Mapping[str, Any], out: _Collector) -> None:
    for rule in plan.rules:
        try:
            if ruleexpr.evaluate(rule.when, row) is not True:
                continue
            holds = ruleexpr.evaluate(rule.require, row)
        except ruleexpr.RuleTypeError as exc:
            out.errors.append((f"rule {rule.name}", str(exc)))
            continue
        if holds is False:
            out.add(
                FindingKind.RULE_VIOLATION,
                f"{rule.name}: `{ruleexpr.render(rule.require)}` is false"
                f" where `{ruleexpr.render(rule.when)}`",
                rule=rule.name,
            )
