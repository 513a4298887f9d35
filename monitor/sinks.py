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

from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal, Protocol

from monitor.config import Settings
from monitor.core.rules import RuleState, Silence
from monitor.model import CheckReport

if TYPE_CHECKING:
    from monitor.runtime import StoreContext

AlertState = Literal["firing", "resolved"]
ReportSink = Callable[[str, CheckReport | None, BaseException | None], Awaitable[None]]


class AlertBoard(Protocol):
    """Where the alert rules' state is shown (the status page): fed by the alerts sink."""

    def record_alerts(
        self, states: Mapping[str, RuleState], silences: Sequence[Silence], at: datetime
    ) -> None: ...

    def record_resolved(self, rule: str, at: datetime) -> None: ...

    def alerts_unavailable(self, reason: str, at: datetime) -> None: ...


class _Unshown:
    """An AlertBoard that shows nothing (a sink used outside the daemon)."""

    def record_alerts(
        self, states: Mapping[str, RuleState], silences: Sequence[Silence], at: datetime
    ) -> None:
        pass

    def record_resolved(self, rule: str, at: datetime) -> None:
        pass

    def alerts_unavailable(self, reason: str, at: datetime) -> None:
        pass


@dataclass(frozen=True, slots=True)
class SinkContext:
    settings: Settings
    #: The shared stores, opened on first use; raises StoreUnavailable while they are down.
    stores: Callable[[], Awaitable[StoreContext]]
    #: Counts one alert event in `dualwrite.alerts{rule, state}`.
    record_alert: Callable[[str, AlertState], None]
    #: The status page's view of the alert rules.
    status: AlertBoard = field(default_factory=_Unshown)


SinkFactory = Callable[[SinkContext], AbstractAsyncContextManager[ReportSink]]
