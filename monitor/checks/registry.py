"""The checks, as a tuple of specs (`monitor.checks.spec.CheckSpec`), in the order `check all`
and the daemon run them. The CLI, the daemon's schedule, the metrics and the alert rules read
this tuple; adding a check is its module and one entry here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Final

from monitor.checks import counts, orphans, quality, sampling
from monitor.checks.context import CheckContext
from monitor.checks.spec import CheckFunction, CheckRequest, CheckSpec
from monitor.config import Settings
from monitor.core.alertmap import Figure
from monitor.errors import UsageError
from monitor.model import CheckReport

CHECKS: Final[tuple[CheckSpec, ...]] = (
    orphans.SPEC,
    counts.SPEC,
    # `quality` before `sample`: its read covers what `sample` needs, so `check all` draws and
    # fetches one sample for both (see SampleCache).
    quality.SPEC,
    sampling.SPEC,
)


def by_name(checks: tuple[CheckSpec, ...]) -> dict[str, CheckSpec]:
    names = [spec.name for spec in checks]
    if len(set(names)) != len(names):
        raise ValueError(f"check names must be unique: {names}")
    return {spec.name: spec for spec in checks}


def rule_figures(checks: tuple[CheckSpec, ...]) -> dict[str, Figure]:
    """Every alert rule a check's figure feeds, read from the specs."""
    figures: dict[str, Figure] = {}
    for spec in checks:
        for rule, figure in spec.rules.items():
            if rule in figures:
                raise ValueError(f"rule {rule!r} is declared by two checks")
            figures[rule] = replace(figure, check=spec.name)
    return figures


#: Name -> spec, in `CHECKS` order.
REGISTRY: Final[Mapping[str, CheckSpec]] = by_name(CHECKS)
#: Rule name -> its figure: every `[alerts.thresholds]` rule plus `count_variance`.
RULE_FIGURES: Final[Mapping[str, Figure]] = rule_figures(CHECKS)


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


__all__ = ["CHECKS", "REGISTRY", "RULE_FIGURES", "CheckFunction", "CheckRequest", "run_check"]
