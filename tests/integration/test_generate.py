"""`generate` on the real stores, then every check: the truth file is exactly what they find.

Acceptance of CONTRACT §7: with `heavy` faults every fault whose `expect` is a finding kind is
reported with that kind and key (recall 100 %) and no key outside the truth file is reported
(no false findings); with `none`, nothing is reported at all.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest

from monitor.checks.registry import CheckRequest
from monitor.cli import main
from monitor.config import Settings
from monitor.model import CheckReport
from monitor.setup import run_setup
from monitor.writer.faults import Fault
from monitor.writer.generate import GenerateOptions
from tests.integration.generated import (
    HEAVY,
    check_all,
    found_by_key,
    generate,
    settings_for,
    traffic,
)
from tests.integration.scenario import write_config

pytestmark = [pytest.mark.services, pytest.mark.timeout(300)]


def generate_then_check(
    settings: Settings, options: GenerateOptions, truth: Path
) -> tuple[list[dict[str, Any]], list[CheckReport]]:
    async def go() -> list[CheckReport]:
        window = await generate(settings, options, truth)
        return await check_all(settings, CheckRequest(**window))

    reports = anyio.run(go)
    lines = [json.loads(line) for line in truth.read_text().splitlines()]
    return lines, reports


def test_heavy_faults_are_all_found_and_nothing_else_is(
    database: str, dynamo_endpoint: str, tmp_path: Path
) -> None:
    settings = settings_for(database, dynamo_endpoint)
    lines, reports = generate_then_check(settings, HEAVY, tmp_path / "truth.jsonl")
    *faults, last = lines
    summary = last["summary"]
    assert summary["written"] == 200 and summary["errors"] == 0
    assert {f["fault"] for f in faults} == {str(f) for f in Fault}, "the seed injects every kind"
    assert sum(summary["faults"].values()) == len(faults)

    found = found_by_key(reports)
    truth_keys = {f["key"]["log_id"] for f in faults}
    missed = [
        f for f in faults if f["expect"] and f["expect"] not in found.get(f["key"]["log_id"], ())
    ]
    assert missed == []
    assert set(found) - truth_keys == set(), "a key outside the truth file was reported"
    agreeing = {f["key"]["log_id"] for f in faults if f["expect"] is None}
    assert agreeing.isdisjoint(found), "a fault whose final states agree was reported"


def test_no_faults_no_findings(database: str, dynamo_endpoint: str, tmp_path: Path) -> None:
    settings = settings_for(database, dynamo_endpoint)
    lines, reports = generate_then_check(settings, traffic("none", 1, 2), tmp_path / "truth.jsonl")
    assert lines == [lines[-1]] and lines[-1]["summary"]["written"] == 100
    assert [f for r in reports for f in r.findings] == []
    assert all(r.ok for r in reports)


def test_generate_command_writes_the_truth_file(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    anyio.run(run_setup, settings)
    config = write_config(tmp_path / "c.toml", settings)
    faults = tmp_path / "faults.toml"
    faults.write_text("crash_after_sql = 0.5\n")
    truth = tmp_path / "truth.jsonl"
    code = main(
        [
            "generate",
            "--config",
            str(config),
            "--rate",
            "50",
            "--duration",
            "1s",
            "--faults",
            str(faults),
            "--truth",
            str(truth),
            "--seed",
            "3",
            "--format",
            "json",
        ]
    )
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    lines = [json.loads(line) for line in truth.read_text().splitlines()]
    # The run stops on time: on a slow machine it writes fewer than rate x duration.
    assert 0 < lines[-1]["summary"]["written"] == summary["written"] <= 50
    crashed = lines[:-1]
    assert 0 < len(crashed) < summary["written"]
    assert summary["faults"] == {"crash_after_sql": len(crashed)}
    assert all(
        f
        == {
            "fault": "crash_after_sql",
            "key": f["key"],
            "expect": "missing_in_dynamodb",
            "result": "crashed",
        }
        for f in crashed
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rate", "0"], "--rate must be a positive"),
        (["--duration", "soon"], "--duration"),
        (["--faults", "medium"], "not none, light or heavy"),
    ],
)
def test_bad_generate_options_are_usage_errors(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = tmp_path / "c.toml"
    config.write_text("")
    assert main(["generate", "--config", str(config), *args]) == 2
    assert message in capsys.readouterr().err
