"""Runs each check on its interval, on the event loop's clock (so tests can fast-forward it).

Every run is bounded by `timeout` and accounted for: it ends as one `RunRecord` whatever happens
(a report, an error, a timeout, a cancellation), and so does a run that could not start (skipped
because the previous one is still in flight, or missed because the loop woke up later than the
grace time). A hung check therefore shows up as errors, never as silence (the failure of
APScheduler #423).

Timing is APScheduler's interval trigger with `max_instances=1, coalesce=True`: each check runs
at once, then at start + n × interval; a due time that finds the previous run in flight is a
skipped run; due times passed while the loop was blocked collapse into one, which is a missed run
when it is more than `max(1 s, interval)` late. Every wait reads the event loop's time
(`anyio.current_time`, `anyio.sleep_until`), never the wall clock, so a test on a fast-forwarding
loop (looptime) runs hours of schedule in milliseconds.

Records go into a stream; `deliver` (run in the daemon's task group) hands them, one at a time,
to the daemon's sink. A job that returns None did nothing on purpose (a standby replica) and is
not recorded.

Shutdown is staged (`stop`): pause, let in-flight runs finish until the drain deadline, cancel
the rest through their own cancel scopes.
"""

from __future__ import annotations

import logging
import math
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

import anyio
from anyio.abc import TaskGroup
from structlog.contextvars import bound_contextvars

from monitor.errors import MonitorError, describe_error, first_monitor_error
from monitor.model import CheckReport, Outcome

log = logging.getLogger(__name__)

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


@dataclass(slots=True)
class _InFlight:
    check: str
    started: float
    scope: anyio.CancelScope
    reason: str | None = None


class CheckScheduler:
    """One timer per job plus a tick that proves the scheduler is turning."""

    def __init__(
        self,
        jobs: Sequence[Job],
        *,
        timeout: timedelta,
        tick_interval: float = 2.0,
        on_tick: Callable[[], None] | None = None,
        clock: Callable[[], float] = anyio.current_time,
        accountable: Callable[[], bool] = lambda: True,
    ) -> None:
        self.jobs = tuple(jobs)
        self.timeout = timeout
        self.tick_interval = tick_interval
        #: Called on every tick (the daemon feeds the systemd watchdog from it).
        self.on_tick = on_tick
        #: Measures durations and tick ages (the event loop's clock unless a test injects one).
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
        #: Each job's next due time, on the event loop's clock.
        self._due: dict[str, float] = {}
        self._wake: dict[str, anyio.Event] = {}
        self._group: TaskGroup | None = None
        self._timers = anyio.CancelScope()

    async def __aenter__(self) -> CheckScheduler:
        """Start the timers; every check runs once at once, then on its interval."""
        group = self._group = anyio.create_task_group()
        await group.__aenter__()
        now = anyio.current_time()
        for job in self.jobs:
            self._due[job.name] = now
            self._wake[job.name] = anyio.Event()
        group.start_soon(self._run_timers)
        self.last_tick = self.clock()
        self.started = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self.stop(timedelta(0))
        finally:
            group, self._group = self._group, None
            if group is not None:
                group.cancel_scope.cancel()
                await group.__aexit__(exc_type, exc, tb)

    # --- timers ---------------------------------------------------------------------------

    async def _run_timers(self) -> None:
        with self._timers:
            async with anyio.create_task_group() as timers:
                timers.start_soon(self._tick_loop)
                for job in self.jobs:
                    timers.start_soon(self._job_loop, job)

    async def _tick_loop(self) -> None:
        next_tick = anyio.current_time()
        while True:
            await self._tick()
            now = anyio.current_time()
            next_tick += self.tick_interval
            if next_tick <= now:  # a blocked loop: the missed ticks collapse into the next one
                next_tick = now + self.tick_interval
            await anyio.sleep_until(next_tick)

    async def _job_loop(self, job: Job) -> None:
        interval = job.interval.total_seconds()
        # A run later than its interval is pointless: the next one is due anyway.
        grace = max(1.0, float(round(interval)))
        while True:
            due = self._due[job.name]
            wake = self._wake[job.name]
            with anyio.move_on_after(max(0.0, due - anyio.current_time())):
                await wake.wait()
            if wake.is_set():  # `run_soon` moved the due time
                self._wake[job.name] = anyio.Event()
                continue
            now = anyio.current_time()
            behind = max(0, math.floor((now - due) / interval)) if interval > 0 else 0
            latest = due + behind * interval  # due times passed meanwhile coalesce into one
            self._due[job.name] = latest + interval
            if any(flight.check == job.name for flight in self._in_flight.values()):
                self._lost(job.name, "skipped: the previous run is still in flight")
            elif now - latest > grace:
                self._lost(job.name, "missed: the scheduler woke up later than misfire_grace_time")
            else:
                self._start(job)

    # --- runs -----------------------------------------------------------------------------

    async def _tick(self) -> None:
        self.last_tick = self.clock()
        if self.on_tick is not None:
            self.on_tick()

    def _start(self, job: Job) -> None:
        # In flight from now on (not from when the task first runs), so it is never run twice.
        run_id = secrets.token_hex(6)
        flight = _InFlight(job.name, self.clock(), anyio.CancelScope())
        flight.scope.deadline = anyio.current_time() + self.timeout.total_seconds()
        self._in_flight[run_id] = flight
        assert self._group is not None
        self._group.start_soon(self._run, job, run_id, flight, name=f"check {job.name}")

    async def _run(self, job: Job, run_id: str, flight: _InFlight) -> None:
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

    def _lost(self, check: str, reason: str) -> None:
        if not self.accountable():
            return
        error = RunNotStarted(check, reason)
        run_id = secrets.token_hex(6)
        with bound_contextvars(check=check, run_id=run_id):
            self._emit(
                RunRecord(check, run_id, datetime.now(UTC), None, Outcome.ERROR, None, error)
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
        """Each check's next run as a UTC time (None once stopped)."""
        if not self.started:
            return {job.name: None for job in self.jobs}
        now, wall = anyio.current_time(), datetime.now(UTC)
        return {
            job.name: wall + timedelta(seconds=max(0.0, self._due[job.name] - now))
            for job in self.jobs
        }

    def run_soon(self) -> None:
        """Bring every check's next run forward to now (e.g. on becoming the leader)."""
        if not self.started:
            return
        now = anyio.current_time()
        for job in self.jobs:
            self._due[job.name] = now
            self._wake[job.name].set()

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
        self._timers.cancel()  # pause: nothing new starts
        with anyio.move_on_after(drain.total_seconds(), shield=True):
            await self.wait_idle()
        if self._in_flight:
            log.warning("daemon.drain_deadline", extra={"cancelled": sorted(self.running())})
            self.cancel_all("the daemon is shutting down (drain_timeout passed)")
            with anyio.move_on_after(5, shield=True):
                await self.wait_idle()

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
