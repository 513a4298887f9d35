"""The status page at `/`: what on-call needs at a glance, server-rendered, readable without JS.

Pure: a `StatusPage` value in, an HTML document out. For each check: its last run (outcome,
window, duration, error), each alert rule's figure against its threshold with a small chart over
the last runs, and its findings by kind with example keys. Then the rules (firing, pending,
resolving, recently resolved) and the silences. Keys only, never a field value: a finding's
`detail`, statuses and sort keys are not shown (a free-text value must not reach a page).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from html import escape
from typing import Any

from monitor.core.alertmap import Figure, report_observations
from monitor.core.phases import ORDER, Phase
from monitor.core.rules import MAX_EXAMPLE_KEYS, RuleSpec, RuleState, Silence, breaches
from monitor.errors import describe_error
from monitor.model import CheckReport, Outcome
from monitor.repair.status import REPAIR_OFF, RepairStatus
from monitor.scheduling import RunRecord
from monitor.telemetry.charts import sparkline
from monitor.telemetry.html import page
from monitor.telemetry.logs import redact_text
from monitor.telemetry.pagetext import (
    badge,
    count_text,
    duration_text,
    last_report,
    next_run,
    observation_text,
    rule_value,
    seconds_text,
    time_tag,
    window_span,
)

#: The page reloads itself this often (a meta refresh: no script).
REFRESH_SECONDS = 30


@dataclass(frozen=True, slots=True)
class CheckView:
    name: str
    interval_seconds: float
    next_run_at: datetime | None
    runs: Mapping[str, int]
    #: The last runs, oldest first.
    history: Sequence[RunRecord]


@dataclass(frozen=True, slots=True)
class AlertsView:
    """The alert rules' state as of `at` (read after the last run), or why it is unknown."""

    at: datetime
    states: Mapping[str, RuleState] = field(default_factory=dict)
    silences: Sequence[Silence] = ()
    #: Recently resolved incidents: (rule, resolved at), newest first.
    resolved: Sequence[tuple[str, datetime]] = ()
    unavailable: str | None = None


@dataclass(frozen=True, slots=True)
class PhaseView:
    """The migration phase as last read from the monitor's schema (CONTRACT §4b), or why not."""

    at: datetime
    phase: Phase | None = None
    #: The change that entered it: when, by whom, and whether it was a rollback.
    since: datetime | None = None
    by: str | None = None
    rollback: bool = False
    unavailable: str | None = None


@dataclass(frozen=True, slots=True)
class StatusPage:
    version: str
    table: str
    role: str
    started_at: datetime
    now: datetime
    checks: Sequence[CheckView]
    rules: Sequence[RuleSpec]
    #: Which report figure each rule reads (the checks declare them).
    figures: Mapping[str, Figure[Any]] = field(default_factory=dict)
    alerts: AlertsView | None = None
    phase: PhaseView | None = None
    #: Checks the phase stops (in `dynamo_only`), with the reason.
    stopped: Mapping[str, str] = field(default_factory=dict)
    #: The daemon's own repair (`/status` `repair`).
    repair: RepairStatus = REPAIR_OFF


def render_status_page(status: StatusPage) -> str:
    body = [
        f"<h1>Status of <code>{escape(status.table)}</code></h1>",
        f'<p class="muted">version {escape(status.version)} · role {escape(status.role)}'
        f" · started {time_tag(status.started_at)} · page generated {time_tag(status.now)}"
        f" (reloads every {REFRESH_SECONDS} s)</p>",
        _attention(status),
        _phase(status.phase, status.stopped, status.repair),
        *(_check(view, status.rules, status.figures) for view in status.checks),
        _rules(status),
    ]
    return page("dualwrite-monitor status", "".join(body), refresh_seconds=REFRESH_SECONDS)


# --- the summary line ------------------------------------------------------------------------


def _attention(status: StatusPage) -> str:
    failing = [
        (v.name, v.history[-1].outcome)
        for v in status.checks
        if v.history and v.history[-1].outcome is not Outcome.OK
    ]
    firing = (
        []
        if status.alerts is None
        else sorted(r for r, s in status.alerts.states.items() if s.active)
    )
    if not failing and not firing:
        return (
            '<section class="card" id="attention"><p>All checks ok; no rule firing.</p></section>'
        )
    items = [
        f'<li>check <a href="#check-{escape(name)}">{escape(name)}</a>: {badge(str(outcome))}</li>'
        for name, outcome in failing
    ]
    items += [
        f'<li>rule <a href="/runbook#{escape(rule)}">{escape(rule)}</a> {badge("firing")}</li>'
        for rule in firing
    ]
    return (
        '<section class="card" id="attention"><h2>Needs attention</h2>'
        f"<ul>{''.join(items)}</ul></section>"
    )


# --- the migration phase ------------------------------------------------------------------------


def _phase(
    view: PhaseView | None,
    stopped: Mapping[str, str] | None = None,
    repair: RepairStatus = REPAIR_OFF,
) -> str:
    head = '<section class="card" id="phase"><h2>Migration phase</h2>'
    tail = _stopped(stopped or {}) + _repair(repair) + "</section>"
    if view is None:
        return f'{head}<p class="muted">Not read yet.</p>{tail}'
    error = (
        ""
        if view.unavailable is None
        else f'<p class="error">Phase unavailable: {escape(view.unavailable)}'
        " (the phase below is the last one read)</p>"
    )
    current = view.phase
    if current is None:
        return f"{head}{error}{tail}"
    steps = "".join(
        f'<li class="{"current" if step is current else "step"}">'
        f"{'<strong>' if step is current else ''}<code>{escape(step)}</code>"
        f"{'</strong>' if step is current else ''}</li>"
        for step in ORDER
    )
    if view.since is None:
        origin = "no phase change recorded yet (the default)"
    else:
        how = "rolled back" if view.rollback else "entered"
        origin = f"{how} {time_tag(view.since)} by <code>{escape(view.by or '?')}</code>"
    return (
        f'{head}{error}<ol class="phases" data-phase="{escape(str(current))}">{steps}</ol>'
        f'<p>{origin} · <a href="/runbook#migration-phases">what each phase means</a>'
        f' · <span class="muted">as of {time_tag(view.at)}</span></p>{tail}'
    )


def _stopped(stopped: Mapping[str, str]) -> str:
    if not stopped:
        return ""
    items = "".join(
        f"<li><code>{escape(name)}</code>: {escape(reason)}</li>"
        for name, reason in sorted(stopped.items())
    )
    return f'<p>Checks stopped in this phase:</p><ul class="stopped">{items}</ul>'


def _repair(repair: RepairStatus) -> str:
    if not repair.enabled:
        return (
            '<p class="muted" id="repair">Repair by the daemon: off (read-only;'
            " <code>[repair] enabled</code>)</p>"
        )
    last = repair.last_run
    every = f"every {repair.interval_seconds:g} s, {repair.runs} runs"
    if last is not None and last.error is not None:
        done = f"; last run failed: {escape(last.error)}"
    elif last is not None and last.figures is not None:
        figures = last.figures
        done = (
            f"; last run applied {figures.applied}, skipped {figures.skipped},"
            f" failed {figures.failed}, left {figures.left}"
            f" (plan <code>{escape(last.plan or '')}</code>)"
        )
    else:
        done = "; no run yet"
    return f'<p id="repair">Repair by the daemon: on, {every}{done}</p>'


# --- one check ---------------------------------------------------------------------------------


def _check(view: CheckView, rules: Sequence[RuleSpec], figures: Mapping[str, Figure[Any]]) -> str:
    name = escape(view.name)
    runs = ", ".join(f"{escape(k)} {n}" for k, n in view.runs.items())
    head = f'<section class="card check" id="check-{name}"><h2>{name} '
    if not view.history:
        return (
            f'{head}<span class="badge">no run yet</span></h2>'
            f'<p class="muted">every {seconds_text(view.interval_seconds)}'
            f"{next_run(view.next_run_at)}</p></section>"
        )
    last = view.history[-1]
    parts = [
        f"{head}{badge(str(last.outcome))}</h2>",
        f"<p>Last run {time_tag(last.started_at)}, duration {duration_text(last.duration)}"
        f"{window_span(last.report)} · every {seconds_text(view.interval_seconds)}"
        f"{next_run(view.next_run_at)} · runs: {runs}</p>",
    ]
    if last.error is not None:
        parts.append(
            f'<p class="error"><strong>Error:</strong> '
            f"{escape(redact_text(describe_error(last.error)))}</p>"
        )
    parts.append(_figures(view, rules, figures))
    report = last_report(view.history)
    if report is not None:
        if report is not last.report:
            parts.append(
                f'<p class="muted">Findings of the last report ({window_span(report)}):</p>'
            )
        parts.append(_findings(report))
    parts.append("</section>")
    return "".join(parts)


def _figures(view: CheckView, rules: Sequence[RuleSpec], figures: Mapping[str, Figure[Any]]) -> str:
    """Each rule figure this check carries against its threshold, with its recent history."""
    watched = [r for r in rules if r.name in figures and figures[r.name].check == view.name]
    observed = [
        report_observations(r.report, figures) if r.report is not None else {} for r in view.history
    ]
    rows = []
    for spec in watched:
        series = [o.get(spec.name) for o in observed]
        # The last value known: a run that failed leaves the previous report's figure standing.
        last = next((o for o in reversed(series) if o is not None), None)
        values = [None if o is None else o.value for o in series]
        breach = last is not None and breaches(spec, last)
        rows.append(
            f'<tr class="{"breach" if breach else "within"}" data-rule="{escape(spec.name)}">'
            f'<td><a href="/runbook#{escape(spec.name)}">{escape(spec.name)}</a></td>'
            f"<td>{'—' if last is None else observation_text(spec, last)}</td>"
            f"<td>alert {escape(spec.direction)} {rule_value(spec, spec.threshold)}</td>"
            f"<td>{sparkline(values, label=f'{spec.name} over the last runs', threshold=spec.threshold)}"
            "</td></tr>"
        )
    findings = [None if r.report is None else float(len(r.report.findings)) for r in view.history]
    durations = [r.duration for r in view.history]
    rows.append(
        f"<tr><td>findings</td><td>{count_text(findings[-1])}</td><td></td>"
        f"<td>{sparkline(findings, label='findings over the last runs')}</td></tr>"
    )
    rows.append(
        f"<tr><td>duration</td><td>{duration_text(durations[-1])}</td><td></td>"
        f"<td>{sparkline(durations, label='duration over the last runs')}</td></tr>"
    )
    return (
        '<table class="figures"><tr><th>figure</th><th>last report</th><th>threshold</th>'
        f"<th>last {len(view.history)} runs</th></tr>{''.join(rows)}</table>"
    )


def _findings(report: CheckReport) -> str:
    if not report.findings:
        return "<p>No findings.</p>"
    counts = Counter(str(f.kind) for f in report.findings)
    examples: dict[str, dict[str, None]] = {}
    for finding in report.findings:
        keys = examples.setdefault(str(finding.kind), {})
        if len(keys) < MAX_EXAMPLE_KEYS:
            keys.setdefault(f"{report.key_column}={finding.key}", None)
    rows = "".join(
        f'<tr data-kind="{escape(kind)}"><td>{escape(kind)}</td><td>{n}</td><td class="keys">'
        + "".join(f"<code>{escape(key)}</code>" for key in examples[kind])
        + "</td></tr>"
        for kind, n in sorted(counts.items())
    )
    return (
        '<table class="findings"><tr><th>finding</th><th>count</th>'
        f"<th>example keys (up to {MAX_EXAMPLE_KEYS})</th></tr>{rows}</table>"
    )


# --- rules and silences --------------------------------------------------------------------------


def _rules(status: StatusPage) -> str:
    alerts = status.alerts
    parts = ['<section class="card" id="rules"><h2>Alert rules</h2>']
    if alerts is None:
        parts.append('<p class="muted">No rule evaluated yet.</p></section>')
        return "".join(parts)
    if alerts.unavailable is not None:
        parts.append(f'<p class="error">Alert state unavailable: {escape(alerts.unavailable)}</p>')
    parts.append(f'<p class="muted">as of {time_tag(alerts.at)}</p>')
    rows = []
    for spec in status.rules:
        state = alerts.states.get(spec.name, RuleState())
        obs = state.last_observation
        since = state.firing_since if state.active else state.streak_since
        shown = state.state != "ok" or obs is not None
        if not shown:
            continue
        rows.append(
            f'<tr data-rule="{escape(spec.name)}" data-state="{escape(state.state)}">'
            f'<td><a href="/runbook#{escape(spec.name)}">{escape(spec.name)}</a></td>'
            f"<td>{badge(state.state)}</td>"
            f"<td>{'' if since is None or state.state == 'ok' else time_tag(since)}</td>"
            f"<td>{'' if obs is None else observation_text(spec, obs)}</td>"
            f"<td>alert {escape(spec.direction)} {rule_value(spec, spec.threshold)}</td>"
            f'<td class="keys">'
            + (
                ""
                if obs is None
                else "".join(f"<code>{escape(k)}</code>" for k in obs.example_keys)
            )
            + "</td></tr>"
        )
    if rows:
        parts.append(
            "<table><tr><th>rule</th><th>state</th><th>since</th><th>last value</th>"
            f"<th>threshold</th><th>example keys</th></tr>{''.join(rows)}</table>"
        )
    else:
        parts.append("<p>No rule has been evaluated yet.</p>")
    if alerts.resolved:
        items = "".join(
            f'<li><a href="/runbook#{escape(rule)}">{escape(rule)}</a> resolved {time_tag(at)}</li>'
            for rule, at in alerts.resolved
        )
        parts.append(f"<h3>Recently resolved</h3><ul>{items}</ul>")
    parts.append("<h3>Silences</h3>")
    if alerts.silences:
        items = "".join(
            f"<tr><td><code>{escape(s.rule)}</code></td><td>{time_tag(s.starts_at)}</td>"
            f"<td>{time_tag(s.ends_at)}</td><td>{escape(s.reason)}</td>"
            f"<td>{escape(s.created_by)}</td></tr>"
            for s in alerts.silences
        )
        parts.append(
            "<table><tr><th>rule</th><th>from</th><th>until</th><th>reason</th><th>by</th></tr>"
            f"{items}</table>"
        )
    else:
        parts.append("<p>None.</p>")
    parts.append("</section>")
    return "".join(parts)
