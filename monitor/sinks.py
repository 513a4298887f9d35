"""What the daemon hands its report sinks: a narrow context, never the daemon itself.

A sink is called after every run as `await sink(check, report, error)`, exactly one of
`report`/`error` set (a run that ended with a report, failed, timed out, or could not start).
Sinks run one at a time, after metrics and /status are updated; each call is bounded by
`[daemon] check_timeout`; a sink that raises is logged and the others still run.

A sink is registered as a factory: `factory(context)` is an async context manager entered on the
daemon's exit stack, so a sink can own resources (a task group) until the daemon stops.
`monitor.alerts.sink.alerts_sink` is the one the `run` command registers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from monitor.config import Settings
from monitor.model import CheckReport

if TYPE_CHECKING:
    from monitor.checks.context import CheckContext

AlertState = Literal["firing", "resolved"]
ReportSink = Callable[[str, CheckReport | None, BaseException | None], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class SinkContext:
    settings: Settings
    #: The shared stores, opened on first use; raises StoreUnavailable while they are down.
    stores: Callable[[], Awaitable[CheckContext]]
    #: Counts one alert event in `dualwrite.alerts{rule, state}`.
    record_alert: Callable[[str, AlertState], None]


SinkFactory = Callable[[SinkContext], AbstractAsyncContextManager[ReportSink]]
