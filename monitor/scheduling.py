"""Runs each check on its interval with APScheduler 3 (the only module that imports apscheduler).

Every run is bounded by `timeout` and accounted for: it ends as one `RunRecord` whatever happens
(a report, an error, a timeout, a cancellation), and so does a run APScheduler could not start
(skipped because the previous one is still in flight, or missed because the loop was late). A
hung check therefore shows up as errors, never as silence (the failure of APScheduler #423).

Records go into a stream; `deliver` (run in the daemon's task group) hands them, one at a time,
to the daemon's sink. A job that returns None did nothing on purpose (a standby replica) and is
not recorded.

Shutdown is staged (`stop`): pause, let in-flight runs finish until the drain deadline, cancel
the rest through their own cancel scopes, then shut APScheduler down (its `shutdown()` alone
would cancel coroutine jobs without waiting).
"""

from __future__ import annotations

import contextlib
import logging
import math
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

import anyio
import anyio.lowlevel
from apscheduler.events import (
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobEvent,
)
from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from structlog.contextvars import bound_contextvars

from monitor.errors import MonitorError, first_monitor_error
from monitor.model import CheckReport, Outcome

log = logging.getLogger(__name__)

TICK_JOB = "__tick__"

#: A check as the scheduler sees it: a report, or None for "nothing to do this time".
CheckCall = Callable[[], Awaitable[CheckReport | None]]
RunSink = Callable[["RunRecord"], Awaitable[None]]


class CheckTimedOut(MonitorError):
    def __init__(self, check: str, timeout: timedelta) -> None:
        super().__init__(
            f"{check} did not finish within {timeout.total_seconds():g}s ([daemon] check_timeout);"
            " cancelled"
        )


class RunCancelled(MonitorError):
    def __init__(self, check: str, reason: str) -> None:
        super().__init__(f"{check} run cancelled: {reason}")


class RunNotStarted(MonitorError):
    def __init__(self, check: str, reason: str) -> None:
        super().__init__(f"{check} run not started: {reason}")


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    interval: timedelta
    call: CheckCall


@dataclass(frozen=True, slots=True)
class RunRecord:
    """How one scheduled run ended."""

    check: str
    run_id: str
    started_at: datetime
    #: Seconds; None for a run that never started (skipped or missed).
    duration: float | None
    outcome: Outcome
    report: CheckReport | None = None
    error: BaseException | None = None


def describe_error(error: BaseException) -> str:
    """One line for logs and /status: the monitor's own message, else only the exception type
    (a foreign exception's text may carry data values)."""
    found = first_monitor_error(error)
    if found is not None:
        return str(found)
    return f"unexpected {type(error).__name__} (see the daemon log)"


@dataclass(slots=True)
class _InFlight:
    check: str
    started: float
    scope: anyio.CancelScope
    reason: str | None = None


class CheckScheduler:
    """APScheduler jobs for `jobs`, plus a tick job that proves the scheduler is turning."""

    def __init__(
        self,
        jobs: Sequence[Job],
        *,
        timeout: timedelta,
        tick_interval: float = 2.0,
        on_tick: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        accountable: Callable[[], bool] = lambda: True,
    ) -> None:
        self.jobs = tuple(jobs)
        self.timeout = timeout
        self.tick_interval = tick_interval
        #: Called on every tick (the daemon feeds the systemd watchdog from it).
        self.on_tick = on_tick
        self.clock = clock
        #: False while a skipped or missed run would not have been ours to run (a standby).
        self.accountable = accountable
        #: `clock()` at the last tick; /healthz reads it.
        self.last_tick = 0.0
        self.started = False
        self._stopping = False
        self._stopped = anyio.Event()
        self._in_flight: dict[str, _InFlight] = {}
        self._changed = anyio.Event()
        self._send, self._receive = anyio.create_memory_object_stream[RunRecord](math.inf)
        self._scheduler = AsyncIOScheduler(
            timezone=UTC,
            job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": 60},
        )

    async def __aenter__(self) -> CheckScheduler:
        """Start APScheduler in the running loop; every check runs once at once, then on its interval."""
        now = datetime.now(UTC)
        for job in self.jobs:
            seconds = job.interval.total_seconds()
            self._scheduler.add_job(
                self._run,
                IntervalTrigger(seconds=seconds, timezone=UTC),
                args=(job,),
                id=job.name,
                name=job.name,
                next_run_time=now,
                # A run later than its interval is pointless: the next one is due anyway.
                misfire_grace_time=max(1, round(seconds)),
                replace_existing=True,
            )
        self._scheduler.add_job(
            self._tick,
            IntervalTrigger(seconds=self.tick_interval, timezone=UTC),
            id=TICK_JOB,
            name=TICK_JOB,
            next_run_time=now,
            misfire_grace_time=max(1, round(self.tick_interval)),
        )
        self._scheduler.add_listener(self._on_lost_run, EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED)
        self.last_tick = self.clock()
        self._scheduler.start()
        self.started = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop(timedelta(0))

    # --- runs -----------------------------------------------------------------------------

    async def _tick(self) -> None:
        self.last_tick = self.clock()
        if self.on_tick is not None:
            self.on_tick()

    async def _run(self, job: Job) -> None:
        run_id = secrets.token_hex(6)
        flight = _InFlight(job.name, self.clock(), anyio.CancelScope())
        flight.scope.deadline = anyio.current_time() + self.timeout.total_seconds()
        self._in_flight[run_id] = flight
        started_at = datetime.now(UTC)
        report: CheckReport | None = None
        error: BaseException | None = None
        try:
            with bound_contextvars(check=job.name, run_id=run_id):
                with flight.scope:
                    try:
                        report = await job.call()
                    except Exception as exc:  # every failure becomes a counted record
                        error = exc
                if report is None and error is None and flight.scope.cancel_called:
                    error = (
                        RunCancelled(job.name, flight.reason)
                        if flight.reason
                        else CheckTimedOut(job.name, self.timeout)
                    )
                if report is None and error is None:
                    return  # nothing to do this time (a standby): not a run
                outcome = Outcome.ERROR if report is None else report.outcome
                duration = self.clock() - flight.started
                self._emit(
                    RunRecord(job.name, run_id, started_at, duration, outcome, report, error)
                )
        finally:
            del self._in_flight[run_id]
            self._signal_change()

    def _on_lost_run(self, event: JobEvent) -> None:
        if event.job_id == TICK_JOB or not self.accountable():
            return
        if event.code == EVENT_JOB_MAX_INSTANCES:
            reason = "skipped: the previous run is still in flight"
        else:
            reason = "missed: the scheduler woke up later than misfire_grace_time"
        error = RunNotStarted(event.job_id, reason)
        run_id = secrets.token_hex(6)
        with bound_contextvars(check=event.job_id, run_id=run_id):
            self._emit(
                RunRecord(event.job_id, run_id, datetime.now(UTC), None, Outcome.ERROR, None, error)
            )

    def _emit(self, record: RunRecord) -> None:
        figures = key_figures(record.report.summary) if record.report is not None else {}
        fields: dict[str, Any] = {
            "outcome": str(record.outcome),
            "duration_s": None if record.duration is None else round(record.duration, 3),
        }
        if record.report is not None:
            fields |= {"findings": len(record.report.findings), "figures": figures}
            log.info("check.finished", extra=fields)
        elif record.error is not None:
            fields["error"] = describe_error(record.error)
            unexpected = first_monitor_error(record.error) is None
            log.log(
                logging.ERROR if unexpected else logging.WARNING,
                "check.failed",
                extra=fields,
                exc_info=record.error if unexpected else None,
            )
        try:
            self._send.send_nowait(record)
        except anyio.ClosedResourceError:
            log.warning("check.record_dropped_after_shutdown", extra={"check": record.check})

    async def deliver(self, sink: RunSink) -> None:
        """Hand every record to `sink`, in order, until `stop` closes the stream."""
        with self._receive.clone() as records:
            async for record in records:
                await sink(record)

    # --- state for /healthz, /status -------------------------------------------------------

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    def overdue(self, grace: float) -> list[str]:
        """Checks still running `grace` seconds past their timeout: cancellation is not working
        (e.g. a blocking call holds the loop), which only a restart can fix."""
        limit = self.timeout.total_seconds() + grace
        now = self.clock()
        return sorted({f.check for f in self._in_flight.values() if now - f.started > limit})

    def next_run_times(self) -> dict[str, datetime | None]:
        out: dict[str, datetime | None] = {}
        for job in self.jobs:
            scheduled = self._scheduler.get_job(job.name)
            out[job.name] = None if scheduled is None else scheduled.next_run_time
        return out

    def run_soon(self) -> None:
        """Bring every check's next run forward to now (e.g. on becoming the leader)."""
        if not self.started:
            return
        now = datetime.now(UTC)
        for job in self.jobs:
            self._scheduler.modify_job(job.name, next_run_time=now)

    # --- shutdown ---------------------------------------------------------------------------

    def cancel_all(self, reason: str) -> int:
        """Cancel every run in flight (each is recorded as an error with `reason`)."""
        for flight in self._in_flight.values():
            if flight.reason is None:
                flight.reason = reason
            flight.scope.cancel()
        return len(self._in_flight)

    async def wait_idle(self) -> None:
        while self._in_flight:
            await self._changed.wait()

    def _signal_change(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    async def stop(self, drain: timedelta) -> None:
        """Pause; give in-flight runs `drain` to finish; cancel the rest; shut down.

        A second call waits for the first to finish (so `__aexit__` never cuts a drain short).
        """
        if self._stopping:
            await self._stopped.wait()
            return
        self._stopping = True
        try:
            if self.started:
                await self._drain(drain)
        finally:
            self.started = False
            self._send.close()
            self._receive.close()  # `deliver` reads through its own clone
            self._stopped.set()

    async def _drain(self, drain: timedelta) -> None:
        self._scheduler.pause()
        with anyio.move_on_after(drain.total_seconds(), shield=True):
            await self.wait_idle()
        if self._in_flight:
            log.warning("daemon.drain_deadline", extra={"cancelled": sorted(self.running())})
            self.cancel_all("the daemon is shutting down (drain_timeout passed)")
            with anyio.move_on_after(5, shield=True):
                await self.wait_idle()
        with contextlib.suppress(SchedulerNotRunningError):
            self._scheduler.shutdown(wait=False)
        await anyio.lowlevel.checkpoint()  # AsyncIOScheduler defers its shutdown to the loop

    def running(self) -> list[str]:
        return [f.check for f in self._in_flight.values()]


def key_figures(summary: Mapping[str, Any]) -> dict[str, Any]:
    """A summary's numbers only (counts, ratios), one level of nesting; never text values."""
    out: dict[str, Any] = {}
    for key, value in summary.items():
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, int | float):
            out[str(key)] = value
        elif isinstance(value, Mapping):
            nested = {
                str(k): v
                for k, v in value.items()
                if isinstance(v, int | float) and not isinstance(v, bool)
            }
            if nested:
                out[str(key)] = nested
    return out
