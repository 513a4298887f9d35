"""The stream verifier inside the daemon: run while this replica leads, restarted after a
failure (backing off), its figures reported every `report_interval`, and a window it lost to
the stream's retention judged by the interval checks instead."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import anyio

from monitor.checks.registry import CheckRequest, run_check
from monitor.config import Settings
from monitor.errors import MonitorError, first_monitor_error
from monitor.leader import Role
from monitor.model import Outcome, Window
from monitor.runtime import StoreContext
from monitor.scheduling import RunRecord
from monitor.stream.report import STREAM_CHECK
from monitor.stream.service import StreamService

#: The daemon's logger (its JSON lines name it), whichever of its modules logs.
log = logging.getLogger("monitor.daemon")

#: The stream verifier, after a failure, starts again after this (doubling up to a minute).
STREAM_RESTART = 1.0
#: Interval checks that cover a gap the stream lost to its retention.
GAP_CHECKS = ("orphans", "counts", "sample")

Deliver = Callable[[RunRecord], Awaitable[None]]


class StreamSupervisor:
    """Runs `service` while `leading()`; each failure and each report becomes a `RunRecord`."""

    def __init__(
        self,
        settings: Settings,
        service: StreamService,
        *,
        leading: Callable[[], bool],
        deliver: Deliver,
        tick: float,
    ) -> None:
        self._settings = settings
        self._service = service
        self._leading = leading
        self._deliver = deliver
        self._tick = tick
        self._scope: anyio.CancelScope | None = None
        #: Set when this replica becomes the leader: the stream verifier starts at once.
        self._now_leading: anyio.Event | None = None

    async def run(self) -> None:
        """The stream verifier while this replica leads; after a failure, again (backing off)."""
        service = self._service
        delay = STREAM_RESTART
        while True:
            if not self._leading():
                self._now_leading = anyio.Event()
                with anyio.move_on_after(self._tick):
                    await self._now_leading.wait()
                continue
            started = anyio.current_time()
            with anyio.CancelScope() as scope:
                self._scope = scope
                try:
                    await service.run()
                except Exception as exc:  # a store is down: said once, then tried again
                    found = first_monitor_error(exc)
                    service.error = str(found) if found is not None else type(exc).__name__
                    if found is None:
                        log.exception("stream.failed")
                    else:
                        log.warning("stream.failed", extra={"error": str(found)})
                    # Counted and alerted like a failed check run (check_failed:stream).
                    failed = RunRecord(
                        STREAM_CHECK,
                        "stream",
                        datetime.now(UTC),
                        None,
                        Outcome.ERROR,
                        None,
                        found or exc,
                    )
                    await self._deliver(failed)
            self._scope = None
            if scope.cancelled_caught:
                continue  # leadership lost: wait to lead again
            delay = STREAM_RESTART if anyio.current_time() - started > 60 else min(delay * 2, 60)
            await anyio.sleep(delay)

    async def reports(self) -> None:
        """The stream's figures as a `stream` report every report_interval, while leading."""
        interval = self._settings.stream.report_interval.total_seconds()
        while True:
            await anyio.sleep(interval)
            report = self._service.take_report()
            if not self._leading():
                continue
            record = RunRecord(
                STREAM_CHECK, "stream", report.window.start, None, report.outcome, report
            )
            await self._deliver(record)

    def on_role(self, old: Role, new: Role) -> None:
        """Leadership changed: stop reading at once when it is lost, start at once when won."""
        if old is Role.LEADER and self._scope is not None:
            self._scope.cancel()  # another replica may already read the stream
        if new is Role.LEADER and self._now_leading is not None:
            self._now_leading.set()


async def check_gap(
    context: StoreContext, settings: Settings, window: Window, shard: str, deliver: Deliver
) -> None:
    """Changes the stream lost: the interval checks judge that window instead."""
    max_window = settings.checks.max_window
    start = window.start
    while start < window.end:
        end = min(window.end, start + max_window)
        for name in GAP_CHECKS:
            began = datetime.now(UTC)
            request = CheckRequest(now=began, since=start, until=end)
            try:
                report = await run_check(name, context, request)
            except MonitorError as exc:
                log.warning(
                    "stream.gap_check_failed", extra={"check_name": name, "error": str(exc)}
                )
                record = RunRecord(name, f"gap-{shard}", began, None, Outcome.ERROR, None, exc)
            else:
                elapsed = (datetime.now(UTC) - began).total_seconds()
                record = RunRecord(name, f"gap-{shard}", began, elapsed, report.outcome, report)
            await deliver(record)
        start = end
