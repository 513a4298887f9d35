"""What `quality` checks, parsed once from config: typed fields, index rules, business rules."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Final, Protocol

from monitor.core import ruleexpr
from monitor.core.compare import FieldSpec
from monitor.core.mapping import KeyTemplate, TableMapping, TemplateError


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
