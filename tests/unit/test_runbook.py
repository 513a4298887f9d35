"""The runbook the daemon serves (/runbook) is docs/runbook.md, with an anchor for every rule."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from importlib import resources
from pathlib import Path

import pytest

from monitor.alerts.wiring import build_rules
from monitor.checks.registry import REGISTRY
from monitor.config import Settings
from monitor.telemetry.runbook import RESOURCE, anchors, render_markdown, runbook_page

REPO = Path(__file__).resolve().parents[2]


def test_the_packaged_runbook_is_the_documentation_page() -> None:
    packaged = resources.files("monitor.telemetry").joinpath(RESOURCE).read_bytes()
    assert packaged == (REPO / "docs" / "runbook.md").read_bytes()
    # And the wheel carries it (the link is followed when the package is built).
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert f"telemetry/{RESOURCE}" in project["tool"]["setuptools"]["package-data"]["monitor"]


def test_every_alert_rule_has_its_anchor() -> None:
    html = runbook_page()
    rules = {rule.name for rule in build_rules(Settings(), REGISTRY)}
    assert rules <= anchors(html), sorted(rules - anchors(html))


def test_the_page_is_self_contained() -> None:
    html = runbook_page()
    assert "<script" not in html and "--8<--" not in html
    # Links to other pages of the site are text here; in-page anchors stay links.
    assert 'href="alerts.md' not in html and ".md#" not in html.replace("runbook.md", "")


def test_markdown_renders_headings_lists_code_tables_and_links() -> None:
    html = render_markdown(
        "# Title\n\n## `rule_x` {#rule_x}\n\n- one\n- two `code`\n\n"
        "```\nfenced\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
        "[site](checks.md#check-counts) and [web](https://example.com/x) and [here](#rule_x)\n"
    )
    assert '<h2 id="rule_x">' in html and "<li>one</li>" in html
    assert "<pre><code>fenced" in html and "<table>" in html
    assert (
        '<a href="https://example.com/x">web</a>' in html and '<a href="#rule_x">here</a>' in html
    )
    assert "site" in html and "checks.md" not in html


@pytest.mark.slow
def test_the_wheel_carries_the_runbook_itself(tmp_path: Path) -> None:
    """Opt-in (-m slow, builds the package): the link is followed, the file's bytes ship."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "-q", "-w", str(tmp_path)],
        check=True,
        timeout=600,
    )
    (wheel,) = tmp_path.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = archive.read(f"monitor/telemetry/{RESOURCE}")
    assert shipped == (REPO / "docs" / "runbook.md").read_bytes()
