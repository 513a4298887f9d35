"""Alerts end to end: real PostgreSQL for state and outbox, a local fake Slack over real HTTP.

Time is injected (`now=` / `deliver_due(now)`): an "outage of 20 minutes" takes milliseconds.
The only real waits are slack-sdk's own: Retry-After: 1 and a 1 s client timeout.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator

from monitor.alerts.engine import AlertEngine, counter_state
from monitor.alerts.outbox import Outbox
from monitor.alerts.slack import SlackNotifier
from monitor.alerts.wiring import Alerts, build_alerts, build_rules
from monitor.cli import main
from monitor.config import Settings
from monitor.core.rules import Notification, Silence
from monitor.errors import StoreUnavailable
from monitor.model import CheckReport, Finding, FindingKind, Window
from monitor.stores.postgres import PostgresStore
from monitor.stores.state import StateStore
from tests.conftest import make_settings
from tests.figures import figures_for
from tests.integration.fake_slack import CHANNEL_ID, FakeSlack, fake_slack
from tests.integration.scenario import write_config

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
CHECKS = ("counts", "orphans", "sample")
#: Stands for request/response data: it must never reach Slack.
SENTINEL = "S3NT1NEL"
BOT_TOKEN = "xoxb-test-token-0000"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # slack-sdk is asyncio-only


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def alert_settings(dsn: str, **alerts: Any) -> Settings:
    # No DynamoDB here: alerts only use PostgreSQL.
    return make_settings(dsn, "http://127.0.0.1:9", alerts=alerts)


def bot(fake: FakeSlack) -> SlackNotifier:
    return SlackNotifier(
        token=BOT_TOKEN,
        channel="#alerts",
        api_url=fake.api_url,
        timeout=1,
        retry_interval=FixedValueRetryIntervalCalculator(0),
    )


def hook(fake: FakeSlack) -> SlackNotifier:
    return SlackNotifier(
        webhook_url=fake.webhook_url, timeout=1, retry_interval=FixedValueRetryIntervalCalculator(0)
    )


@asynccontextmanager
async def alerting(settings: Settings, notifier: SlackNotifier) -> AsyncIterator[Alerts]:
    """One monitor process's alerting: its own pool, engine and outbox (a new one = a restart)."""
    async with PostgresStore.open(settings.postgres, settings.table_mapping()) as sql:
        await StateStore(sql.pool, settings.postgres.state_schema).migrate()
        yield build_alerts(settings, sql.pool, checks=CHECKS, notifier=notifier)


def leaky_findings(keys: range) -> tuple[Finding, ...]:
    """Findings whose every free-text place holds 'data' (the sentinel)."""
    return tuple(
        Finding(
            FindingKind.MISSING_IN_DYNAMODB,
            key,
            pk=f"LOG#{SENTINEL}#2026-11-24",
            sk=f"{SENTINEL}#{key}",
            sql_status=SENTINEL,
            field="RequestData",
            detail=f'{{"applicant": "{SENTINEL}"}}',
        )
        for key in keys
    )


def counts(consistency: float) -> CheckReport:
    return CheckReport(
        check="counts",
        table="integration_logs",
        key_column="log_id",
        window=Window(T0 - timedelta(minutes=12), T0 - timedelta(minutes=2)),
        ok=consistency >= 0.995,
        # A text figure holds a value: it must never reach a message.
        figures=figures_for(
            "counts",
            {"consistency": consistency, "variance_percent": 0.0, "discovery_last_run": SENTINEL},
        ),
        findings=leaky_findings(range(1, 9)) if consistency < 1 else (),
        warnings=(SENTINEL,),
    )


BAD, GOOD = counts(0.9), counts(1.0)


def orphans(ratio: float) -> CheckReport:
    return replace(
        counts(1.0),
        check="orphans",
        figures=figures_for(
            "orphans", {"orphan_ratio": ratio, "write_success": 1.0, "transaction_completion": 1.0}
        ),
    )


async def step(
    alerts: Alerts,
    minutes: float,
    report: CheckReport | None,
    error: BaseException | None = None,
    check: str = "counts",
) -> list[Notification]:
    """One check run at `minutes`, then one delivery pass at the same moment."""
    notes = await alerts.engine.evaluate_run(check, report, error, now=at(minutes))
    await alerts.outbox.deliver_due(at(minutes))
    return notes


def assert_no_data(fake: FakeSlack) -> None:
    for request in fake.received:
        assert SENTINEL.encode() not in request.raw
        assert BOT_TOKEN.encode() not in request.raw


# --- fire, repeat, resolve ------------------------------------------------------------------


async def test_bot_token_threads_repeats_and_edits_the_original_when_resolved(
    database: str,
) -> None:
    with fake_slack() as fake:
        async with alerting(alert_settings(database), bot(fake)) as alerts:
            await step(alerts, 0, BAD)
            assert fake.received == []  # hold_runs = 2: one bad run is not an incident
            await step(alerts, 5, BAD)
            [first] = fake.delivered()
            assert first.path == "/api/chat.postMessage"
            assert first.body["channel"] == "#alerts" and "thread_ts" not in first.body
            assert first.header_text == ":rotating_light: FIRING: Data consistency"
            assert first.headers["Authorization"] == f"Bearer {BOT_TOKEN}"
            ts = "1700000000.000001"

            await step(alerts, 10, BAD)
            await step(alerts, 4 * 60, BAD)
            assert len(fake.received) == 1  # nothing new before repeat_interval (4h)
            await step(alerts, 4 * 60 + 5, BAD)
            repeat = fake.delivered()[1]
            assert repeat.path == "/api/chat.postMessage"
            assert (repeat.body["channel"], repeat.body["thread_ts"]) == (CHANNEL_ID, ts)
            assert repeat.header_text == ":repeat: STILL FIRING: Data consistency"

            await step(alerts, 4 * 60 + 10, GOOD)
            assert len(fake.received) == 2  # resolving needs hold_runs good runs too
            await step(alerts, 4 * 60 + 15, GOOD)
            resolved = fake.delivered()[2]
            assert resolved.path == "/api/chat.update"
            assert (resolved.body["channel"], resolved.body["ts"]) == (CHANNEL_ID, ts)
            assert resolved.header_text == ":white_check_mark: RESOLVED: Data consistency"
            assert fake.messages[ts]["blocks"][0]["text"]["text"].endswith(
                "RESOLVED: Data consistency"
            )

            await step(alerts, 4 * 60 + 20, GOOD)
            assert len(fake.received) == 3
            states = await alerts.store.states()
            assert states["data_consistency"].state == "ok"
            assert (await alerts.store.status()).waiting == 0
    # The firing message names keys, never what the records hold.
    assert "log_id=1" in first.raw.decode()
    assert_no_data(fake)


async def test_webhook_posts_every_notification_as_a_new_message(database: str) -> None:
    with fake_slack() as fake:
        async with alerting(alert_settings(database), hook(fake)) as alerts:
            for minutes, report in (
                (0, BAD),
                (5, BAD),
                (4 * 60 + 5, BAD),
                (250, GOOD),
                (255, GOOD),
            ):
                await step(alerts, minutes, report)
    headers = [r.header_text.split(":", 2)[-1].strip() for r in fake.delivered()]
    assert headers == [
        "FIRING: Data consistency",
        "STILL FIRING: Data consistency",
        "RESOLVED: Data consistency",
    ]
    assert {r.path for r in fake.received} == {"/services/T000/B000/SECRETPART"}
    assert all("thread_ts" not in r.body and r.body["text"] for r in fake.received)
    assert_no_data(fake)


# --- Slack misbehaving -----------------------------------------------------------------------


@pytest.mark.parametrize("receiver", [bot, hook])
async def test_429_with_retry_after_is_retried_after_the_wait(
    database: str, receiver: Callable[[FakeSlack], SlackNotifier]
) -> None:
    with fake_slack() as fake:
        async with alerting(alert_settings(database), receiver(fake)) as alerts:
            await step(alerts, 0, BAD)
            fake.fail(429, times=1, retry_after=1)
            started = time.monotonic()
            await step(alerts, 5, BAD)
            waited = time.monotonic() - started
    assert [r.status for r in fake.received] == [429, 200]
    assert waited >= 1.0  # Retry-After honoured, in place
    assert fake.received[0].raw == fake.received[1].raw


@pytest.mark.parametrize("receiver", [bot, hook])
async def test_a_long_retry_after_is_waited_out_in_the_outbox(
    database: str, receiver: Callable[[FakeSlack], SlackNotifier]
) -> None:
    with fake_slack() as fake:
        async with alerting(alert_settings(database), receiver(fake)) as alerts:
            await step(alerts, 0, BAD)
            fake.fail(429, times=1, retry_after=120)
            await step(alerts, 5, BAD)
            assert [r.status for r in fake.received] == [429]
            assert alerts.outbox.paused_until == at(7)
            status = await alerts.store.status()
            assert status.waiting == 1 and status.next_attempt_at == at(7)
            assert status.last_error is not None and "rate limited" in status.last_error
            assert (await alerts.outbox.deliver_due(at(6))).paused
            assert len(fake.received) == 1
            assert (await alerts.outbox.deliver_due(at(7))).sent == 1
    assert [r.status for r in fake.received] == [429, 200]


async def test_an_outage_of_twenty_minutes_loses_nothing(database: str) -> None:
    settings = alert_settings(database, retry_max_backoff="5m")
    with fake_slack() as fake:
        async with alerting(settings, bot(fake)) as alerts:
            fake.fail(503)
            attempts: list[int] = []
            script: dict[int, tuple[str, CheckReport]] = {
                0: ("counts", BAD),
                1: ("counts", BAD),  # data_consistency fires
                2: ("orphans", orphans(0.01)),
                3: ("orphans", orphans(0.01)),  # orphaned_records fires
                4: ("counts", GOOD),
                5: ("counts", GOOD),  # data_consistency resolves, before anyone saw it fire
            }
            for minute in range(31):
                if minute == 20:
                    fake.succeed()
                before = len(fake.received)
                if minute in script:
                    check, report = script[minute]
                    await step(alerts, minute, report, check=check)
                else:
                    await alerts.outbox.deliver_due(at(minute))
                if len(fake.received) > before and minute < 20:
                    attempts.append(minute)
            status = await alerts.store.status()
    # Probes back off, doubling, and are never further apart than retry_max_backoff.
    gaps = [b - a for a, b in zip(attempts, attempts[1:], strict=False)]
    assert attempts[0] == 1 and len(attempts) < 12
    assert gaps == sorted(gaps) and max(gaps) <= 5 + 1
    assert all(r.status == 503 for r in fake.received if r.status != 200)
    delivered = [(r.path, r.header_text) for r in fake.delivered()]
    assert delivered == [
        ("/api/chat.postMessage", ":rotating_light: FIRING: Data consistency"),
        ("/api/chat.postMessage", ":rotating_light: FIRING: Orphaned records"),
        ("/api/chat.update", ":white_check_mark: RESOLVED: Data consistency"),
    ]
    assert fake.delivered()[2].body["ts"] == "1700000000.000001"
    # Held 23 minutes by the outage, and the message says so.
    assert "queued 2026-11-24T10:01:00Z, held 23m" in fake.delivered()[0].raw.decode()
    assert status.waiting == 0
    assert_no_data(fake)


async def test_a_hanging_slack_never_blocks_the_checks(database: str) -> None:
    settings = alert_settings(database)
    with fake_slack() as fake:
        fake.hang()
        async with PostgresStore.open(settings.postgres, settings.table_mapping()) as sql:
            await StateStore(sql.pool, settings.postgres.state_schema).migrate()
            alerts = build_alerts(settings, sql.pool, checks=CHECKS, notifier=bot(fake))
            outbox = Outbox(
                alerts.store,
                bot(fake),
                runbook_url="README.md#alerts",
                first_backoff=timedelta(milliseconds=50),
                max_backoff=timedelta(milliseconds=100),
            )
            engine = AlertEngine(
                alerts.store,
                alerts.engine.rules,
                repeat_interval=timedelta(hours=4),
                table="integration_logs",
                on_queued=outbox.wake,
            )
            sink: Callable[[str, CheckReport | None, BaseException | None], Awaitable[None]]
            sink = engine.observe  # the daemon's report-sink signature
            async with anyio.create_task_group() as group:
                group.start_soon(outbox.run)
                with anyio.fail_after(3):
                    await sink("counts", BAD, None)
                    await sink("counts", BAD, None)  # fires: queued, the runner is woken
                await fake.async_wait_for(lambda f: len(f.received) >= 1)
                # Slack hangs on that request; checks still report at full speed.
                with anyio.fail_after(1):
                    for _ in range(5):
                        await sink("counts", BAD, None)
                await fake.async_wait_for(lambda f: len(f.received) >= 2, seconds=10)
                status = await alerts.store.status()
                assert status.waiting == 1 and status.last_error is not None
                assert "timed out" in status.last_error
                fake.succeed()
                await fake.async_wait_for(lambda f: len(f.delivered()) == 1, seconds=10)
                group.cancel_scope.cancel()
    [delivered] = fake.delivered()
    assert delivered.header_text.endswith("FIRING: Data consistency")


# --- restarts, silences, inhibition -------------------------------------------------------


async def test_a_restart_mid_incident_does_not_fire_again(database: str) -> None:
    settings = alert_settings(database)
    with fake_slack() as fake:
        async with alerting(settings, bot(fake)) as first:
            await step(first, 0, BAD)
            await step(first, 5, BAD)
        assert len(fake.delivered()) == 1
        async with alerting(settings, bot(fake)) as second:  # a new process, same schema
            assert (await step(second, 10, BAD)) == []
            assert (await step(second, 60, BAD)) == []
            assert len(fake.received) == 1
            await step(second, 4 * 60 + 5, BAD)  # the repeat, timed from the first delivery
            await step(second, 250, GOOD)
            await step(second, 255, GOOD)
    paths = [(r.path, r.body.get("thread_ts") or r.body.get("ts")) for r in fake.delivered()]
    assert paths == [
        ("/api/chat.postMessage", None),
        ("/api/chat.postMessage", "1700000000.000001"),
        ("/api/chat.update", "1700000000.000001"),
    ]


async def test_a_restart_with_undelivered_alerts_sends_each_once_and_in_order(
    database: str,
) -> None:
    settings = alert_settings(database)
    with fake_slack() as fake:
        fake.fail(503)
        async with alerting(settings, bot(fake)) as first:
            await step(first, 0, BAD)
            await step(first, 5, BAD)  # the firing: its delivery fails, retry at 5m10s
            await step(first, 5.1, GOOD)
            await step(first, 5.15, GOOD)  # the resolved, queued behind it
        assert fake.delivered() == [] and len(fake.received) == 2  # one attempt, one retry
        fake.succeed()
        async with alerting(settings, bot(fake)) as second:  # no memory of the pause
            # The resolved is due, but may not overtake its firing, which is not due yet.
            assert (await second.outbox.deliver_due(at(5.16))).sent == 0
            assert (await second.outbox.deliver_due(at(6))).sent == 2
            assert (await second.outbox.deliver_due(at(7))).sent == 0
    delivered = [(r.path, r.header_text) for r in fake.delivered()]
    assert delivered == [
        ("/api/chat.postMessage", ":rotating_light: FIRING: Data consistency"),
        ("/api/chat.update", ":white_check_mark: RESOLVED: Data consistency"),
    ]


async def test_a_silence_is_counted_not_sent_and_the_firing_follows_when_it_ends(
    database: str,
) -> None:
    with fake_slack() as fake:
        async with alerting(alert_settings(database), bot(fake)) as alerts:
            events: list[tuple[str, str | None]] = []
            alerts.engine.add_listener(lambda n: events.append((n.rule, counter_state(n))))
            await alerts.store.add_silence(Silence("data_*", at(0), at(60), "deploy", "alice"))
            await step(alerts, 0, BAD)
            [muted] = [n for n in await step(alerts, 5, BAD) if n.rule == "data_consistency"]
            assert muted.kind == "firing" and muted.silenced
            await step(alerts, 30, BAD)
            assert fake.received == []
            assert alerts.engine.counts[("data_consistency", "firing", "silenced")] == 1
            await step(alerts, 61, BAD)  # the silence is over and the rule still fires
            assert alerts.engine.counts[("data_consistency", "firing", "queued")] == 1
            await step(alerts, 62, GOOD)
            await step(alerts, 63, GOOD)
    # dualwrite.alerts: one firing (counted while silenced, not again when sent), one resolved.
    assert events == [("data_consistency", "firing"), ("data_consistency", "resolved")]
    assert [r.header_text for r in fake.delivered()] == [
        ":rotating_light: FIRING: Data consistency",
        ":white_check_mark: RESOLVED: Data consistency",
    ]


async def test_data_rules_are_held_back_while_a_store_is_unreachable(database: str) -> None:
    settings = alert_settings(database)
    down = StoreUnavailable("DynamoDB", "cannot reach http://dynamodb.internal:8000")
    with fake_slack() as fake:
        async with alerting(settings, bot(fake)) as base:
            # A data rule that fires at once, to show inhibition, not the hold count.
            rules = [
                replace(r, hold_runs=1) if r.name == "data_consistency" else r
                for r in build_rules(settings, CHECKS)
            ]
            engine = AlertEngine(
                base.store, rules, repeat_interval=timedelta(hours=4), table="integration_logs"
            )
            alerts = Alerts(base.store, engine, base.outbox)
            await step(alerts, 0, None, down, check="orphans")
            await step(alerts, 1, None, down, check="orphans")  # store_unreachable fires
            notes = await step(alerts, 2, BAD)  # stores answer once; still resolving
            [held] = [n for n in notes if n.rule == "data_consistency"]
            assert held.kind == "firing" and held.inhibited
            assert len(fake.received) == 1
            await step(alerts, 3, BAD)  # store_unreachable resolves; the held firing goes out
            assert engine.counts[("data_consistency", "firing", "inhibited")] == 1
    delivered = [(r.path, r.header_text) for r in fake.delivered()]
    assert delivered == [
        ("/api/chat.postMessage", ":rotating_light: FIRING: Store unreachable"),
        ("/api/chat.update", ":white_check_mark: RESOLVED: Store unreachable"),
        ("/api/chat.postMessage", ":rotating_light: FIRING: Data consistency"),
    ]
    first = fake.delivered()[0].raw.decode()
    assert "StoreUnavailable (DynamoDB)" in first
    assert "dynamodb.internal" not in first  # the error's text is never sent


async def test_a_check_failing_n_times_in_a_row_fires(database: str) -> None:
    with fake_slack() as fake:
        async with alerting(alert_settings(database), hook(fake)) as alerts:
            boom = RuntimeError(f"bad row {SENTINEL}")
            for minute in range(3):
                await step(alerts, minute, None, boom, check="sample")
            await step(alerts, 3, GOOD, check="sample")  # a success resets the count
    [fired, resolved] = fake.delivered()
    assert fired.header_text.endswith("FIRING: Check sample failing")
    assert "failed *3* runs in a row" in fired.raw.decode()
    assert "RuntimeError" in fired.raw.decode()
    assert resolved.header_text.endswith("RESOLVED: Check sample failing")
    assert_no_data(fake)


async def test_the_sink_logs_and_carries_on_when_postgresql_is_gone(
    database: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = alert_settings(database)
    with fake_slack() as fake:
        async with alerting(settings, hook(fake)) as alerts:
            await alerts.store.pool.close()
            with caplog.at_level(logging.WARNING, logger="monitor.alerts.engine"):
                await alerts.engine.observe("counts", BAD, None)
    assert "alert rules not evaluated after counts" in caplog.text
    assert SENTINEL not in caplog.text


# --- the command line -----------------------------------------------------------------------


@pytest.fixture
def no_slack_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SLACK_WEBHOOK_URL", "SLACK_BOT_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def cli(capsys: pytest.CaptureFixture[str], config: Path, *args: str) -> tuple[int, str, str]:
    code = main(["--config", str(config), *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.usefixtures("no_slack_env")
def test_silence_add_list_remove(
    database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path / "c.toml", alert_settings(database))
    code, out, _ = cli(
        capsys, config, "silence", "add", "field_accuracy", "--for", "2h", "--reason", "backfill",
        "--by", "alice", "--format", "json",
    )  # fmt: skip
    assert code == 0
    added = json.loads(out)
    assert (added["rule"], added["created_by"], added["matches"]) == (
        "field_accuracy", "alice", ["field_accuracy"],
    )  # fmt: skip
    starts = datetime.fromisoformat(added["starts_at"].replace("Z", "+00:00"))
    ends = datetime.fromisoformat(added["ends_at"].replace("Z", "+00:00"))
    assert ends - starts == timedelta(hours=2)

    code, out, _ = cli(capsys, config, "silence", "list")
    assert code == 0 and "field_accuracy" in out and "backfill" in out and "active" in out

    code, _, err = cli(capsys, config, "silence", "remove", str(added["id"]))
    assert code == 0
    code, out, _ = cli(capsys, config, "silence", "list", "--format", "json")
    assert json.loads(out) == {"silences": []}
    code, out, _ = cli(capsys, config, "silence", "list", "--all", "--format", "json")
    assert json.loads(out)["silences"][0]["removed_at"] is not None

    code, _, err = cli(capsys, config, "silence", "remove", str(added["id"]))
    assert code == 2 and f"no silence {added['id']}" in err


@pytest.mark.usefixtures("no_slack_env")
@pytest.mark.parametrize(
    ("rule", "reason", "message"),
    [
        ("latency", "x", "no rule matches 'latency'; rules: store_unreachable, data_consistency"),
        ("field_accuracy", "  ", "--reason must say why"),
    ],
)
def test_silence_add_refuses_what_would_silence_nothing(
    database: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    rule: str,
    reason: str,
    message: str,
) -> None:
    config = write_config(tmp_path / "c.toml", alert_settings(database))
    code, _, err = cli(capsys, config, "silence", "add", rule, "--for", "1h", "--reason", reason)
    assert code == 2 and message in err


@pytest.mark.usefixtures("no_slack_env")
def test_silence_add_needs_a_duration(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["silence", "add", "field_accuracy", "--for", "soon", "--reason", "x"])
    assert exited.value.code == 2
    assert "'soon' is not a duration" in capsys.readouterr().err


@pytest.mark.usefixtures("no_slack_env")
def test_alerts_test_through_a_webhook_and_its_failure(
    database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with fake_slack() as fake:
        extra = f'[alerts]\nslack_webhook_url = "{fake.webhook_url}"\nsend_timeout = "2s"\n'
        config = write_config(tmp_path / "c.toml", alert_settings(database), extra)
        code, out, _ = cli(capsys, config, "alerts", "test")
        assert code == 0 and "test message sent: Slack incoming webhook" in out
        assert fake.delivered()[0].header_text == ":wave: TEST: dualwrite-monitor alerts"

        fake.fail(404, error="no_service")
        code, out, err = cli(capsys, config, "alerts", "test")
    assert code == 3
    assert "alert delivery failed: Slack incoming webhook: HTTP 404 no_service" in err
    assert "SECRETPART" not in err + out  # the webhook URL is a secret


@pytest.mark.usefixtures("no_slack_env")
def test_alerts_test_with_a_bot_token_names_the_missing_scope(
    database: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    with fake_slack() as fake:
        extra = f'[alerts]\nchannel = "#alerts"\nslack_api_url = "{fake.api_url}"\n'
        config = write_config(tmp_path / "c.toml", alert_settings(database), extra)
        code, out, _ = cli(capsys, config, "alerts", "test", "--format", "json")
        assert code == 0
        assert json.loads(out) == {"sent": True, "destination": "Slack bot token, channel #alerts"}
        fake.fail(403, error="missing_scope")
        code, _, err = cli(capsys, config, "alerts", "test")
    assert code == 3 and "the bot token needs the chat:write scope" in err
    assert BOT_TOKEN not in err


@pytest.mark.usefixtures("no_slack_env")
def test_alerts_test_without_slack_prints_on_the_console(
    database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path / "c.toml", alert_settings(database))
    code, out, _ = cli(capsys, config, "alerts", "test")
    assert code == 0
    assert out.startswith("[TEST] dualwrite-monitor alerts\n")
    assert "Nothing is wrong." in out
    assert out.rstrip().endswith("test message sent: console (standard output)")


@pytest.mark.usefixtures("no_slack_env")
def test_alerts_status_shows_rule_states_and_the_outbox(
    database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = alert_settings(database)

    async def fire_while_slack_is_down() -> None:
        with fake_slack() as fake:
            fake.fail(500)
            async with alerting(settings, hook(fake)) as alerts:
                await step(alerts, 0, BAD)
                await step(alerts, 5, BAD)

    anyio.run(fire_while_slack_is_down)
    code, out, _ = cli(
        capsys, write_config(tmp_path / "c.toml", settings), "alerts", "status", "--format", "json"
    )
    assert code == 0
    status = json.loads(out)
    rules = {r["rule"]: r for r in status["rules"]}
    assert rules["data_consistency"]["state"] == "firing"
    assert rules["data_consistency"]["firing_since"] == "2026-11-24T10:05:00Z"
    assert status["outbox"]["waiting"] == 1
    assert "HTTP 500" in status["outbox"]["last_error"]
