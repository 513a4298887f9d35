"""The running service: `[alerts]`, `[telemetry]`, `[ha]` and `[daemon]`."""

from __future__ import annotations

import re
from datetime import timedelta

from pydantic import (
    Field,
    SecretStr,
    field_validator,
)

from monitor.config.checks import ThresholdsSettings
from monitor.config.values import Duration, Section, absolute_url, positive


class AlertsSettings(Section):
    #: Secret: prefer env SLACK_WEBHOOK_URL.
    slack_webhook_url: SecretStr = SecretStr("")
    #: Secret, env SLACK_BOT_TOKEN only; with `channel`, edits resolved alerts in place.
    slack_bot_token: SecretStr = SecretStr("")
    channel: str = ""
    repeat_interval: Duration = timedelta(hours=4)
    #: Consecutive runs a rule must breach before it fires, and recover before it resolves.
    hold_runs: int = Field(default=2, ge=1, le=100)
    #: `check_failed:<check>` fires when a check has failed this many runs in a row.
    failure_runs: int = Field(default=3, ge=1, le=1000)
    #: Linked from every message when `[telemetry] public_url` is not set: an absolute http(s)
    #: URL, `{rule}` replaced by the rule's runbook anchor. Empty: no link (the daemon warns).
    runbook_url: str = ""
    #: Slack Web API base (bot token only); change it for a proxy or a test server.
    slack_api_url: str = "https://slack.com/api/"
    #: One delivery attempt to Slack gives up after this; the outbox tries again later.
    send_timeout: Duration = timedelta(seconds=10)
    #: The outbox retries an undelivered alert with doubling waits, capped at this.
    retry_max_backoff: Duration = timedelta(minutes=5)
    thresholds: ThresholdsSettings = ThresholdsSettings()

    @field_validator("runbook_url")
    @classmethod
    def _runbook_url(cls, value: str) -> str:
        return absolute_url(value, "a runbook link in Slack must open from anywhere")

    @field_validator("slack_api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError(f"{value!r} is not an http(s) URL")
        # slack-sdk joins method names onto it: without the slash it would drop `/api`.
        return value if value.endswith("/") else value + "/"


class TelemetrySettings(Section):
    listen: str = "127.0.0.1:9464"
    otlp_endpoint: str = ""
    #: The URL people reach this daemon at (e.g. the Kubernetes Service); alerts then link to
    #: its own `/runbook`. Empty: alerts link to `[alerts] runbook_url`.
    public_url: str = ""

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        return absolute_url(value, "alerts link to it from Slack").rstrip("/")

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError(f"{value!r} is not host:port")
        return value


class HaSettings(Section):
    #: Leader election among replicas through a PostgreSQL advisory lock.
    enabled: bool = False
    #: How often the leader proves it still holds the lock (and a standby retries it); a
    #: leader whose heartbeat fails steps down at once.
    heartbeat: Duration = timedelta(seconds=5)

    @field_validator("heartbeat")
    @classmethod
    def _positive_heartbeat(cls, value: timedelta) -> timedelta:
        return positive(value)


class DaemonSettings(Section):
    #: Every scheduled check run is cancelled after this and counted as an error, so a hung
    #: check can never silently stop the monitor. Keep it below the shortest interval.
    check_timeout: Duration = timedelta(minutes=4)
    #: On SIGTERM/SIGINT, in-flight checks get this long to finish before they are cancelled.
    drain_timeout: Duration = timedelta(seconds=20)

    @field_validator("check_timeout")
    @classmethod
    def _positive_timeout(cls, value: timedelta) -> timedelta:
        return positive(value)

    @field_validator("drain_timeout")
    @classmethod
    def _drain(cls, value: timedelta) -> timedelta:
        if value < timedelta(0):
            raise ValueError("must not be negative")
        return value
