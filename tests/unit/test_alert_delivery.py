"""Delivery decisions that need no server: retry waits, Retry-After, error classification."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.alerts import channels
from monitor.alerts.channels import Channel
from monitor.alerts.console import ConsoleNotifier
from monitor.alerts.engine import counter_state, store_unreachable
from monitor.alerts.outbox import retry_delay
from monitor.alerts.slack import SlackNotifier, retry_after
from monitor.alerts.wiring import build_notifier, build_rules
from monitor.config import Settings, settings_from_dict
from monitor.core.rules import Notification, Observation, RuleSpec
from monitor.errors import ConfigError, StoreError, StoreUnavailable, describe_error
from monitor.stores.alert_codec import observation_from_json, observation_to_json

SECOND = timedelta(seconds=1)
T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def test_retry_waits_double_up_to_the_cap_and_retry_after_wins() -> None:
    waits = [retry_delay(n, 10 * SECOND, 300 * SECOND) for n in range(1, 9)]
    assert [w.total_seconds() for w in waits] == [10, 20, 40, 80, 160, 300, 300, 300]
    assert retry_delay(1, 10 * SECOND, 300 * SECOND, retry_after=30) == 30 * SECOND
    assert retry_delay(9, 10 * SECOND, 300 * SECOND, retry_after=900) == 900 * SECOND


@given(st.integers(min_value=-5, max_value=10_000))
def test_retry_waits_are_always_within_first_and_cap(attempts: int) -> None:
    wait = retry_delay(attempts, 10 * SECOND, 300 * SECOND)
    assert 10 * SECOND <= wait <= 300 * SECOND


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Retry-After": ["30"]}, 30.0),
        ({"retry-after": "1"}, 1.0),
        ({"Content-Type": "text/plain"}, None),
        ({"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}, None),
        ({"Retry-After": "-3"}, None),
        (None, None),
    ],
)
def test_retry_after_is_read_case_insensitively(headers: object, seconds: float | None) -> None:
    assert retry_after(headers) == seconds


def test_a_bot_token_needs_a_channel_and_slack_needs_something() -> None:
    with pytest.raises(ConfigError, match="alerts.channel: required with SLACK_BOT_TOKEN"):
        SlackNotifier(token="xoxb-1")
    with pytest.raises(ConfigError, match="SLACK_WEBHOOK_URL"):
        SlackNotifier()


def test_the_notifier_follows_the_settings() -> None:
    assert build_notifier(settings_from_dict({})).destination == "console (standard output)"
    hook = settings_from_dict({"alerts": {"slack_webhook_url": "https://hooks.example/x"}})
    assert build_notifier(hook).destination == "Slack incoming webhook"
    both = settings_from_dict(
        {
            "alerts": {
                "slack_webhook_url": "https://hooks.example/x",
                "slack_bot_token": "xoxb-1",
                "channel": "#ops",
            }
        }
    )
    assert build_notifier(both).destination == "Slack bot token, channel #ops"


def test_without_a_channel_the_fallback_carries_alerts_and_a_new_channel_is_one_entry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bare = settings_from_dict({})
    assert build_notifier(bare, fallback="log").destination.startswith("log (alert.* events")
    console = ConsoleNotifier()

    def pager_configured(settings: Settings) -> bool:
        return settings.alerts.channel == "pager"

    pager = Channel("pager", pager_configured, lambda _: console)
    monkeypatch.setattr(channels, "CHANNELS", (*channels.CHANNELS, pager))
    assert build_notifier(settings_from_dict({"alerts": {"channel": "pager"}})) is console
    hook = settings_from_dict(
        {"alerts": {"channel": "pager", "slack_webhook_url": "https://hooks.example/x"}}
    )
    assert build_notifier(hook).destination == "Slack incoming webhook"  # the first one wins


def test_a_bot_token_without_a_channel_falls_back_to_the_webhook_or_is_refused() -> None:
    both = {"slack_bot_token": "xoxb-1", "slack_webhook_url": "https://hooks.example/x"}
    assert build_notifier(settings_from_dict({"alerts": both})).destination == (
        "Slack incoming webhook"
    )
    with pytest.raises(ConfigError, match="alerts.channel: required with SLACK_BOT_TOKEN"):
        build_notifier(settings_from_dict({"alerts": {"slack_bot_token": "xoxb-1"}}))


def test_slack_api_url_gets_its_trailing_slash_and_must_be_http() -> None:
    settings = settings_from_dict({"alerts": {"slack_api_url": "http://127.0.0.1:9/api"}})
    assert settings.alerts.slack_api_url == "http://127.0.0.1:9/api/"
    with pytest.raises(ConfigError, match=r"alerts.slack_api_url: 'slack\.com' is not"):
        settings_from_dict({"alerts": {"slack_api_url": "slack.com"}})


def test_rules_follow_the_alert_settings() -> None:
    settings = settings_from_dict({"alerts": {"hold_runs": 3, "failure_runs": 5}})
    rules = {rule.name: rule for rule in build_rules(settings, ["counts"])}
    assert rules["data_consistency"].hold_runs == 3
    assert rules["store_unreachable"].hold_runs == 3
    assert rules["check_failed:counts"].threshold == 4.5
    assert rules["field_accuracy"].sampled
    assert rules["count_variance"].threshold == pytest.approx(0.001)


def test_errors_are_described_by_type_and_store_never_by_text() -> None:
    down = StoreUnavailable("DynamoDB", "cannot reach https://secret.internal")
    assert describe_error(down, message=False) == "StoreUnavailable (DynamoDB)"
    assert (
        describe_error(ExceptionGroup("g", [down]), message=False) == "StoreUnavailable (DynamoDB)"
    )
    assert describe_error(StoreError("PostgreSQL", 'value "alice@x" ...'), message=False) == (
        "StoreError (PostgreSQL)"
    )
    assert describe_error(ValueError("row {'ssn': 1}"), message=False) == "ValueError"
    assert store_unreachable(down, finished=False) is True
    assert store_unreachable(ExceptionGroup("g", [ValueError(), down]), finished=False) is True
    assert store_unreachable(TimeoutError(), finished=False) is None
    assert store_unreachable(None, finished=True) is False


def test_counter_state() -> None:
    spec = RuleSpec("r", "m", "below", 0.5)
    for kind, state in (("firing", "firing"), ("repeat", None), ("resolved", "resolved")):
        note = Notification("r", kind, Observation(0.1), spec, T0, None)  # type: ignore[arg-type]
        assert counter_state(note) == state


def test_an_observation_survives_the_codec_exactly() -> None:
    obs = Observation(
        0.25,
        lower=0.1,
        upper=0.4,
        window_start=T0,
        window_end=T0 + SECOND * 0.000001,
        example_keys=("id=1",),
        table="t",
        cause="StoreUnavailable (X)",
    )
    assert observation_from_json(observation_to_json(obs)) == obs
