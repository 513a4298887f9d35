"""Typed figures for tests that care about a few of them: `figures_for("counts", {...})` is the
check's figures dataclass with those figures (written as the JSON `summary` has them) over
neutral ones, parsed by the one parser (`Figures.from_summary`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from monitor.checks.counts import CountsFigures
from monitor.checks.orphans import OrphansFigures
from monitor.checks.quality import QualityFigures
from monitor.checks.sampling import SampleFigures
from monitor.checks.slices import TallyFigures
from monitor.core.figures import Figures
from monitor.stream.report import StreamFigures

NEUTRAL: dict[str, Figures] = {
    "counts": CountsFigures(
        tally=TallyFigures(
            sql_count=0,
            dynamodb_count=0,
            variance_percent=0.0,
            missing_in_dynamodb=0,
            missing_in_sql=0,
            status_divergence=0,
            invalid_data=0,
            agreed_absent=0,
            consistency=1.0,
            threshold_percent=0.1,
        ),
        slices=0,
        partitions=0,
        read_units=0.0,
        discovery_last_run=None,
        discovery_progress=None,
        discovery_coverage=1.0,
    ),
    "orphans": OrphansFigures(
        records=0,
        sql_pending=0,
        dynamodb_pending=0,
        missing_in_dynamodb=0,
        missing_in_sql=0,
        status_divergence=0,
        stuck_pending=0,
        invalid_data=0,
        orphans=0,
        orphan_ratio=0.0,
        write_success=1.0,
        transaction_completion=1.0,
        pending_source="index dwm_pending",
        read_units=0.0,
    ),
    "sample": SampleFigures(
        sampled=0,
        window_records=0,
        accuracy=None,
        bad_records=0,
        missing_in_dynamodb=0,
        invalid_records=0,
        agreed_absent=0,
        mismatches_by_field={},
        samples_needed=None,
        target_percent=99.9,
        alert_below_percent=None,
        sampling="all",
        keep_probability=1.0,
        read_units=0.0,
    ),
    "quality": QualityFigures(
        sampled=0,
        window_records=0,
        grade=None,
        min_grade="B",
        clean_records=0,
        records_with_findings=0,
        clean_share=None,
        invalid_data=0,
        index_integrity=0,
        rule_violation=0,
        violations_by_rule={},
        findings_by_attribute={},
        missing_in_dynamodb=0,
        agreed_absent=0,
        rules_checked=0,
        indexes_checked=(),
        sampling="all",
        read_units=0.0,
    ),
    "stream": StreamFigures(
        records_checked=0,
        verified=0,
        verified_by_direction={},
        records_with_findings=0,
        accuracy=None,
        findings_by_kind={},
        lag_s=None,
    ),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class FakeFigures(Figures):
    """The figures of a check that exists only in a test."""

    sql_count: int = 0
    consistency: float = 1.0


def figures_for(check: str, summary: Mapping[str, Any] | None = None) -> Figures:
    """`check`'s figures with `summary`'s over neutral ones (ValueError for a malformed one)."""
    neutral = NEUTRAL.get(check, FakeFigures())
    return type(neutral).from_summary({**neutral.to_summary(), **(summary or {})})
