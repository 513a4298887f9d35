"""The daemon as a process, wired to the alerts engine: a seeded inconsistency reaches Slack
(a local fake over HTTP) as one firing message per rule, counted in `dualwrite.alerts`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from monitor.config import Settings
from tests.e2e.test_daemon import (
    PASSWORD,
    DaemonProcess,
    daemon_config,
    daemons,  # noqa: F401  (fixture)
    recent_rows,
    sample,
    wait_until,
    with_password,
)
from tests.integration.fake_slack import fake_slack
from tests.integration.scenario import seed

#: A counts run slower than its 1 s interval (a loaded machine) makes the next runs "skipped",
#: and skipped runs count as failed: three in a row would fire `check_failed:counts` before the
#: data alert these tests are about. No run fails here for any other reason.
DATA_ALERTS_ONLY = "failure_runs = 1000\n"
#: Seconds: the daemon process's start (imports, stores) and its first runs, at load ~10.
STARTED_AND_RUN = 60


def test_daemon_sends_a_firing_alert_once_and_counts_it(
    settings: Settings,
    tmp_path: Path,
    daemons: Callable[[Path, dict[str, str]], DaemonProcess],  # noqa: F811
) -> None:
    settings = with_password(settings)
    seed(settings, recent_rows(60), drop_from_dynamodb={3, 4, 5}, drop_from_sql={10, 11})
    config = daemon_config(
        tmp_path / "c.toml",
        settings,
        f'[alerts]\nhold_runs = 1\nrepeat_interval = "1h"\n{DATA_ALERTS_ONLY}',
    )
    with fake_slack() as slack:
        daemon = daemons(config, {"SLACK_WEBHOOK_URL": slack.webhook_url})
        # Two counts runs at least: the rule fired on the first and must not fire again. The
        # deadline covers the process's start and three whole runs on a loaded machine.
        wait_until(
            lambda: daemon.runs("counts", "inconsistent") >= 3,
            timeout=STARTED_AND_RUN,
            what="three counts runs",
        )

        def variance_alerts() -> list[str]:
            return [
                r.body.get("text", "")
                for r in slack.delivered()
                if r.body.get("text", "").startswith("FIRING: Count variance")
            ]

        try:
            texts = wait_until(variance_alerts, what="a count_variance alert in Slack")
        except AssertionError as exc:
            received = [(r.path, r.status, r.body.get("text")) for r in slack.received]
            raise AssertionError(
                f"{exc}; Slack got {received}\n{daemon.log_text()[-3000:]}"
            ) from None
        m = wait_until(
            lambda: (
                (m := daemon.metrics())
                and sample(m["dualwrite_alerts"], rule="count_variance", state="firing")
                and m
            ),
            what="dualwrite.alerts counted",
        )
        assert sample(m["dualwrite_alerts"], rule="count_variance", state="firing") == 1
        code, _ = daemon.stop()
    assert code == 0, daemon.log_text()
    assert len(texts) == 1
    for received in slack.received:
        assert PASSWORD not in received.raw.decode()


def test_without_slack_alerts_are_json_log_events(
    settings: Settings,
    tmp_path: Path,
    daemons: Callable[[Path, dict[str, str]], DaemonProcess],  # noqa: F811
) -> None:
    seed(settings, recent_rows(30), drop_from_dynamodb={3})
    config = daemon_config(
        tmp_path / "c.toml", settings, f"[alerts]\nhold_runs = 1\n{DATA_ALERTS_ONLY}"
    )
    daemon = daemons(config, {})
    event = daemon.wait_log(lambda line: line["event"] == "alert.firing", timeout=STARTED_AND_RUN)
    assert event["summary"].startswith("FIRING: ")
    assert any("Example keys" in line for line in event["lines"])
    code, _ = daemon.stop()
    assert code == 0
    assert len(daemon.lines) == len(daemon.raw), "every line of output is JSON"
