"""The alerts engine as a report sink of the daemon (see monitor/sinks.py).

Built on first use, because the stores may be down when the daemon starts; then every run's
report (or error) is observed, the outbox delivers in the background, and each alert event feeds
the `dualwrite.alerts` counter.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

import anyio

from monitor.alerts.channels import build_notifier
from monitor.alerts.engine import counter_state, utc_now
from monitor.alerts.wiring import Alerts, build_alerts
from monitor.checks.registry import report_sources
from monitor.core.rules import Notification
from monitor.errors import MonitorError
from monitor.model import CheckReport
from monitor.sinks import ReportSink, SinkContext


@asynccontextmanager
async def alerts_sink(
    context: SinkContext, listeners: Sequence[Callable[[Notification], None]] = ()
) -> AsyncIterator[ReportSink]:
    """`listeners` also hear every alert event (the demo's live view shows them)."""
    alerts: Alerts | None = None

    def count(note: Notification) -> None:
        state = counter_state(note)
        if state is not None:
            context.record_alert(note.rule, state)
        for listener in listeners:
            listener(note)
        if note.kind == "resolved":
            context.status.record_resolved(note.rule, utc_now())

    async def show(alerts: Alerts) -> None:
        """The rules' state and silences for the status page, as of this evaluation."""
        now = utc_now()
        try:
            states = await alerts.store.states()
            silences = await alerts.store.silences(now)
        except MonitorError as exc:
            context.status.alerts_unavailable(str(exc), now)
        else:
            context.status.record_alerts(states, [s.silence for s in silences], now)

    async with anyio.create_task_group() as group:

        async def sink(check: str, report: CheckReport | None, error: BaseException | None) -> None:
            nonlocal alerts
            if alerts is None:
                stores = await context.stores()  # StoreUnavailable: tried again next run
                # Without a channel, alerts become JSON log events: stdout is the JSON log stream.
                notifier = build_notifier(context.settings, fallback="log")
                alerts = build_alerts(
                    context.settings,
                    stores.sql.pool,
                    checks=report_sources(context.settings),
                    notifier=notifier,
                )
                alerts.engine.add_listener(count)
                group.start_soon(alerts.outbox.run)
            await alerts.engine.observe(check, report, error)
            await show(alerts)

        yield sink
        group.cancel_scope.cancel()
