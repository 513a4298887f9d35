"""Canary reads (SEED-REVIEW row 16): each read pattern run against both stores, compared
record by record.

The patterns are the table's own (by partition key) and each secondary index `[checks.quality]
indexes` describes — for the default model the seed's three: by service and date, by
application (`ByApplication`), errors by date (`ErrorsByDate`). Another mapping gets its own
from its config. For a random set of partition values drawn from the settled window, the SQL
rows a reader would get and the DynamoDB items the pattern's Query returns are compared: a
record missing from either side, or with another status or field value, fails the canary. Only
committed records count (pending ones are in flight; compensated ones were never visible).
Every read is timed, for the gate's performance figures.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from monitor.config import field_specs, quality_plan
from monitor.core import ruleexpr
from monitor.core.compare import compare_field
from monitor.core.item import text_of
from monitor.core.mapping import IndexMap, KeyTemplate, MappingError
from monitor.model import KeyValue, Window
from monitor.runtime import StoreContext
from monitor.stores.postgres import quote_ident

#: SQL rows drawn from the window to choose partition values from.
DRAW = 2000


@dataclass(frozen=True, slots=True)
class ReadPattern:
    name: str
    #: None: the base table.
    index: IndexMap | None
    template: KeyTemplate
    when: ruleexpr.Expr | None = None


@dataclass
class PatternResult:
    pattern: str
    reads: int = 0
    records: int = 0
    missing_in_dynamodb: list[KeyValue] = field(default_factory=list)
    missing_in_sql: list[KeyValue] = field(default_factory=list)
    wrong: list[KeyValue] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not (self.missing_in_dynamodb or self.missing_in_sql or self.wrong)

    def as_json(self) -> dict[str, Any]:
        return {
            "pattern": self.pattern,
            "passed": self.passed,
            "reads": self.reads,
            "records": self.records,
            "missing_in_dynamodb": self.missing_in_dynamodb[:5],
            "missing_in_sql": self.missing_in_sql[:5],
            "wrong": self.wrong[:5],
        }


@dataclass
class CanaryResult:
    patterns: list[PatternResult]
    sql_seconds: list[float]
    dynamodb_seconds: list[float]

    @property
    def passed(self) -> bool:
        return bool(self.patterns) and all(p.passed for p in self.patterns)


def read_patterns(context: StoreContext) -> list[ReadPattern]:
    mapping = context.sql.mapping
    patterns = [ReadPattern("by partition key", None, mapping.partition_template)]
    for rule in quality_plan(context.settings).indexes:
        if rule.pending or rule.sort_key is None:
            continue  # the pending index is not a read path; an index without SK is not ranged
        index = IndexMap(rule.name, rule.partition_key, rule.sort_key, rule.template)
        patterns.append(ReadPattern(rule.name, index, rule.template, rule.when))
    return patterns


async def run_canaries(
    context: StoreContext, window: Window, reads_per_pattern: int, rng: random.Random
) -> CanaryResult:
    patterns = read_patterns(context)
    mapping = context.sql.mapping
    columns = _columns(context, patterns)
    ts = quote_ident(mapping.timestamp_column)
    drawn = await context.sql.fetch_rows(
        columns, f"{ts} >= $1 AND {ts} < $2 LIMIT {DRAW}", window.start, window.end
    )
    result = CanaryResult([], [], [])
    for pattern in patterns:
        values = sorted({v for row in drawn if (v := _value_of(pattern, row)) is not None})
        chosen = rng.sample(values, min(reads_per_pattern, len(values)))
        outcome = PatternResult(pattern.name)
        for value in chosen:
            await _compare_one(context, pattern, value, window, columns, outcome, result)
        result.patterns.append(outcome)
    return result


def _columns(context: StoreContext, patterns: Sequence[ReadPattern]) -> list[str]:
    mapping = context.sql.mapping
    wanted = [*mapping.row_columns, *(f.column for f in mapping.fields)]
    for p in patterns:
        wanted += p.template.columns
        if p.when is not None:
            wanted += sorted(ruleexpr.columns_of(p.when))
    return list(dict.fromkeys(wanted))


def _value_of(pattern: ReadPattern, row: Mapping[str, Any]) -> str | None:
    if pattern.when is not None:
        try:
            if ruleexpr.evaluate(pattern.when, row) is not True:
                return None
        except ruleexpr.RuleTypeError:
            return None
    try:
        return pattern.template.render(row)
    except MappingError:
        return None


async def _compare_one(
    context: StoreContext,
    pattern: ReadPattern,
    value: str,
    window: Window,
    columns: list[str],
    outcome: PatternResult,
    result: CanaryResult,
) -> None:
    mapping = context.sql.mapping
    committed = mapping.status_values.committed
    # SQL: the rows the template's non-time columns select in the window, as a reader sees them.
    parsed = pattern.template.match(value) or {}
    filters = [c for c in pattern.template.columns if c != mapping.timestamp_column]
    ts = quote_ident(mapping.timestamp_column)
    where = " AND ".join(
        [f"{quote_ident(c)}::text = ${i + 3}" for i, c in enumerate(filters)]
        + [f"{ts} >= $1 AND {ts} < $2"]
    )
    started = time.perf_counter()
    rows = await context.sql.fetch_rows(
        columns, where, window.start, window.end, *(parsed.get(c, "") for c in filters)
    )
    result.sql_seconds.append(time.perf_counter() - started)
    sql = {
        row[mapping.key_column]: row
        for row in rows
        if _value_of(pattern, row) == value and row[mapping.status_column] == committed
    }
    # DynamoDB: the pattern's Query over the same window.
    lo, hi = mapping.sort_key_bounds(window.start, window.end)
    projection = [
        mapping.partition_key,
        mapping.sort_key,
        mapping.key_attribute,
        mapping.status_attribute,
        *(f.attribute for f in mapping.fields),
    ]
    started = time.perf_counter()
    items = await context.dynamo.query_range(
        value, lo, hi, list(dict.fromkeys(projection)), index=pattern.index
    )
    result.dynamodb_seconds.append(time.perf_counter() - started)
    dynamo: dict[KeyValue, Any] = {}
    for item in items:
        try:
            record = mapping.record_from_item(item)
        except MappingError:
            outcome.wrong.append(text_of(item, mapping.sort_key) or "?")
            continue
        if record.status == committed:
            dynamo[record.key] = record
    outcome.reads += 1
    outcome.records += len(set(sql) | set(dynamo))
    outcome.missing_in_dynamodb += sorted(k for k in sql if k not in dynamo)
    outcome.missing_in_sql += sorted(k for k in dynamo if k not in sql)
    specs = field_specs(context.settings.mapping.fields, "mapping.fields")
    for key in sorted(set(sql) & set(dynamo)):
        row, record = sql[key], dynamo[key]
        if any(
            compare_field(spec, row.get(spec.column), record.values.get(spec.column)).status
            != "equal"
            for spec in specs
        ):
            outcome.wrong.append(key)
