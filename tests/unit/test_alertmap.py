"""Which report figure each rule reads (monitor/core/alertmap.py)."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.checks.registry import RULE_FIGURES
from monitor.core.alertmap import example_keys, report_observations, run_observations
from monitor.core.rules import MAX_EXAMPLE_KEYS
from monitor.core.ruleset import (
    COUNT_VARIANCE,
    STORE_UNREACHABLE,
    THRESHOLD_METRICS,
    rules_from_thresholds,
)
from monitor.model import CheckReport, Finding, FindingKind, Window
from tests.figures import figures_for

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
WINDOW = Window(T0, T0 + timedelta(minutes=10))


def report(check: str, summary: dict[str, Any], findings: tuple[Finding, ...] = ()) -> CheckReport:
    return CheckReport(
        check=check,
        table="integration_logs",
        key_column="log_id",
        window=WINDOW,
        ok=False,
        figures=figures_for(check, summary),
        findings=findings,
    )


def test_every_threshold_rule_and_count_variance_has_exactly_one_figure() -> None:
    assert set(RULE_FIGURES) == {*THRESHOLD_METRICS, COUNT_VARIANCE}
    rules = rules_from_thresholds(
        {name: {"alert_below": 50.0} for name in THRESHOLD_METRICS},
        count_threshold_percent=0.1,
        failure_runs=3,
        checks=[],
    )
    # Only the rule that is sampled reads an interval.
    sampled = {rule.name for rule in rules if rule.sampled}
    assert sampled == {name for name, figure in RULE_FIGURES.items() if figure.interval}


def test_counts_report_feeds_consistency_and_variance_as_ratios() -> None:
    findings = (
        Finding(FindingKind.MISSING_IN_SQL, 9),
        Finding(FindingKind.STATUS_DIVERGENCE, 3),
        Finding(FindingKind.MISSING_IN_DYNAMODB, 7),
    )
    found = report_observations(
        report("counts", {"consistency": 0.9952, "variance_percent": 0.26}, findings), RULE_FIGURES
    )
    assert set(found) == {"data_consistency", COUNT_VARIANCE}
    assert found["data_consistency"].value == pytest.approx(0.9952)
    assert found[COUNT_VARIANCE].value == pytest.approx(0.0026)
    # Missing keys only, the report's order within the kinds' priority; never the divergence.
    assert found["data_consistency"].example_keys == ("log_id=7", "log_id=9")
    obs = found["data_consistency"]
    assert (obs.window_start, obs.window_end, obs.table) == (
        WINDOW.start,
        WINDOW.end,
        "integration_logs",
    )


def test_orphans_report_feeds_its_three_ratios() -> None:
    summary = {"orphan_ratio": 0.002, "write_success": 0.998, "transaction_completion": 0.997}
    found = report_observations(report("orphans", summary), RULE_FIGURES)
    assert {name: obs.value for name, obs in found.items()} == {
        "orphaned_records": 0.002,
        "write_success_rate": 0.998,
        "transaction_completion": 0.997,
    }


def test_sample_accuracy_carries_its_interval() -> None:
    accuracy = {"point": 0.963, "lower": 0.941, "upper": 0.977}
    found = report_observations(report("sample", {"accuracy": accuracy}), RULE_FIGURES)
    obs = found["field_accuracy"]
    assert (obs.value, obs.lower, obs.upper) == (0.963, 0.941, 0.977)


@pytest.mark.parametrize(
    "accuracy",
    [
        None,
        0.99,
        {"point": 0.99},
        {"point": 0.99, "lower": 0.995, "upper": 0.98},
        {"point": "high", "lower": 0.9, "upper": 1.0},
    ],
)
def test_a_sampled_figure_without_a_usable_interval_is_no_observation(accuracy: Any) -> None:
    # Typed figures hold an interval or None: a summary with anything else is refused when it
    # is read back, so it never reaches a rule either.
    try:
        sampled = report("sample", {"accuracy": accuracy})
    except ValueError:
        return
    assert report_observations(sampled, RULE_FIGURES) == {}


@pytest.mark.parametrize("value", [True, "0.99", math.nan, math.inf, None, [0.9]])
def test_unreadable_figures_are_skipped(value: Any) -> None:
    try:
        counted = report("counts", {"consistency": value})
    except ValueError:  # not a number: refused when the summary is read back
        assert not isinstance(value, float)
        return
    # (The neutral figures beside it still inform count_variance.)
    assert "data_consistency" not in report_observations(counted, RULE_FIGURES)


def test_a_figure_in_another_checks_report_is_not_read() -> None:
    assert report_observations(report("quality", {}), RULE_FIGURES) == {}
    # Nor one of another shape under a check's name.
    misfiled = replace(report("counts", {"consistency": 0.5}), figures=figures_for("orphans"))
    assert report_observations(misfiled, RULE_FIGURES) == {}


def test_run_observations_of_a_failure() -> None:
    found = run_observations(
        "counts",
        None,
        failures=3,
        unreachable=True,
        table="t",
        figures=RULE_FIGURES,
        cause="StoreUnavailable (X)",
    )
    assert set(found) == {"check_failed:counts", STORE_UNREACHABLE}
    assert found["check_failed:counts"].value == 3.0
    assert found[STORE_UNREACHABLE].value == 1.0
    assert found[STORE_UNREACHABLE].cause == "StoreUnavailable (X)"


def test_run_observations_of_a_success_and_of_an_unknown_error() -> None:
    ok = run_observations(
        "counts",
        report("counts", {"consistency": 1.0}),
        failures=0,
        unreachable=False,
        table="t",
        figures=RULE_FIGURES,
    )
    assert ok[STORE_UNREACHABLE].value == 0.0 and ok["check_failed:counts"].value == 0.0
    assert "data_consistency" in ok
    unknown = run_observations(
        "counts", None, failures=1, unreachable=None, table="t", figures=RULE_FIGURES
    )
    assert set(unknown) == {"check_failed:counts"}


def test_example_keys_are_distinct_capped_and_ordered_by_kind() -> None:
    findings = [Finding(FindingKind.MISSING_IN_SQL, k) for k in range(10)]
    findings.insert(3, Finding(FindingKind.STUCK_PENDING, 99))
    findings.append(Finding(FindingKind.MISSING_IN_SQL, 0))
    keys = example_keys(findings, "log_id", (FindingKind.STUCK_PENDING, FindingKind.MISSING_IN_SQL))
    assert keys == ("log_id=99", "log_id=0", "log_id=1", "log_id=2", "log_id=3")


@given(
    st.lists(
        st.tuples(
            st.sampled_from(list(FindingKind)),
            st.integers(min_value=-(2**63), max_value=2**63) | st.text(max_size=20),
        ),
        max_size=30,
    )
)
def test_example_keys_never_exceed_the_cap_and_come_from_the_findings(
    raw: list[tuple[FindingKind, int | str]],
) -> None:
    findings = [Finding(kind, key) for kind, key in raw]
    for figure in RULE_FIGURES.values():
        keys = example_keys(findings, "id", figure.kinds)
        assert len(keys) <= MAX_EXAMPLE_KEYS
        assert len(set(keys)) == len(keys)
        allowed = {f"id={f.key}" for f in findings if f.kind in figure.kinds}
        assert set(keys) <= allowed
        assert len(keys) == min(MAX_EXAMPLE_KEYS, len(allowed))


def test_the_stream_report_feeds_field_accuracy_as_sample_does() -> None:
    accuracy = {"point": 0.95, "lower": 0.9, "upper": 0.97}
    found = report_observations(report("stream", {"accuracy": accuracy}), RULE_FIGURES)
    assert set(found) == {"field_accuracy"}
    assert (found["field_accuracy"].lower, found["field_accuracy"].upper) == (0.9, 0.97)
    # Its figures under another report's name are read by no rule.
    misfiled = replace(report("stream", {"accuracy": accuracy}), check="counts")
    assert report_observations(misfiled, RULE_FIGURES) == {}
