"""Which notifier carries alerts, decided in one place from the settings.

`CHANNELS` lists the delivery channels in order of preference; the first one configured carries
the alerts, and without any the fallback does (the console for a command, JSON log events for
the daemon, whose stdout is a JSON log stream). A new channel (a generic webhook, PagerDuty) is
one module with a notifier and one entry here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TextIO

from monitor.alerts.console import ConsoleNotifier, LogNotifier
from monitor.alerts.notifier import Notifier
from monitor.config import Settings

log = logging.getLogger(__name__)

Fallback = Literal["console", "log"]


@dataclass(frozen=True, slots=True)
class Channel:
    name: str
    #: True when the settings (or the environment they read) configure this channel.
    configured: Callable[[Settings], bool]
    #: The notifier; raises ConfigError when the channel is configured but incomplete.
    build: Callable[[Settings], Notifier]


def slack_configured(settings: Settings) -> bool:
    alerts = settings.alerts
    return bool(
        alerts.slack_bot_token.get_secret_value() or alerts.slack_webhook_url.get_secret_value()
    )


def build_slack(settings: Settings) -> Notifier:
    """A bot token (with `channel`) wins; without `channel` it cannot post, so the webhook is
    used if there is one (with a warning), else SlackNotifier raises ConfigError."""
    from monitor.alerts.slack import SlackNotifier  # slack-sdk only when Slack is configured

    alerts = settings.alerts
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
    )


CHANNELS: tuple[Channel, ...] = (Channel("slack", slack_configured, build_slack),)


def configured_channel(settings: Settings) -> Channel | None:
    return next((channel for channel in CHANNELS if channel.configured(settings)), None)


def build_notifier(
    settings: Settings, *, fallback: Fallback = "console", stream: TextIO | None = None
) -> Notifier:
    """The first configured channel's notifier, else the fallback (`stream`: the console's)."""
    channel = configured_channel(settings)
    if channel is not None:
        return channel.build(settings)
    return ConsoleNotifier(stream) if fallback == "console" else LogNotifier()
