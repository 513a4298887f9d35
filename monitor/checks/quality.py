"""`check quality`: data types, index integrity and business rules on a sample; a grade.

The sample is drawn exactly as `check sample` draws it (same window, `[checks.sampling]`
settings, same sampler), then each record goes through `monitor.core.quality.inspect_record`.
The grade comes from the share of sampled records with no quality finding (docs/checks.md, "Grades").
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from monitor.checks.reporting import build_report
from monitor.checks.sampling import SampleCache, on_the_sample_window, without_agreed_absent
from monitor.checks.spec import CheckSpec
from monitor.config import Settings, quality_plan
from monitor.core.accuracy import rounded
from monitor.core.figures import Figures
from monitor.core.quality import Grade, grade_for, inspect_record
from monitor.core.stats import Interval, interval_or_none
from monitor.model import CheckReport, Finding, FindingKind, Window
from monitor.stores.ports import SourceStore, TargetStore

if TYPE_CHECKING:
    pass

#: The finding kinds `quality` produces (and counts in its summary).
QUALITY_KINDS = (FindingKind.INVALID_DATA, FindingKind.INDEX_INTEGRITY, FindingKind.RULE_VIOLATION)


@dataclass(frozen=True, slots=True, kw_only=True)
class QualityFigures(Figures):
    """The summary of `check quality`."""

    sampled: int
    window_records: int
    #: The grade of the sample (None: nothing sampled), and the lowest grade that passes.
    grade: str | None
    min_grade: str
    clean_records: int
    records_with_findings: int
    #: Sampled records with no quality finding / sampled records, Wilson 95 % (None: no sample).
    clean_share: Interval | None
    #: Findings by kind (`QUALITY_KINDS`).
    invalid_data: int
    index_integrity: int
    rule_violation: int
    #: Every configured rule, 0 when it held on every sampled record.
    violations_by_rule: Mapping[str, int]
    findings_by_attribute: Mapping[str, int]
    missing_in_dynamodb: int
    agreed_absent: int
    rules_checked: int
    indexes_checked: tuple[str, ...]
    #: "all" (the window was small) or "bernoulli".
    sampling: str
    read_units: float


async def run_quality(
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
    config = settings.checks.quality
    plan, warnings_list = quality_plan(settings).restricted_to(await sql.table_columns())
    warnings = list(warnings_list)
    sample, records = await (cache or SampleCache()).fetch(
        sql,
        dynamo,
        window,
        settings.checks.sampling.sample_size,
        plan.sql_columns,
        plan.item_attributes,
        rng=rng or random.Random(),
        seed=seed,
    )

    findings: list[Finding] = []
    flagged = 0
    missing = 0
    errors: Counter[str] = Counter()
    first_error: dict[str, str] = {}
    judged, agreed = without_agreed_absent(mapping, records)
    for s in judged:
        if s.record is None:
            found: tuple[Finding, ...] = (
                Finding(
                    FindingKind.INVALID_DATA,
                    s.key,
                    field=mapping.partition_key,
                    detail=s.problem,
                ),
            )
        else:
            missing += s.item is None
            inspection = inspect_record(plan, s.row, s.record, s.item)
            found = inspection.findings
            for name, message in inspection.errors:
                errors[name] += 1
                first_error.setdefault(name, message)
        flagged += bool(found)
        findings.extend(found)
    for name, count in sorted(errors.items()):
        warnings.append(
            f"{name} could not be evaluated on {count} sampled record(s): {first_error[name]}"
        )

    sampled = len(judged)
    clean = sampled - flagged
    grade = grade_for(clean, sampled)
    minimum = Grade(config.min_grade)
    within = grade is None or grade.at_least(minimum)
    by_kind = Counter(f.kind for f in findings)
    by_rule = dict.fromkeys((r.name for r in plan.rules), 0)
    by_attribute: Counter[str] = Counter()
    for f in findings:
        if f.rule is not None:
            by_rule[f.rule] = by_rule.get(f.rule, 0) + 1
        if f.field is not None:
            by_attribute[f.field] += 1
    figures = QualityFigures(
        sampled=sampled,
        window_records=sample.window_records,
        grade=None if grade is None else str(grade),
        min_grade=str(minimum),
        clean_records=clean,
        records_with_findings=flagged,
        clean_share=rounded(interval_or_none(clean, sampled)),
        invalid_data=by_kind.get(FindingKind.INVALID_DATA, 0),
        index_integrity=by_kind.get(FindingKind.INDEX_INTEGRITY, 0),
        rule_violation=by_kind.get(FindingKind.RULE_VIOLATION, 0),
        violations_by_rule=by_rule,
        findings_by_attribute=dict(sorted(by_attribute.items())),
        missing_in_dynamodb=missing,
        agreed_absent=agreed,
        rules_checked=len(plan.rules),
        indexes_checked=tuple(index.name for index in plan.indexes),
        sampling=sample.method,
        read_units=round(dynamo.read_units, 3),
    )
    findings.sort(key=lambda f: (f.kind, str(f.key), f.field or "", f.rule or ""))
    return build_report(
        "quality",
        mapping,
        window,
        within_thresholds=within,
        strict=strict,
        figures=figures,
        findings=findings,
        warnings=warnings,
    )


# `quality` judges the same window as `sample`, so it shares `[checks.sampling]`.
SPEC = CheckSpec(
    name="quality",
    section="sampling",
    run=on_the_sample_window(run_quality),
    figures=QualityFigures,
    needs_sql_writes="it draws its sample from SQL",
    records_checked=lambda f: f.sampled,
)
