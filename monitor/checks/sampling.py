"""`check sample`: compare the fields of a uniform random sample of the settled window.

How the sample is drawn (cheap on production, uniform, never `ORDER BY random()`):

1. `count(*)` of the window: a range scan of the (timestamp, …) index.
2. When the window holds more than `sample_size` records, each of its records is kept with
   probability p = (n + 4·√n + 10) / N by `random() < p` on the same index range — a Bernoulli
   sample of the window, no sort, no table-wide scan, under `statement_timeout` — and only the
   kept records' timestamps are returned. Exactly n of them are then chosen uniformly here.
   (`TABLESAMPLE` was rejected: `SYSTEM` picks whole pages, so records written together come
   together and the sample is clustered; `BERNOULLI` reads every page of the table, not just the
   window's. Both ignore the window's index.)
3. The chosen records are read by timestamp (`= ANY($1)`, an index lookup), only the key, key
   template, status and compared columns; where several records share a timestamp, as many as
   were chosen there are picked at random among them.

When the window holds at most `sample_size` records, all of them are compared.

Counterparts come from DynamoDB in `BatchGetItem`s of 100, concurrently, projecting only the
keys, status and compared attributes. Verdicts and figures come from `monitor.core.accuracy`.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from monitor.checks.reporting import build_report
from monitor.checks.spec import (
    CheckFunction,
    CheckRequest,
    CheckSpec,
    Gauge,
    Points,
    mapping_points,
)
from monitor.config import Settings, field_specs
from monitor.core.accuracy import (
    AccuracyTally,
    Accurate,
    accuracy_ok,
    judge_pair,
    judge_unmappable,
    rounded,
)
from monitor.core.alertmap import Figure
from monitor.core.compare import FieldSpec
from monitor.core.figures import Figures
from monitor.core.item import Item, text_of
from monitor.core.mapping import MappingError, Record, TableMapping
from monitor.core.sampling import SqlSample, key_order
from monitor.core.stats import Interval, samples_needed
from monitor.model import CheckReport, FindingKind, KeyValue, Window
from monitor.stores.ports import SourceStore, TargetStore

if TYPE_CHECKING:
    from monitor.checks.context import CheckContext


# --- the SQL side ------------------------------------------------------------------------


async def draw_sample(
    sql: SourceStore,
    window: Window,
    size: int,
    columns: Sequence[str],
    *,
    rng: random.Random,
    seed: float | None = None,
) -> SqlSample:
    """A uniform random sample of at most `size` rows of the window (all of them if fewer).

    `seed` (in [-1, 1]) makes PostgreSQL's `random()` repeatable, for tests and benchmarks.
    """
    return await sql.sample_window(window.start, window.end, size, columns, rng=rng, seed=seed)


# --- the DynamoDB side -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SampledRecord:
    """One sampled SQL row, normalised, with its DynamoDB item (None: there is none)."""

    row: Mapping[str, Any]
    key: KeyValue
    #: None when the row has no DynamoDB key at all; `problem` says why.
    record: Record | None
    item: Item | None = None
    problem: str | None = None


def _normalise(mapping: TableMapping, row: Mapping[str, Any]) -> SampledRecord:
    key = row.get(mapping.key_column)
    shown: KeyValue = key if isinstance(key, int | str) and not isinstance(key, bool) else "<null>"
    try:
        record = mapping.record_from_row(row)
    except MappingError as exc:
        return SampledRecord(row, shown, None, problem=str(exc))
    if record.pk is None or record.sk is None:
        return SampledRecord(
            row, record.key, None, problem="a column of the key templates is NULL; no DynamoDB key"
        )
    return SampledRecord(row, record.key, record)


async def with_counterparts(
    dynamo: TargetStore,
    mapping: TableMapping,
    rows: Sequence[Mapping[str, Any]],
    projection: Sequence[str],
) -> list[SampledRecord]:
    """Normalise each row and fetch its item by (PK, SK): BatchGetItem of 100, concurrently."""
    sampled = [_normalise(mapping, row) for row in rows]
    keys = [(s.record.pk, s.record.sk) for s in sampled if s.record is not None]
    wanted = (mapping.partition_key, mapping.sort_key, *projection)
    items = await dynamo.batch_get(
        [(pk, sk) for pk, sk in keys if pk is not None and sk is not None],
        list(dict.fromkeys(wanted)),
    )
    by_key: dict[tuple[str, str], Item] = {}
    for item in items:
        pk, sk = text_of(item, mapping.partition_key), text_of(item, mapping.sort_key)
        if pk is not None and sk is not None:
            by_key[(pk, sk)] = item
    out = []
    for s in sampled:
        if s.record is None:
            out.append(s)
            continue
        assert s.record.pk is not None and s.record.sk is not None
        out.append(SampledRecord(s.row, s.key, s.record, by_key.get((s.record.pk, s.record.sk))))
    return out


def without_agreed_absent(
    mapping: TableMapping, records: Sequence[SampledRecord]
) -> tuple[list[SampledRecord], int]:
    """The sampled records to judge, and how many were left out: a row abandoned in SQL
    (Compensated/Failed) with no item agrees with DynamoDB that the transaction did not happen
    (CONTRACT §7), so it is neither judged nor counted."""
    abandoned = mapping.status_values.abandoned
    judged = [
        s
        for s in records
        if not (s.record is not None and s.item is None and s.record.status in abandoned)
    ]
    return judged, len(records) - len(judged)


def judge_sampled(
    mapping: TableMapping, specs: Sequence[FieldSpec], records: Sequence[SampledRecord]
) -> tuple[AccuracyTally, int]:
    """The verdicts of sampled records with their items, and how many agreed absent."""
    tally = AccuracyTally(tuple(s.attribute for s in specs))
    judged, agreed = without_agreed_absent(mapping, records)
    for s in judged:
        if s.record is None:
            tally.add(
                judge_unmappable(s.key, s.problem or "unreadable", attribute=mapping.partition_key)
            )
        else:
            tally.add(judge_pair(mapping, specs, s.record, s.item))
    return tally, agreed


class SampleCache:
    """The last sample drawn, with its counterparts, for reuse within one request.

    `check all` runs `quality` and then `sample` on the same window: `sample` reuses the rows and
    items `quality` read (its columns and attributes are a subset), instead of drawing and
    fetching again. A different window (the daemon's runs each have their own `now`) or a need
    the cached read does not cover draws afresh, so nothing stale or partial is ever reused.
    """

    def __init__(self) -> None:
        self._last: (
            tuple[Window, int, frozenset[str], frozenset[str], SqlSample, list[SampledRecord]]
            | None
        ) = None
        self.hits = 0

    async def fetch(
        self,
        sql: SourceStore,
        dynamo: TargetStore,
        window: Window,
        size: int,
        columns: Sequence[str],
        attributes: Sequence[str],
        *,
        rng: random.Random,
        seed: float | None = None,
    ) -> tuple[SqlSample, list[SampledRecord]]:
        last = self._last
        if (
            last is not None
            and (last[0], last[1]) == (window, size)
            and set(columns) <= last[2]
            and set(attributes) <= last[3]
        ):
            self.hits += 1
            return last[4], last[5]
        sample = await draw_sample(sql, window, size, columns, rng=rng, seed=seed)
        records = await with_counterparts(dynamo, sql.mapping, sample.rows, attributes)
        self._last = (window, size, frozenset(columns), frozenset(attributes), sample, records)
        return sample, records


# --- the check -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SampleFigures(Figures):
    """The summary of `check sample`."""

    sampled: int
    window_records: int
    #: Sampled records equal in every field / sampled records, Wilson 95 % (None: no sample).
    accuracy: Interval | None
    bad_records: int
    missing_in_dynamodb: int
    invalid_records: int
    agreed_absent: int
    mismatches_by_field: Mapping[str, int]
    #: Clean samples the target needs before the data can support it (None: no sample can).
    samples_needed: int | None
    target_percent: float
    alert_below_percent: float | None
    #: "all" (the window was small) or "bernoulli".
    sampling: str
    keep_probability: float
    read_units: float


def _samples_needed(target_percent: float) -> int | None:
    try:
        return samples_needed(target_percent / 100.0)
    except ValueError:  # a target of 100 % (or more) cannot be shown by any sample
        return None


async def run_sample(
    settings: Settings,
    sql: SourceStore,
    dynamo: TargetStore,
    window: Window,
    *,
    strict: bool = False,
    rng: random.Random | None = None,
    seed: float | None = None,
    cache: SampleCache | None = None,
) -> CheckReport:
    mapping = sql.mapping
    config = settings.checks.sampling
    specs = field_specs(settings.mapping.fields, "mapping.fields")
    rng = rng or random.Random()
    columns = (*mapping.row_columns, *(s.column for s in specs))
    projection = (mapping.key_attribute, mapping.status_attribute, *(s.attribute for s in specs))
    sample, records = await (cache or SampleCache()).fetch(
        sql, dynamo, window, config.sample_size, columns, projection, rng=rng, seed=seed
    )

    tally, agreed = judge_sampled(mapping, specs, records)
    threshold = settings.alerts.thresholds.field_accuracy
    interval = tally.interval()
    below = None if threshold.alert_below is None else threshold.alert_below / 100.0
    above = None if threshold.alert_above is None else threshold.alert_above / 100.0
    within = accuracy_ok(interval, alert_below=below, alert_above=above)
    findings = sorted(tally.findings, key=lambda f: (f.kind, key_order(f.key), f.field or ""))
    figures = SampleFigures(
        sampled=tally.sampled,
        window_records=sample.window_records,
        accuracy=rounded(interval),
        bad_records=tally.bad,
        missing_in_dynamodb=tally.missing,
        invalid_records=tally.invalid_records,
        agreed_absent=agreed,
        mismatches_by_field=dict(tally.by_field),
        samples_needed=_samples_needed(threshold.target),
        target_percent=threshold.target,
        alert_below_percent=threshold.alert_below,
        sampling=sample.method,
        keep_probability=round(sample.rate, 9),
        read_units=round(dynamo.read_units, 3),
    )
    return build_report(
        "sample",
        mapping,
        window,
        within_thresholds=within,
        strict=strict,
        figures=figures,
        findings=findings,
    )


class SampledRun(Protocol):
    """A check run over a sample of the window (`run_sample`, `run_quality`)."""

    def __call__(
        self,
        settings: Settings,
        sql: SourceStore,
        dynamo: TargetStore,
        window: Window,
        *,
        strict: bool = False,
        cache: SampleCache | None = None,
    ) -> Awaitable[CheckReport]: ...


def on_the_sample_window(run: SampledRun) -> CheckFunction:
    """The check of `run`: the window of `[checks.sampling]` (window and settle), and the
    sample its run has drawn already (`context.samples`), so that `sample` and `quality`
    judge the same records."""

    async def check(context: CheckContext, request: CheckRequest) -> CheckReport:
        config = context.settings.checks.sampling
        window = request.window(config.window, config.settle, context.settings.checks.max_window)
        return await run(
            context.settings,
            context.sql,
            context.dynamo,
            window,
            strict=request.strict,
            cache=context.samples,
        )

    return check


def _accuracy_bounds(figures: SampleFigures) -> Points:
    """`dualwrite.field_accuracy{bound}`: the point and both bounds (none without a sample)."""
    accuracy = figures.accuracy
    if accuracy is None:
        return ()
    bounds = {"point": accuracy.point, "lower": accuracy.lower, "upper": accuracy.upper}
    return mapping_points(bounds, "bound")


#: The field accuracy, as `sample` and the stream's report (`monitor.stream`) both carry it.
FIELD_ACCURACY: Figure[Accurate] = Figure(
    lambda f: f.accuracy,
    interval=True,
    kinds=(
        FindingKind.FIELD_MISMATCH,
        FindingKind.MISSING_IN_DYNAMODB,
        FindingKind.MISSING_IN_SQL,
        FindingKind.INVALID_DATA,
    ),
    title="Field accuracy",
    # Continuous verification measures it too, on every changed record (monitor.stream).
    also=("stream",),
    reads=Accurate,
)

SPEC = CheckSpec(
    name="sample",
    section="sampling",
    run=on_the_sample_window(run_sample),
    figures=SampleFigures,
    needs_sql_writes="it draws its sample from SQL",
    rules={"field_accuracy": FIELD_ACCURACY},
    gauges=(
        Gauge("dualwrite.field_accuracy", _accuracy_bounds),
        # A field that stops mismatching is set back to 0 (sticky), not left at its last count.
        Gauge(
            "dualwrite.field_mismatches",
            lambda f: mapping_points(f.mismatches_by_field, "field"),
            sticky=True,
        ),
    ),
    records_checked=lambda f: f.sampled,
)
