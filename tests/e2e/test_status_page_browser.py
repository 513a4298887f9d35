"""The status page in a real browser: headless Chromium loads `/` from a running
daemon with a seeded inconsistency and shows what on-call must see; `/runbook` has the anchor
it links to."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import anyio
import asyncpg
import pytest

from monitor.config import Settings
from monitor.core.phases import Phase
from monitor.migration.history import record_change
from monitor.migration.phase import current_phase
from monitor.stores.state import StateStore
from tests.e2e.test_daemon import (
    DaemonProcess,
    daemon_config,
    daemons,  # noqa: F401  (fixture)
    recent_rows,
    wait_until,
)
from tests.integration.scenario import seed

PUBLIC_URL = "http://dualwrite-monitor.example:9464"
CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium is not installed (scripts/install-chromium installs it as root with apt-get)",
)


def browse(url: str, profile: Path) -> str:
    """The DOM as Chromium built and laid it out. (`--dump-dom` needs script enabled to read the
    DOM, so "readable without JavaScript" is shown by the page having no script at all.)"""
    assert CHROMIUM is not None
    result = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0 and "</html>" in result.stdout, result.stderr[-2000:]
    return result.stdout


class Dom(HTMLParser):
    """Elements with their attributes and the text inside them (enough to find what we assert)."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str], list[str]]] = []
        self._open: list[list[str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        text: list[str] = []
        self.elements.append((tag, {k: v or "" for k, v in attrs}, text))
        if tag not in {"meta", "br", "img", "input", "link", "circle", "line", "polyline"}:
            self._open.append(text)

    def handle_endtag(self, tag: str) -> None:
        if self._open and tag not in {"meta", "br", "img", "input", "link"}:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        for text in self._open:
            text.append(data)

    def find(self, tag: str, **attrs: str) -> list[str]:
        """The text of every `tag` whose attributes include `attrs`."""
        return [
            " ".join("".join(text).split())
            for t, a, text in self.elements
            if t == tag and all(a.get(k.rstrip("_")) == v for k, v in attrs.items())
        ]

    def hrefs(self) -> set[str]:
        return {a["href"] for t, a, _ in self.elements if t == "a" and "href" in a}


def parse(html: str) -> Dom:
    dom = Dom()
    dom.feed(html)
    return dom


async def _switch_reads(settings: Settings) -> None:
    """The migration is past the read switch: on-call must see that reads depend on DynamoDB."""
    pool = await asyncpg.create_pool(settings.postgres.dsn.get_secret_value(), min_size=1)
    try:
        schema = settings.postgres.state_schema
        await StateStore(pool, schema).migrate()
        while (now := await current_phase(pool, schema)) is not Phase.DYNAMO_READS:
            assert now.following is not None
            await record_change(
                pool, schema, expected=now, to=now.following, by="gate", evidence={}
            )
    finally:
        await pool.close()


def test_on_call_sees_the_failing_check_its_figure_keys_rule_and_runbook(
    settings: Settings,
    tmp_path: Path,
    daemons: Callable[[Path, dict[str, str]], DaemonProcess],  # noqa: F811
) -> None:
    seed(settings, recent_rows(60), drop_from_dynamodb={3, 4, 5})
    anyio.run(_switch_reads, settings)
    config = daemon_config(tmp_path / "c.toml", settings, "[alerts]\nhold_runs = 1\n")
    # A 4 s interval: on a busy machine a 1 s run may be skipped (an error) just before the page
    # is read; what is asserted below must be the inconsistency, not that.
    env = {
        "DUALWRITE_MONITOR_TELEMETRY_PUBLIC_URL": PUBLIC_URL,
        "DUALWRITE_MONITOR_CHECKS_COUNTS_INTERVAL": "4s",
    }
    daemon = daemons(config, env)

    def firing() -> bool:
        alerts = daemon.status().get("alerts") or {}
        return alerts.get("rules", {}).get("data_consistency") == "firing"

    wait_until(firing, timeout=60, what="data_consistency firing in /status")
    base = f"http://127.0.0.1:{daemon.port}"
    dom = parse(browse(f"{base}/", tmp_path / "profile"))

    # The failing check, flagged at the top and in its own section.
    attention = " ".join(dom.find("section", id="attention"))
    assert "Needs attention" in attention and "check counts" in attention, attention
    assert "rule data_consistency firing" in attention, attention
    counts = " ".join(dom.find("section", id="check-counts"))
    assert "inconsistent" in counts and "window" in counts, counts
    # Its figure against the threshold (57 of 60 keys in both stores).
    figure = dom.find("tr", class_="breach", **{"data-rule": "data_consistency"})
    assert figure and "95 %" in figure[0] and "alert below 99.5 %" in figure[0], counts
    # Example keys of the missing records, keys only.
    missing = dom.find("tr", **{"data-kind": "missing_in_dynamodb"})
    assert missing and all(f"log_id={k}" in missing[0] for k in (3, 4, 5)), missing
    # The firing rule, linked to its runbook anchor; a chart per key figure.
    assert dom.find("tr", **{"data-rule": "data_consistency", "data-state": "firing"})
    assert "/runbook#data_consistency" in dom.hrefs()
    assert len([t for t, _, _ in dom.elements if t == "svg"]) >= 4
    assert not [t for t, _, _ in dom.elements if t == "script"]
    # The migration phase the writers follow, and when it was entered.
    phase = " ".join(dom.find("section", id="phase"))
    assert "Migration phase" in phase and "entered" in phase and "gate" in phase, phase
    assert dom.find("ol", class_="phases", **{"data-phase": "dynamo_reads"}), phase
    assert dom.find("li", class_="current") == ["dynamo_reads"], phase
    assert (daemon.status().get("phase") or {}).get("phase") == "dynamo_reads"

    # The anchor exists on the daemon's own runbook.
    runbook = parse(browse(f"{base}/runbook", tmp_path / "profile2"))
    assert dom.find("h2", id="data_consistency") == [] and runbook.find("h2", id="data_consistency")
    assert "/runbook#migration-phases" in dom.hrefs() and runbook.find("h2", id="migration-phases")

    # And the alert itself links there, through public_url.
    alert = daemon.wait_log(
        lambda line: line["event"] == "alert.firing" and "consistency" in line["summary"]
    )
    assert any(f"{PUBLIC_URL}/runbook#data_consistency" in line for line in alert["lines"]), alert
