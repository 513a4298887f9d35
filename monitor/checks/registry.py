"""The checks, as a tuple of specs (`monitor.checks.spec.CheckSpec`), in the order `check all`
and the daemon run them. The CLI, the daemon's schedule, the metrics and the alert rules read
this tuple; adding a check is its module and one entry here. `report_spec` also knows the other
report the daemon delivers (the stream's), for the metrics.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Final

from monitor.checks import counts, orphans, quality, sampling
from monitor.checks.context import CheckContext
from monitor.checks.spec import CheckFunction, CheckRequest, CheckSpec, ReportSpec
from monitor.config import Settings
from monitor.core.alertmap import Figure
from monitor.errors import UsageError
from monitor.model import CheckReport
from monitor.stream import report as stream_report

CHECKS: Final[tuple[CheckSpec[Any], ...]] = (
    orphans.SPEC,
    counts.SPEC,
    # `quality` before `sample`: its read covers what `sample` needs, so `check all` draws and
    # fetches one sample for both (see SampleCache).
    quality.SPEC,
    sampling.SPEC,
)


def by_name(checks: tuple[CheckSpec[Any], ...]) -> dict[str, CheckSpec[Any]]:
    names = [spec.name for spec in checks]
    if len(set(names)) != len(names):
        raise ValueError(f"check names must be unique: {names}")
    return {spec.name: spec for spec in checks}


def rule_figures(checks: tuple[CheckSpec[Any], ...]) -> dict[str, Figure[Any]]:
    """Every alert rule a check's figure feeds, read from the specs (each figure reads the
    spec's figures type unless it names another, as the one the stream's report shares)."""
    figures: dict[str, Figure[Any]] = {}
    for spec in checks:
        for rule, figure in spec.rules.items():
            if rule in figures:
                raise ValueError(f"rule {rule!r} is declared by two checks")
            figures[rule] = replace(figure, check=spec.name, reads=figure.reads or spec.figures)
    return figures


#: Name -> spec, in `CHECKS` order.
REGISTRY: Final[Mapping[str, CheckSpec[Any]]] = by_name(CHECKS)
#: Rule name -> its figure: every `[alerts.thresholds]` rule plus `count_variance`.
RULE_FIGURES: Final[Mapping[str, Figure[Any]]] = rule_figures(CHECKS)
#: The reports the daemon delivers that no check makes (by their `CheckReport.check`).
OTHER_REPORTS: Final[Mapping[str, ReportSpec[Any]]] = {
    stream_report.STREAM_CHECK: stream_report.SPEC,
}


def report_spec(name: str) -> ReportSpec[Any] | None:
    """What a report under `name` carries: its check's spec, or the stream's."""
    return REGISTRY.get(name) or OTHER_REPORTS.get(name)


def report_sources(settings: Settings) -> list[str]:
    """Every name a report comes under in the daemon: the checks, and `stream` when enabled."""
    return [*REGISTRY, *(("stream",) if settings.stream.enabled else ())]


async def run_check(name: str, context: CheckContext, request: CheckRequest) -> CheckReport:
    spec = REGISTRY.get(name)
    if spec is None:
        raise UsageError(f"unknown check {name!r}; known: {', '.join(REGISTRY)}")
    # Its own view of DynamoDB, so `read_units` counts this run alone, not overlapping ones.
    report = await spec.run(replace(context, dynamo=context.dynamo.for_run()), request)
    if context.warnings:
        report = replace(report, warnings=(*context.warnings, *report.warnings))
    return report


__all__ = [
    "CHECKS",
    "REGISTRY",
    "report_spec",
    "RULE_FIGURES",
    "CheckFunction",
    "CheckRequest",
    "run_check",
]
