"""What /status and the status page show: each check's runs, and the alert rules' state.

/status (JSON): the last run of each check, its outcome and key figures, run tallies. Figures
are counts and ratios from the report's summary; never field values, never findings' keys.
Error texts are the monitor's own one-line messages, masked by the log redactor. The board also
keeps the last `HISTORY` runs of each check (the page's charts) and the alert rules' state as
the alerts sink last read it.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from monitor.core.rules import RuleState, Silence
from monitor.errors import describe_error
from monitor.model import Outcome
from monitor.report import iso
from monitor.scheduling import RunRecord, key_figures
from monitor.telemetry.logs import redact_text
from monitor.telemetry.statuspage import AlertsView, CheckView, PhaseView

#: Runs of each check kept for the status page's charts.
HISTORY = 30
#: Resolved incidents listed on the status page.
RESOLVED_SHOWN = 10


@dataclass(slots=True)
class _CheckState:
    interval: float
    runs: Counter[str] = field(default_factory=Counter)
    last: RunRecord | None = None
    last_success_at: datetime | None = None
    history: deque[RunRecord] = field(default_factory=lambda: deque(maxlen=HISTORY))


class StatusBoard:
    def __init__(self, intervals: Mapping[str, float]) -> None:
        self._checks = {name: _CheckState(seconds) for name, seconds in intervals.items()}
        self._alerts: AlertsView | None = None
        self._phase: PhaseView | None = None
        self._resolved: deque[tuple[str, datetime]] = deque(maxlen=RESOLVED_SHOWN)

    def record(self, record: RunRecord) -> None:
        state = self._checks.setdefault(record.check, _CheckState(0.0))
        state.runs[str(record.outcome)] += 1
        state.last = record
        state.history.append(record)
        if record.outcome is not Outcome.ERROR:
            state.last_success_at = record.started_at

    def last_outcome(self, check: str) -> Outcome | None:
        state = self._checks.get(check)
        return None if state is None or state.last is None else state.last.outcome

    # --- alert rules (fed by the alerts sink after each evaluation) ---------------------------

    def record_alerts(
        self, states: Mapping[str, RuleState], silences: Sequence[Silence], at: datetime
    ) -> None:
        self._alerts = AlertsView(at, dict(states), tuple(silences), tuple(self._resolved))

    def record_resolved(self, rule: str, at: datetime) -> None:
        self._resolved.appendleft((rule, at))

    def alerts_unavailable(self, reason: str, at: datetime) -> None:
        """The rules' state could not be read: keep the last one known, say why."""
        last = self._alerts
        self._alerts = AlertsView(
            at,
            {} if last is None else last.states,
            () if last is None else last.silences,
            tuple(self._resolved),
            unavailable=redact_text(reason),
        )

    @property
    def alerts(self) -> AlertsView | None:
        return self._alerts

    # --- the migration phase (read by the daemon's phase watcher) -----------------------------

    def record_phase(self, view: PhaseView) -> None:
        if view.unavailable is not None:
            # Keep the phase last known beside the reason it could not be read again.
            last = self._phase
            view = PhaseView(
                view.at,
                None if last is None else last.phase,
                None if last is None else last.since,
                None if last is None else last.by,
                False if last is None else last.rollback,
                unavailable=redact_text(view.unavailable),
            )
        self._phase = view

    @property
    def phase(self) -> PhaseView | None:
        return self._phase

    def phase_json(self) -> dict[str, Any] | None:
        view = self._phase
        if view is None:
            return None
        return {
            "as_of": iso(view.at),
            "phase": None if view.phase is None else str(view.phase),
            "since": None if view.since is None else iso(view.since),
            "by": view.by,
            "rollback": view.rollback,
            "unavailable": view.unavailable,
        }

    def views(self, next_runs: Mapping[str, datetime | None]) -> list[CheckView]:
        return [
            CheckView(
                name,
                state.interval,
                next_runs.get(name),
                {str(o): state.runs.get(str(o), 0) for o in Outcome},
                tuple(state.history),
            )
            for name, state in self._checks.items()
        ]

    def alerts_json(self) -> dict[str, Any] | None:
        alerts = self._alerts
        if alerts is None:
            return None
        return {
            "as_of": iso(alerts.at),
            "unavailable": alerts.unavailable,
            "rules": {rule: state.state for rule, state in sorted(alerts.states.items())},
            "silences": len(alerts.silences),
        }

    def checks_json(self, next_runs: Mapping[str, datetime | None]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, state in self._checks.items():
            upcoming = next_runs.get(name)
            out[name] = {
                "interval_seconds": state.interval,
                "next_run_at": None if upcoming is None else iso(upcoming),
                "runs": {str(o): state.runs.get(str(o), 0) for o in Outcome},
                "last_success_at": None
                if state.last_success_at is None
                else iso(state.last_success_at),
                "last_run": None if state.last is None else run_json(state.last),
            }
        return out


def run_json(record: RunRecord) -> dict[str, Any]:
    out: dict[str, Any] = {
        "run_id": record.run_id,
        "started_at": iso(record.started_at),
        "duration_seconds": None if record.duration is None else round(record.duration, 3),
        "outcome": str(record.outcome),
        "error": None if record.error is None else redact_text(describe_error(record.error)),
    }
    report = record.report
    if report is not None:
        window: dict[str, Any] = {"start": iso(report.window.start), "end": iso(report.window.end)}
        out |= {
            "window": window,
            "ok": report.ok,
            "findings": len(report.findings),
            "figures": key_figures(report.summary),
            "warnings": len(report.warnings),
        }
    return out
