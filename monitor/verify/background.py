"""The daemon's rolling verification (`[verify] enabled = true`): the history re-verified,
cycle after cycle, so a record changed long ago is caught.

Each cycle is a `verify` run of its own kind from `[verify] start` to now - settle: checkpointed
window by window (a restart resumes the cycle), its shards shared by every replica through
their advisory locks, its reads within `read_share` of the read budget. Coverage, rate and ETA
of the cycle in progress are on /status and exported as `dualwrite.verify.*`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import anyio
from opentelemetry.metrics import Meter

from monitor.checks.reporting import figures_of
from monitor.config import Settings
from monitor.errors import MonitorError, describe_error
from monitor.model import CheckReport
from monitor.report import iso
from monitor.runtime import StoreContext
from monitor.stores.budget import ShareOfBudget
from monitor.verify.online import VerifyRequest, verify_online
from monitor.verify.progress import Rates
from monitor.verify.report import VerifyFigures

log = logging.getLogger(__name__)

#: The run kind of the daemon's cycles (apart from the command's runs).
DAEMON = "daemon"
#: After a failed cycle (a store down), try again after this.
RETRY_AFTER = 30.0


class VerifyMetrics:
    def __init__(self, meter: Meter) -> None:
        self.coverage = meter.create_gauge(
            "dualwrite.verify.coverage",
            unit="1",
            description="windows done / windows in the background verification cycle",
        )
        self.rate = meter.create_gauge(
            "dualwrite.verify.rate", unit="1/s", description="records read per second"
        )
        self.eta = meter.create_gauge(
            "dualwrite.verify.eta", unit="s", description="time left in the cycle at its rate"
        )
        self.cycles = meter.create_counter(
            "dualwrite.verify.cycles", unit="1", description="cycles finished, by outcome"
        )


class BackgroundVerify:
    def __init__(
        self,
        settings: Settings,
        context: Callable[[], Awaitable[StoreContext]],
        metrics: VerifyMetrics,
        *,
        clock: Callable[[], float] = anyio.current_time,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self._context = context
        self.metrics = metrics
        self._clock = clock
        self._now = now
        self.cycles = 0
        self.current: dict[str, Any] | None = None
        self.last: dict[str, Any] | None = None
        self.error: str | None = None

    async def run(self) -> None:
        """Cycle after cycle until cancelled (the daemon's task group owns it)."""
        while True:
            try:
                report = await self.cycle()
            except MonitorError as exc:  # a store down: said once, the cycle resumes later
                self.error = describe_error(exc)
                log.warning("verify.failed", extra={"error": self.error})
                self.metrics.cycles.add(1, {"outcome": "error"})
                await anyio.sleep(RETRY_AFTER)
                continue
            self.error = None
            outcome = "ok" if report.ok else "inconsistent"
            self.metrics.cycles.add(1, {"outcome": outcome})
            await anyio.sleep(self.settings.verify.cycle_pause.total_seconds())

    async def cycle(self) -> CheckReport:
        context = await self._context()
        config = self.settings.verify
        budget = ShareOfBudget(context.dynamo.budget, config.read_share)
        started = self._now()
        rates = Rates(self._clock)
        self.current = {"started_at": iso(started)}

        def progress(done: int, total: int, records: int) -> None:
            rate, eta = rates.update(done, total, records)
            self.current = {
                "started_at": iso(started),
                "windows_done": done,
                "windows_total": total,
                "coverage": round(done / total, 6) if total else 1.0,
                "records": records,
                "records_per_second": round(rate, 1),
                "eta_seconds": None if eta is None else round(eta),
            }
            self.metrics.coverage.set(done / total if total else 1.0)
            self.metrics.rate.set(rate)
            if eta is not None:
                self.metrics.eta.set(eta)

        request = VerifyRequest(now=started, start=config.start_at, progress=progress)
        report = await verify_online(
            replace(context, dynamo=context.dynamo.with_budget(budget)), request, kind=DAEMON
        )
        self.cycles += 1
        figures = figures_of(report, VerifyFigures)
        self.last = {
            "started_at": iso(started),
            "finished_at": iso(self._now()),
            "window": {"start": iso(report.window.start), "end": iso(report.window.end)},
            "ok": report.ok,
            "findings": len(report.findings),
            "coverage": figures.coverage.to_summary(),
            "run_id": figures.run_id,
        }
        if figures.sample is not None:
            self.last["sample"] = figures.sample.to_summary()
        log.info("verify.cycle", extra={"run_id": self.last["run_id"], "ok": report.ok})
        return report

    def status_json(self) -> dict[str, Any]:
        return {
            "enabled": True,
            "start": self.settings.verify.start,
            "read_share": self.settings.verify.read_share,
            "cycles": self.cycles,
            "current": self.current,
            "last_cycle": self.last,
            "error": self.error,
        }
