"""The status page's values as text: times, durations, counts, a rule's figure, a state badge.
Escaped where a value could carry markup."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape

from monitor.core.rules import Observation, RuleSpec
from monitor.core.ruleset import (
    CHECK_FAILED_PREFIX,
    CHECK_FAILURES_METRIC,
    STORE_UNREACHABLE_METRIC,
)
from monitor.model import CheckReport
from monitor.scheduling import RunRecord


def last_report(history: Sequence[RunRecord]) -> CheckReport | None:
    return next((r.report for r in reversed(history) if r.report is not None), None)


def badge(state: str) -> str:
    return f'<span class="badge {escape(state)}">{escape(state)}</span>'


def time_tag(moment: datetime) -> str:
    text = moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return f'<time datetime="{text}">{text}</time>'


def window_span(report: CheckReport | None) -> str:
    if report is None:
        return ""
    return f" · window {time_tag(report.window.start)} – {time_tag(report.window.end)}"


def next_run(moment: datetime | None) -> str:
    return "" if moment is None else f", next {time_tag(moment)}"


def seconds_text(seconds: float) -> str:
    return f"{seconds:g} s" if seconds < 120 else f"{seconds / 60:g} min"


def duration_text(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds:.2f} s"


def count_text(value: float | None) -> str:
    return "—" if value is None else str(int(value))


def rule_value(spec: RuleSpec, value: float) -> str:
    if spec.metric in (CHECK_FAILURES_METRIC, STORE_UNREACHABLE_METRIC):
        return escape(f"{value:g}")
    text = f"{value * 100:.4f}".rstrip("0").rstrip(".")
    return f"{'0' if text == '-0' else text} %"


def observation_text(spec: RuleSpec, obs: Observation) -> str:
    text = rule_value(spec, obs.value)
    if obs.lower is not None and obs.upper is not None:
        text += f" (95 % CI {rule_value(spec, obs.lower)} – {rule_value(spec, obs.upper)})"
    if spec.name.startswith(CHECK_FAILED_PREFIX):
        text += " failed runs in a row"
    return text
