"""A new check is its module and one entry in `checks/registry.py` `CHECKS`: the CLI's run, the
daemon's schedule, the metrics, the alert figures and titles and the `check_failed:` rule all
follow from its spec and its typed figures. Here the test file plays the check's module; the
registry entry is patched in exactly as the tuple would hold it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import anyio
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from monitor.alerts.messages import rule_title
from monitor.alerts.wiring import build_rules
from monitor.checks import registry
from monitor.checks.registry import REGISTRY, RULE_FIGURES, run_check
from monitor.checks.spec import CheckRequest, CheckSpec, figure_gauge
from monitor.config import settings_from_dict
from monitor.core.alertmap import Figure, report_observations
from monitor.core.figures import Figures
from monitor.daemon import interval_for
from monitor.model import CheckReport, Finding, FindingKind, Window
from monitor.telemetry.metrics import Metrics, records_checked

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


# --- the new check's module -------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class LatencyFigures(Figures):
    consistency: float
    examined: int


async def latency_check(context: Any, request: CheckRequest) -> CheckReport:
    window = request.window(timedelta(minutes=10), timedelta(minutes=2))
    figures = LatencyFigures(consistency=0.97, examined=40)
    findings = (Finding(FindingKind.MISSING_IN_SQL, 7),)
    return CheckReport("latency", "t", "log_id", window, False, figures, findings)


SPEC = CheckSpec(
    name="latency",
    section="orphans",  # runs on [checks.orphans] interval
    run=latency_check,
    figures=LatencyFigures,
    rules={
        "late_writes": Figure(
            lambda f: f.consistency, kinds=(FindingKind.MISSING_IN_SQL,), title="Late writes"
        )
    },
    gauges=(figure_gauge("dualwrite.consistency", lambda f: f.consistency),),
    records_checked=lambda f: f.examined,
)


# --- the registry entry -----------------------------------------------------------------------


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    checks = (*registry.CHECKS, SPEC)
    monkeypatch.setattr(registry, "CHECKS", checks)
    for name, spec in registry.by_name(checks).items():
        monkeypatch.setitem(REGISTRY, name, spec)  # type: ignore[index]
    for rule, figure in registry.rule_figures(checks).items():
        monkeypatch.setitem(RULE_FIGURES, rule, figure)  # type: ignore[index]
    yield


def test_the_daemon_schedules_it_on_its_sections_interval(
    registered: None, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_from_dict({"checks": {"orphans": {"interval": "7m"}}})
    with caplog.at_level(logging.WARNING):
        assert interval_for(settings, "latency") == timedelta(minutes=7)
    assert "daemon.no_interval_for_check" not in caplog.text


@dataclass
class _NoStores:
    """The new check reads no store; `run_check` still gives it its own DynamoDB view."""

    dynamo: Any = field(default_factory=lambda: SimpleNamespace(for_run=lambda: None))
    warnings: list[str] = field(default_factory=list)


def test_it_runs_by_name_and_has_a_check_failed_rule(registered: None) -> None:
    context: Any = _NoStores()
    report = anyio.run(run_check, "latency", context, CheckRequest(now=NOW))
    assert report.check == "latency" and report.window.end == NOW - timedelta(minutes=2)
    names = [rule.name for rule in build_rules(settings_from_dict({}), REGISTRY)]
    assert "check_failed:latency" in names


def test_its_figures_reach_the_alert_rules_with_their_title(registered: None) -> None:
    window = Window(NOW - timedelta(minutes=10), NOW)
    figures = LatencyFigures(consistency=0.97, examined=40)
    report = CheckReport("latency", "t", "log_id", window, False, figures)
    observed = report_observations(report, RULE_FIGURES)
    assert set(observed) == {"late_writes"} and observed["late_writes"].value == 0.97
    assert rule_title("late_writes") == "Late writes"


def test_its_gauges_and_records_checked_are_exported(registered: None) -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    try:
        window = Window(NOW - timedelta(minutes=10), NOW)
        figures = LatencyFigures(consistency=0.5, examined=40)
        report = CheckReport("latency", "t", "log_id", window, False, figures)
        assert records_checked(report) == 40
        Metrics(provider.get_meter("test")).record_report(report)
        data = reader.get_metrics_data()
        assert data is not None
        found = {
            metric.name: [(dict(p.attributes or {}), p.value) for p in metric.data.data_points]  # type: ignore[union-attr]
            for resource in data.resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
        }
        assert found["dualwrite.consistency"] == [({"table": "t"}, 0.5)]
        assert found["dualwrite.records_checked"] == [({"check": "latency"}, 40)]
    finally:
        provider.shutdown()


def test_a_rule_declared_by_two_checks_is_refused() -> None:
    twin = CheckSpec(
        name="twin",
        section="counts",
        run=latency_check,
        figures=LatencyFigures,
        rules=dict(SPEC.rules),
    )
    with pytest.raises(ValueError, match="declared by two checks"):
        registry.rule_figures((SPEC, twin))
    with pytest.raises(ValueError, match="unique"):
        registry.by_name((SPEC, SPEC))


def test_its_summary_is_its_figures_and_reads_back() -> None:
    figures = LatencyFigures(consistency=0.5, examined=40)
    window = Window(NOW - timedelta(minutes=10), NOW)
    report = CheckReport("latency", "t", "log_id", window, False, figures)
    assert dict(report.summary) == {"consistency": 0.5, "examined": 40}
    assert LatencyFigures.from_summary(report.summary) == figures
