"""Settings -> the alert parts, built once: rules, notifier, store, engine, outbox.

`monitor.alerts.sink` wires them into the daemon: `engine.observe` after every check run,
`outbox.run` in the background.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from monitor.alerts.channels import build_notifier
from monitor.alerts.engine import AlertEngine, utc_now
from monitor.alerts.notifier import Notifier
from monitor.alerts.outbox import Outbox
from monitor.config import Settings
from monitor.core.rules import RuleSpec
from monitor.core.ruleset import rules_from_thresholds
from monitor.errors import ConfigError
from monitor.stores.alert_state import AlertStore


def build_rules(settings: Settings, checks: Iterable[str]) -> list[RuleSpec]:
    """Every rule of CONTRACT §6 for these settings and these check names."""
    alerts = settings.alerts
    thresholds = {
        name: {key: value for key, value in threshold.model_dump().items() if value is not None}
        for name, threshold in alerts.thresholds
    }
    try:
        return rules_from_thresholds(
            thresholds,
            count_threshold_percent=settings.checks.counts.threshold_percent,
            failure_runs=alerts.failure_runs,
            checks=list(checks),
            hold_runs=alerts.hold_runs,
        )
    except ValueError as exc:
        key, _, problem = str(exc).partition(": ")
        raise ConfigError(key, problem or key) from None


@dataclass(frozen=True, slots=True)
class Alerts:
    store: AlertStore
    engine: AlertEngine
    outbox: Outbox


def build_alerts(
    settings: Settings,
    pool: asyncpg.Pool,
    *,
    checks: Iterable[str],
    clock: Callable[[], datetime] = utc_now,
    notifier: Notifier | None = None,
) -> Alerts:
    """The engine (report sink) and the outbox (background delivery) over one store.

    The monitor's schema must exist (`StateStore.migrate`, done by `setup` and at start).
    """
    alerts = settings.alerts
    store = AlertStore(pool, settings.postgres.state_schema)
    outbox = Outbox(
        store,
        notifier if notifier is not None else build_notifier(settings),
        runbook_url=settings.runbook_template(),
        clock=clock,
        max_backoff=max(alerts.retry_max_backoff, Outbox.FIRST_BACKOFF),
    )
    engine = AlertEngine(
        store,
        build_rules(settings, checks),
        repeat_interval=alerts.repeat_interval,
        table=settings.mapping.sql_table,
        clock=clock,
        on_queued=outbox.wake,
    )
    return Alerts(store, engine, outbox)


__all__ = ["Alerts", "build_alerts", "build_notifier", "build_rules"]
