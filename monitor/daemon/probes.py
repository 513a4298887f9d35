"""What the daemon tells its HTTP probes (`monitor.telemetry.server.Probe`): /healthz, /readyz,
/status and the status page, read from the daemon's state without changing it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from monitor import __version__
from monitor.checks.registry import RULE_FIGURES
from monitor.config import Settings
from monitor.core.rules import RuleSpec
from monitor.leader import LeaderElector
from monitor.repair.scheduled import ScheduledRepair
from monitor.repair.status import REPAIR_OFF, RepairStatus
from monitor.report import iso
from monitor.scheduling import CheckScheduler
from monitor.stream.service import StreamService
from monitor.telemetry.logs import redact_text
from monitor.telemetry.status import StatusBoard
from monitor.telemetry.statuspage import StatusPage, render_status_page
from monitor.verify.background import BackgroundVerify

#: A run still going this long past its timeout means cancellation is not working: unhealthy.
OVERDUE_GRACE = 30.0


class DaemonProbes:
    """The probes' half of `monitor.daemon.Daemon`, which sets these attributes."""

    settings: Settings
    stream: StreamService | None
    verify: BackgroundVerify | None
    _scheduler: CheckScheduler | None
    _leader: LeaderElector | None
    _repair: ScheduledRepair | None
    _board: StatusBoard
    _rules: list[RuleSpec]
    _stopped: dict[str, str]
    _started_at: datetime
    _stopping: bool
    _tick: float

    @property
    def leading(self) -> bool:
        return self._leader is None or self._leader.leading

    def health(self) -> tuple[bool, str]:
        scheduler = self._scheduler
        if scheduler is None:
            return True, "starting"
        if not self._stopping:
            age = scheduler.clock() - scheduler.last_tick
            if age > max(10.0, 5 * self._tick):
                return False, f"the scheduler has not ticked for {age:.0f}s"
        overdue = scheduler.overdue(OVERDUE_GRACE)
        if overdue:
            return False, f"{', '.join(overdue)} still running well past check_timeout"
        return True, "ok"

    def ready(self) -> tuple[bool, str]:
        if self._stopping:
            return False, "shutting down"
        if self._scheduler is None or not self._scheduler.started:
            return False, "starting"
        return True, "ok"

    def status(self) -> dict[str, Any]:
        scheduler = self._scheduler
        leader = self._leader
        ready, _ = self.ready()
        return {
            "version": __version__,
            "started_at": iso(self._started_at),
            "ready": ready,
            "stopping": self._stopping,
            "ha": leader is not None,
            "role": "single" if leader is None else str(leader.role),
            "leader": self.leading,
            "leader_reason": None if leader is None else redact_text(leader.reason),
            "in_flight": [] if scheduler is None else scheduler.running(),
            "checks": self._board.checks_json(
                {} if scheduler is None else scheduler.next_run_times()
            ),
            "alerts": self._board.alerts_json(),
            "phase": self._board.phase_json(),
            "stopped": dict(self._stopped),
            "repair": self._repair_status().as_json(),
            "stream": {"enabled": False} if self.stream is None else self.stream.status_json(),
            "verify": {"enabled": False} if self.verify is None else self.verify.status_json(),
        }

    def _repair_status(self) -> RepairStatus:
        return REPAIR_OFF if self._repair is None else self._repair.status()

    def status_page(self) -> str:
        scheduler = self._scheduler
        leader = self._leader
        return render_status_page(
            StatusPage(
                version=__version__,
                table=self.settings.mapping.sql_table,
                role="single" if leader is None else str(leader.role),
                started_at=self._started_at,
                now=datetime.now(UTC),
                checks=self._board.views({} if scheduler is None else scheduler.next_run_times()),
                rules=self._rules,
                figures=RULE_FIGURES,
                alerts=self._board.alerts,
                phase=self._board.phase,
                stopped=dict(self._stopped),
                repair=self._repair_status(),
            )
        )
