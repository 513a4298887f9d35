"""The daemon's own repair (`[repair] enabled = true`): every `[repair] interval`, one repair run
on the daemon's stores — the same plan and conditional, audited apply as `repair --apply`, at
most `[repair] max_actions_per_run` actions, by `daemon`. Off by default: the monitor writes
nothing outside its own schema unless this is on or `repair --apply` is run. With `[ha]`, only
the leader repairs.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import anyio

from monitor.config import Settings
from monitor.core.plan import repair_figures
from monitor.errors import MonitorError, describe_error
from monitor.repair.run import RepairReport, RepairRequest, repair_in
from monitor.repair.status import RepairRun, RepairStatus
from monitor.runtime import StoreContext

log = logging.getLogger(__name__)


class ScheduledRepair:
    def __init__(
        self,
        settings: Settings,
        context: Callable[[], Awaitable[StoreContext]],
        leading: Callable[[], bool],
    ) -> None:
        self.settings = settings
        self._context = context
        self._leading = leading
        self.runs = 0
        self.last: RepairRun | None = None

    async def run(self) -> None:
        """Repair every interval until cancelled (the daemon's task group owns it)."""
        interval = self.settings.repair.interval.total_seconds()
        while True:
            await anyio.sleep(interval)
            if self._leading():
                await self.once()

    async def once(self) -> RepairReport | None:
        started = datetime.now(UTC)
        request = RepairRequest(
            now=started,
            apply=True,
            limit=self.settings.repair.max_actions_per_run,
            by="daemon",
        )
        try:
            report = await repair_in(await self._context(), request)
        except MonitorError as exc:  # a store down: this run is lost, the next one tries again
            error = describe_error(exc)
            log.warning("repair.failed", extra={"error": error})
            self.last = RepairRun(_iso(started), error=error)
            return None
        figures = repair_figures([r.result for r in report.results])
        self.runs += 1
        self.last = RepairRun(_iso(started), plan=report.plan.id, figures=figures)
        log.info("repair.run", extra={"plan": report.plan.id, "summary": figures.to_summary()})
        return report

    def status(self) -> RepairStatus:
        return RepairStatus(
            enabled=True,
            interval_seconds=self.settings.repair.interval.total_seconds(),
            runs=self.runs,
            last_run=self.last,
        )

    def status_json(self) -> dict[str, Any]:
        return self.status().as_json()


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
