"""`dualwrite-monitor run`: every check on its interval until SIGTERM/SIGINT.

Lifecycle. One `AsyncExitStack` owns every resource: the meter provider (last to close, so a final
OTLP export is flushed), the stores, the HTTP listener, the report sinks, a task group (signal
watcher, leader election, record delivery) and the scheduler. A signal sets an event; shutdown is
staged: pause the scheduler, let in-flight checks finish until `[daemon] drain_timeout`, cancel the
rest, close everything, exit 0. A second signal cancels in-flight checks at once.

Stores are opened lazily, by the first run that needs them, and then kept for the whole process
(one pool, one DynamoDB client). A store that is down at start does not stop the daemon: it
serves /healthz, each run that cannot reach the store is counted as
`dualwrite.check.runs{outcome="error"}`, and the next run tries again; once open, asyncpg's
pool replaces broken connections by itself, so the monitor recovers when PostgreSQL comes back.

Readiness for systemd: READY=1 once the scheduler runs, WATCHDOG=1 on each scheduler tick while no
check is stuck past its timeout (so the watchdog follows the check loop, not a timer of its own),
STOPPING=1 when shutdown begins.

Report sinks (monitor/sinks.py) are called after every run with a narrow `SinkContext`: the
shared stores, the `dualwrite.alerts` hook and the settings; the alerts engine is one
(monitor/alerts/sink.py), registered by the `run` command.

Beside this lifecycle: `lazy_stores` (the stores opened on first use), `streaming` (the stream
verifier while this replica leads, and the gaps it hands to the interval checks) and `probes`
(what /healthz, /readyz, /status and the status page say).
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta

import anyio

from monitor import __version__
from monitor.alerts.wiring import build_rules
from monitor.checks.registry import (
    REGISTRY,
    CheckRequest,
    report_sources,
    run_check,
)
from monitor.config import Settings
from monitor.core.switch import stop_reason
from monitor.daemon.lazy_stores import LazyStores
from monitor.daemon.probes import DaemonProbes
from monitor.daemon.streaming import StreamSupervisor, check_gap
from monitor.errors import EXIT_OK, MonitorError
from monitor.leader import LeaderElector, LeaderUnavailable, Role, lock_key
from monitor.migration.phase import current_phase
from monitor.migration.watch import watch_phase
from monitor.model import CheckReport, Window
from monitor.repair.scheduled import ScheduledRepair
from monitor.runtime import StoreContext
from monitor.scheduling import CheckCall, CheckScheduler, Job, RunRecord
from monitor.sinks import ReportSink, SinkContext, SinkFactory
from monitor.stream.metrics import StreamMetrics
from monitor.stream.service import StreamService
from monitor.telemetry.logs import configure_logging
from monitor.telemetry.metrics import Telemetry, build_telemetry
from monitor.telemetry.sdnotify import notify, watchdog_seconds
from monitor.telemetry.server import serve
from monitor.telemetry.status import StatusBoard
from monitor.verify.background import BackgroundVerify, VerifyMetrics

log = logging.getLogger(__name__)

#: How long delivery of the last records may take at shutdown.
DELIVERY_DRAIN = 5.0


def interval_for(settings: Settings, check: str) -> timedelta:
    spec = REGISTRY.get(check)
    section = getattr(settings.checks, check if spec is None else spec.section, None)
    interval = getattr(section, "interval", None)
    if isinstance(interval, timedelta):
        return interval
    log.warning("daemon.no_interval_for_check", extra={"check_name": check})
    return settings.checks.counts.interval


class Daemon(DaemonProbes):
    """The `run` lifecycle: every resource on one exit stack, staged shutdown (module docstring)."""

    def __init__(
        self,
        settings: Settings,
        *,
        sinks: Sequence[SinkFactory] = (),
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.settings = settings
        self._environ = os.environ if environ is None else environ
        self._telemetry: Telemetry = build_telemetry(settings.telemetry, self._environ)
        self.metrics = self._telemetry.metrics
        self._factories = tuple(sinks)
        self._sinks: list[ReportSink] = []
        self._stores = LazyStores(settings)
        self._intervals = {name: interval_for(settings, name) for name in REGISTRY}
        self._board = StatusBoard({n: i.total_seconds() for n, i in self._intervals.items()})
        self._rules = build_rules(settings, report_sources(settings))
        #: Checks the phase stops (monitoring continuation in dynamo_only), with the reason.
        self._stopped: dict[str, str] = {}
        #: The daemon's own repair, only with `[repair] enabled = true` (read-only otherwise).
        self._repair: ScheduledRepair | None = None
        if settings.repair.enabled:
            self._repair = ScheduledRepair(settings, self.context, lambda: self.leading)
        self._scheduler: CheckScheduler | None = None
        self._leader: LeaderElector | None = None
        if settings.ha.enabled:
            self._leader = LeaderElector(
                settings.postgres.dsn.get_secret_value(),
                lock_key(settings.postgres.state_schema, settings.mapping.sql_table),
                heartbeat=settings.ha.heartbeat.total_seconds(),
                connect_timeout=settings.postgres.connect_timeout.total_seconds(),
                on_change=self._on_role,
            )
        watchdog = watchdog_seconds(self._environ)
        self._watchdog = watchdog is not None
        # Tick often enough for the watchdog (three pings per period) and for /healthz.
        self._tick = min(2.0, watchdog / 3) if watchdog else 2.0
        self._started_at = datetime.now(UTC)
        self._stopping = False
        self._stop: anyio.Event | None = None
        self._stop_requested = False
        self.verify: BackgroundVerify | None = None
        if settings.verify.enabled:
            meter = self._telemetry.provider.get_meter("dualwrite-monitor.verify", __version__)
            self.verify = BackgroundVerify(settings, self.context, VerifyMetrics(meter))
        self.stream: StreamService | None = None
        self._streaming: StreamSupervisor | None = None
        if settings.stream.enabled:
            meter = self._telemetry.provider.get_meter("dualwrite-monitor.stream", __version__)
            self.stream = StreamService(
                settings, self.context, StreamMetrics(meter), on_gap=self._stream_gap
            )
            self._streaming = StreamSupervisor(
                settings,
                self.stream,
                leading=lambda: self.leading,
                deliver=self._deliver,
                tick=self._tick,
            )

    # --- for sinks and embedding --------------------------------------------------------------

    async def context(self) -> StoreContext:
        """The shared stores, opened on first use (raises StoreUnavailable while they are down)."""
        return await self._stores.get()

    def request_stop(self) -> None:
        """Shut down as SIGTERM would (for embedding the daemon, e.g. in the demo or tests)."""
        self._stop_requested = True
        if self._stop is not None:
            self._stop.set()

    # --- the lifecycle -------------------------------------------------------------------------

    async def run(self) -> None:
        settings = self.settings
        # Opened first, so a signal during start-up is queued rather than killing the process.
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async with AsyncExitStack() as stack:
                stack.callback(self._telemetry.shutdown)
                stack.push_async_callback(self._stores.aclose)
                host, port = await stack.enter_async_context(
                    serve(settings.telemetry.listen, self._telemetry.prometheus_text, self)
                )
                log.info("http.listening", extra={"address": f"{host}:{port}", "port": port})
                sink_context = SinkContext(
                    settings, self.context, self.metrics.record_alert, status=self._board
                )
                for factory in self._factories:
                    self._sinks.append(await stack.enter_async_context(factory(sink_context)))
                group = await stack.enter_async_context(anyio.create_task_group())
                stop = self._stop = anyio.Event()
                if self._stop_requested:
                    stop.set()
                group.start_soon(self._watch_signals, signals, stop)
                group.start_soon(watch_phase, self.context, self._board)
                if self._leader is not None:
                    self.metrics.set_leader(False)  # until the lock says otherwise
                    await group.start(self._leader.run)
                else:
                    self.metrics.set_leader(True)
                if self._streaming is not None:
                    group.start_soon(self._streaming.run)
                    group.start_soon(self._streaming.reports)
                self._warn_about_timeouts()
                if self._repair is not None:
                    group.start_soon(self._repair.run)
                if self.verify is not None:
                    # Every replica, leader or not: the cycle's shard locks share the work.
                    group.start_soon(self.verify.run)
                if not settings.runbook_template():
                    log.warning(
                        "daemon.no_runbook_link",
                        extra={
                            "hint": "set [telemetry] public_url (alerts then link to this"
                            " daemon's /runbook) or [alerts] runbook_url"
                        },
                    )
                scheduler = CheckScheduler(
                    [Job(n, i, self._call(n)) for n, i in self._intervals.items()],
                    timeout=settings.daemon.check_timeout,
                    tick_interval=self._tick,
                    on_tick=self._on_tick,
                    accountable=self._accountable,
                )
                self._scheduler = scheduler
                async with scheduler:
                    delivered = anyio.Event()
                    group.start_soon(self._deliver_all, scheduler, delivered)
                    notify(
                        f"READY=1\nSTATUS=running {', '.join(self._intervals)}",
                        environ=self._environ,
                    )
                    log.info(
                        "daemon.started",
                        extra={
                            "version": __version__,
                            "checks": {n: i.total_seconds() for n, i in self._intervals.items()},
                            "ha": settings.ha.enabled,
                            "otlp": self._telemetry.otlp_endpoint is not None,
                        },
                    )
                    await stop.wait()
                    self._stopping = True
                    notify("STOPPING=1", environ=self._environ)
                    log.info(
                        "daemon.stopping",
                        extra={
                            "in_flight": scheduler.running(),
                            "drain_timeout_s": settings.daemon.drain_timeout.total_seconds(),
                        },
                    )
                    await scheduler.stop(settings.daemon.drain_timeout)
                    with anyio.move_on_after(DELIVERY_DRAIN, shield=True):
                        await delivered.wait()
                group.cancel_scope.cancel()
        log.info("daemon.stopped")

    async def _watch_signals(self, signals: AsyncIterator[int], stop: anyio.Event) -> None:
        async for signum in signals:
            name = signal.Signals(signum).name
            if not stop.is_set():
                log.info("daemon.signal", extra={"signal": name})
                stop.set()
            elif self._scheduler is not None:
                log.warning("daemon.signal_again", extra={"signal": name})
                self._scheduler.cancel_all(f"{name} received twice")

    async def _stream_gap(self, window: Window, shard: str) -> None:
        """Changes the stream lost: the interval checks judge that window instead."""
        await check_gap(await self._stores.get(), self.settings, window, shard, self._deliver)

    def _call(self, name: str) -> CheckCall:
        async def call() -> CheckReport | None:
            leader = self._leader
            if leader is not None and leader.role is not Role.LEADER:
                if leader.role is Role.STANDBY:
                    return None  # the leader runs it; a standby counts nothing
                raise LeaderUnavailable(leader.reason)
            context = await self._stores.get()
            if await self._stopped_by_phase(name, context):
                return None
            return await run_check(name, context, CheckRequest(now=datetime.now(UTC)))

        return call

    async def _stopped_by_phase(self, name: str, context: StoreContext) -> bool:
        """In `dynamo_only` a check that needs SQL written stops, saying why (once)."""
        needs = REGISTRY[name].needs_sql_writes
        if not needs:
            return False
        phase = await current_phase(context.sql.pool, self.settings.postgres.state_schema)
        reason = stop_reason(phase, needs)
        if reason is None:
            if self._stopped.pop(name, None) is not None:
                log.info("daemon.check_resumed", extra={"check_name": name, "phase": str(phase)})
            return False
        if name not in self._stopped:
            log.info("daemon.check_stopped", extra={"check_name": name, "reason": reason})
        self._stopped[name] = reason
        return True

    async def _deliver_all(self, scheduler: CheckScheduler, done: anyio.Event) -> None:
        try:
            await scheduler.deliver(self._deliver)
        finally:
            done.set()

    async def _deliver(self, record: RunRecord) -> None:
        """The one place a finished run becomes metrics, status and alerts."""
        self.metrics.record_run(record.check, record.outcome, record.duration)
        if record.report is not None:
            self.metrics.record_report(record.report)
        self._board.record(record)
        for sink in self._sinks:
            with anyio.move_on_after(self.settings.daemon.check_timeout.total_seconds()) as scope:
                try:
                    await sink(record.check, record.report, record.error)
                except MonitorError as exc:  # e.g. its store is down: said once per run
                    log.warning(
                        "sink.failed", extra={"check_name": record.check, "error": str(exc)}
                    )
                except Exception:  # one broken sink must not stop metrics or the others
                    log.exception("sink.failed", extra={"check_name": record.check})
            if scope.cancelled_caught:
                log.warning("sink.timed_out", extra={"check_name": record.check})

    def _on_role(self, old: Role, new: Role, reason: str) -> None:
        self.metrics.set_leader(new is Role.LEADER)
        level = logging.INFO if new is not Role.UNKNOWN else logging.WARNING
        log.log(level, "leader.role", extra={"role": str(new), "was": str(old), "reason": reason})
        if self._streaming is not None:
            self._streaming.on_role(old, new)
        if self._scheduler is None:
            return
        if old is Role.LEADER:
            # Step down at once: another replica may already be running the checks.
            self._scheduler.cancel_all("this replica lost leadership")
        elif new is Role.LEADER:
            # Taking over: check now rather than up to one interval later.
            self._scheduler.run_soon()

    def _accountable(self) -> bool:
        """A skipped or missed run counts unless this replica knows another one leads."""
        return self._leader is None or self._leader.role is not Role.STANDBY

    def _on_tick(self) -> None:
        if self._watchdog and self.health()[0]:
            notify("WATCHDOG=1", environ=self._environ)

    def _warn_about_timeouts(self) -> None:
        timeout = self.settings.daemon.check_timeout
        for name, interval in self._intervals.items():
            if timeout >= interval:
                log.warning(
                    "daemon.timeout_not_below_interval",
                    extra={
                        "check_name": name,
                        "interval_s": interval.total_seconds(),
                        "check_timeout_s": timeout.total_seconds(),
                    },
                )


def run_daemon(
    settings: Settings, *, sinks: Sequence[SinkFactory] = (), debug: bool = False
) -> int:
    """The `run` command. Errors at start-up (e.g. the listen address in use) raise MonitorError."""
    configure_logging(debug=debug)
    daemon = Daemon(settings, sinks=sinks)
    anyio.run(daemon.run, backend="asyncio")
    return EXIT_OK


__all__ = ["Daemon", "ReportSink", "SinkContext", "SinkFactory", "run_daemon"]
