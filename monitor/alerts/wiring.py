"""Settings -> the alert parts, built once: rules, notifier, store, engine, outbox.

The daemon wires them in three lines::

    alerts = build_alerts(settings, pool, checks=REGISTRY)
    sink = alerts.engine.observe              # after every check run
    task_group.start_soon(alerts.outbox.run)  # background delivery
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TextIO

import asyncpg
from slack_sdk.http_retry.interval_calculator import RetryIntervalCalculator

from monitor.alerts.console import ConsoleNotifier
from monitor.alerts.engine import AlertEngine, utc_now
from monitor.alerts.notifier import Notifier
from monitor.alerts.outbox import Outbox
from monitor.alerts.slack import SlackNotifier
from monitor.alerts.store import AlertStore
from monitor.config import Settings
from monitor.core.rules import RuleSpec, rules_from_thresholds
from monitor.errors import ConfigError

log = logging.getLogger(__name__)


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


def slack_configured(settings: Settings) -> bool:
    alerts = settings.alerts
    return bool(
        alerts.slack_bot_token.get_secret_value() or alerts.slack_webhook_url.get_secret_value()
    )


def build_notifier(
    settings: Settings,
    *,
    stream: TextIO | None = None,
    retry_interval: RetryIntervalCalculator | None = None,
) -> Notifier:
    """Slack when a bot token (with `channel`) or a webhook is configured, else the console.

    The bot token wins; without `channel` it cannot post, so the webhook is used if there is
    one (with a warning), else this raises ConfigError.
    """
    alerts = settings.alerts
    if not slack_configured(settings):
        return ConsoleNotifier(stream)
    token = alerts.slack_bot_token.get_secret_value()
    if token and not alerts.channel and alerts.slack_webhook_url.get_secret_value():
        log.warning("SLACK_BOT_TOKEN is set but [alerts] channel is empty: using the webhook")
        token = ""
    return SlackNotifier(
        webhook_url=alerts.slack_webhook_url.get_secret_value(),
        token=token,
        channel=alerts.channel,
        api_url=alerts.slack_api_url,
        timeout=alerts.send_timeout.total_seconds(),
        retry_interval=retry_interval,
    )


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
