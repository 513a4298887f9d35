"""Data quality of one sampled record: data types, index integrity, business rules; the grade.

Pure: the check hands in a SQL row (the system of record), its normalised `Record` and the
DynamoDB item in wire format (`{"S": ...}`), and receives findings. No finding carries a value:
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

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Final, Protocol

from monitor.core import ruleexpr
from monitor.core.compare import FieldSpec, compare_field
from monitor.core.mapping import KeyTemplate, MappingError, Record, TableMapping, TemplateError
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
    "wire_tag",
    "wire_value",
]


# --- the grade --------------------------------------------------------------------------


class Grade(enum.StrEnum):
    EXCELLENT = "Excellent"
    GOOD = "Good"
    FAIR = "Fair"
    POOR = "Poor"
    CRITICAL = "Critical"

    @property
    def rank(self) -> int:
        """0 for Excellent … 4 for Critical."""
        return list(Grade).index(self)

    def at_least(self, other: Grade) -> bool:
        return self.rank <= other.rank


#: The lowest share of clean records (no quality finding) each grade allows; below the last
#: floor the grade is Critical. Written in docs/checks.md; change both together.
GRADE_FLOORS: Final[tuple[tuple[Grade, float], ...]] = (
    (Grade.EXCELLENT, 0.999),
    (Grade.GOOD, 0.99),
    (Grade.FAIR, 0.95),
    (Grade.POOR, 0.90),
)


def grade_for(clean: int, total: int) -> Grade | None:
    """The grade of a sample with `clean` of `total` records free of findings; None if empty."""
    if total < 0 or not 0 <= clean <= total:
        raise ValueError(f"clean ({clean}) must be between 0 and total ({total})")
    if total == 0:
        return None
    # Integer arithmetic: clean / total >= floor, without float rounding at the edge.
    for grade, floor in GRADE_FLOORS:
        if clean * 1000 >= round(floor * 1000) * total:
            return grade
    return Grade.CRITICAL


# --- DynamoDB wire values ---------------------------------------------------------------

_TAGS: Final = frozenset({"S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"})


def wire_tag(attribute: object) -> str | None:
    """The type tag of a wire-format attribute (`S`, `N`, `BOOL` …); None when absent/malformed."""
    if not isinstance(attribute, Mapping) or len(attribute) != 1:
        return None
    tag = next(iter(attribute))
    return tag if tag in _TAGS else None


def wire_value(attribute: Mapping[str, Any]) -> Any:
    """A wire-format attribute as a Python value (N stays exact). Raises ValueError if malformed."""
    tag = wire_tag(attribute)
    if tag is None:
        raise ValueError("malformed attribute value")
    value = attribute[tag]
    if tag == "N":
        number = Decimal(str(value))
        return int(number) if number == number.to_integral_value() else number
    if tag == "NULL":
        return None
    if tag == "M":
        return {str(k): wire_value(v) for k, v in value.items()}
    if tag == "L":
        return [wire_value(v) for v in value]
    if tag in ("SS", "NS", "BS"):
        return frozenset(value)
    if tag == "BOOL":
        return bool(value)
    return value  # S, B


def _kind_of_sql(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float | Decimal):
        return "number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, bytes | bytearray | memoryview):
        return "binary"
    return type(value).__name__


def expected_tags(spec: FieldSpec, sql_value: object) -> frozenset[str] | None:
    """The DynamoDB types an attribute may have, from its compare kind and its SQL value's type.

    None when nothing can be said (an `exact` field whose SQL value is NULL or of an unusual type).
    """
    if spec.compare == "json":
        return frozenset({"S", "M", "L"})
    if spec.compare == "timestamp":
        return frozenset({"S"})
    if spec.compare == "number":
        return frozenset({"N"})
    kind = _kind_of_sql(sql_value)
    return {
        "boolean": frozenset({"BOOL"}),
        "number": frozenset({"N"}),
        "text": frozenset({"S"}),
        "binary": frozenset({"B"}),
        "datetime": frozenset({"S"}),
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


# --- the plan: what to check, parsed from config ------------------------------------------


class PlanError(ValueError):
    """A quality setting that cannot be used; `key` is relative to `[checks.quality]`."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.message = message


class RuleText(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def when(self) -> str: ...
    @property
    def require(self) -> str: ...


class IndexText(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def partition_key(self) -> str: ...
    @property
    def partition_key_template(self) -> str: ...
    @property
    def sort_key(self) -> str | None: ...
    @property
    def when(self) -> str: ...


@dataclass(frozen=True, slots=True)
class BusinessRule:
    name: str
    when: ruleexpr.Expr
    require: ruleexpr.Expr

    @property
    def columns(self) -> frozenset[str]:
        return ruleexpr.columns_of(self.when) | ruleexpr.columns_of(self.require)


@dataclass(frozen=True, slots=True)
class IndexRule:
    """Which attributes one GSI needs on an item, and when the item belongs in it."""

    name: str
    partition_key: str
    template: KeyTemplate
    #: An attribute that must equal the item's base sort key (None: not checked).
    sort_key: str | None = None
    #: Present exactly when this holds on the SQL row (None: always).
    when: ruleexpr.Expr | None = None
    #: The `[mapping] pending_index`: present exactly while the item's status is pending.
    pending: bool = False

    @property
    def columns(self) -> frozenset[str]:
        used = frozenset(self.template.columns)
        return used if self.when is None else used | ruleexpr.columns_of(self.when)


@dataclass(frozen=True)
class QualityPlan:
    mapping: TableMapping
    #: Fields whose type is checked: `[mapping] fields` plus `[checks.quality] fields`.
    fields: tuple[FieldSpec, ...]
    indexes: tuple[IndexRule, ...]
    rules: tuple[BusinessRule, ...]

    @property
    def sql_columns(self) -> tuple[str, ...]:
        """Every column the checks read: the mapping's narrow columns and what the plan uses."""
        wanted: list[str] = [*self.mapping.row_columns, *(f.column for f in self.fields)]
        for index in self.indexes:
            wanted += sorted(index.columns)
        for rule in self.rules:
            wanted += sorted(rule.columns)
        wanted += [f.column for f in self.mapping.fields]
        return tuple(dict.fromkeys(wanted))

    @property
    def item_attributes(self) -> tuple[str, ...]:
        """The DynamoDB projection: keys, status, typed fields and index attributes."""
        m = self.mapping
        wanted = [m.partition_key, m.sort_key, m.key_attribute, m.status_attribute]
        wanted += [f.attribute for f in self.fields]
        for index in self.indexes:
            wanted.append(index.partition_key)
            if index.sort_key is not None:
                wanted.append(index.sort_key)
        return tuple(dict.fromkeys(wanted))

    def restricted_to(self, columns: Iterable[str]) -> tuple[QualityPlan, tuple[str, ...]]:
        """The plan without the fields, indexes and rules that read a column the table lacks.

        Returns the plan and one warning per dropped part, so that a table monitored with the
        default quality settings (written for the default data model) still gets checked.
        """
        have = frozenset(columns)
        table = self.mapping.sql_table
        warnings: list[str] = []

        def lacking(used: Iterable[str]) -> list[str]:
            return sorted(set(used) - have)

        fields = []
        mapped = {f.column for f in self.mapping.fields}
        for spec in self.fields:
            gone = lacking([spec.column])
            if gone and spec.column not in mapped:
                warnings.append(
                    f"checks.quality: {table} has no column {gone[0]!r};"
                    f" the type check of {spec.attribute} is skipped"
                )
            else:
                fields.append(spec)
        indexes = []
        for index in self.indexes:
            gone = lacking(index.columns)
            if gone:
                warnings.append(
                    f"checks.quality: {table} has no column {gone[0]!r};"
                    f" index {index.name} is not checked"
                )
            else:
                indexes.append(index)
        rules = []
        for rule in self.rules:
            gone = lacking(rule.columns)
            if gone:
                warnings.append(
                    f"checks.quality: {table} has no column {gone[0]!r};"
                    f" rule {rule.name} is not checked"
                )
            else:
                rules.append(rule)
        plan = replace(self, fields=tuple(fields), indexes=tuple(indexes), rules=tuple(rules))
        return plan, tuple(warnings)


_FORMATTED: Final = re.compile(r"\{([^{}:]*):[^{}]*\}")


def _parse(text: str, key: str) -> ruleexpr.Expr:
    try:
        return ruleexpr.parse(text)
    except ruleexpr.RuleSyntaxError as exc:
        raise PlanError(key, str(exc)) from None


def build_plan(
    mapping: TableMapping,
    fields: Sequence[FieldSpec],
    rules: Sequence[RuleText],
    indexes: Sequence[IndexText],
) -> QualityPlan:
    """Parse rules and index templates. Raises PlanError naming e.g. `rules[2].when`."""
    parsed_rules: list[BusinessRule] = []
    seen: set[str] = set()
    for i, rule in enumerate(rules):
        if rule.name in seen:
            raise PlanError(f"rules[{i}].name", f"rule name {rule.name!r} is used twice")
        seen.add(rule.name)
        parsed_rules.append(
            BusinessRule(
                rule.name,
                _parse(rule.when, f"rules[{i}].when"),
                _parse(rule.require, f"rules[{i}].require"),
            )
        )
    parsed_indexes: list[IndexRule] = []
    for i, index in enumerate(indexes):
        source = index.partition_key_template
        # Any one time column may carry a format here (not only the mapping's timestamp), so
        # the defaults still load for another table; a column it lacks is skipped at run time.
        formatted = _FORMATTED.findall(source)
        try:
            template = KeyTemplate.parse(
                source, timestamp_column=formatted[0] if formatted else mapping.timestamp_column
            )
        except TemplateError as exc:
            raise PlanError(f"indexes[{i}].partition_key_template", str(exc)) from None
        when = _parse(index.when, f"indexes[{i}].when") if index.when.strip() else None
        parsed_indexes.append(
            IndexRule(index.name, index.partition_key, template, index.sort_key, when)
        )
    pending = mapping.pending_index
    if pending is not None:
        parsed_indexes.append(
            IndexRule(
                pending.name,
                pending.partition_key,
                pending.partition_template,
                pending.sort_key,
                pending=True,
            )
        )
    unique_fields = tuple({(f.column, f.attribute): f for f in fields}.values())
    return QualityPlan(mapping, unique_fields, tuple(parsed_indexes), tuple(parsed_rules))


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
    item: Mapping[str, Any] | None,
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


def _check_item_keys(
    mapping: TableMapping, record: Record, item: Mapping[str, Any], out: _Collector
) -> bool:
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
    plan: QualityPlan, row: Mapping[str, Any], item: Mapping[str, Any], out: _Collector
) -> None:
    for spec in plan.fields:
        raw = item.get(spec.attribute)
        if raw is None:
            continue
        tag = wire_tag(raw)
        if tag is None:
            out.add(FindingKind.INVALID_DATA, "malformed attribute value", attribute=spec.attribute)
            continue
        if tag == "NULL":  # the same as absent (CONTRACT §1)
            continue
        sql_value = row.get(spec.column)
        allowed = expected_tags(spec, sql_value)
        if allowed is not None and tag not in allowed:
            column_kind = (
                f"a {spec.compare} field"
                if spec.compare != "exact"
                else f"its column holds {_kind_of_sql(sql_value)}"
            )
            out.add(
                FindingKind.INVALID_DATA,
                f"dynamodb type {tag}, expected {'/'.join(sorted(allowed))} ({column_kind})",
                attribute=spec.attribute,
            )
            continue
        problem = value_problem(spec, wire_value(raw))
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
    item: Mapping[str, Any],
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
            want = base_sk.get("S") if belongs and isinstance(base_sk, Mapping) else None
            if belongs and want is None:
                continue  # the base sort key is not a string: invalid_data already
            _check_index_attribute(
                out, index, index.sort_key, item.get(index.sort_key), want, reason, is_sk=True
            )


def _check_index_attribute(
    out: _Collector,
    index: IndexRule,
    attribute: str,
    raw: object,
    expected: str | None,
    reason: str,
    *,
    is_sk: bool = False,
) -> None:
    source = "the item's sort key" if is_sk else index.template.source
    present = raw is not None and wire_tag(raw) != "NULL"
    if expected is None:
        if present:
            out.add(
                FindingKind.INDEX_INTEGRITY,
                f"present, but the item does not belong in {index.name}{reason}",
                attribute=attribute,
            )
        return
    if not present:
        out.add(
            FindingKind.INDEX_INTEGRITY,
            f"missing: {index.name} should hold the item{reason}",
            attribute=attribute,
        )
        return
    tag = wire_tag(raw)
    if tag != "S":
        out.add(
            FindingKind.INDEX_INTEGRITY,
            f"has type {tag or 'unknown'}, expected S",
            attribute=attribute,
        )
        return
    assert isinstance(raw, Mapping)
    if raw["S"] != expected:
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
