"""The read-switch gate on the real stores: canary reads compared record by record."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from monitor.cli import main
from monitor.config import Settings
from tests.integration.scenario import make_rows, seed, write_config

WINDOW = ["--since", "2026-01-01T10:00:00Z", "--until", "2026-01-01T10:05:00Z"]
GATES = """
[gates]
canary_window = "10m"
canary_reads = 5
canary_latency_budget = "{budget}"
[alerts.thresholds]
field_accuracy = {{ target = 95.0, alert_below = 90.0 }}
"""


def gate(
    capsys: pytest.CaptureFixture[str], config: Path, *args: str, name: str = "read-switch"
) -> tuple[int, dict[str, Any]]:
    code = main(["--config", str(config), "gate", name, *WINDOW, *args, "--format", "json"])
    out, err = capsys.readouterr()
    assert out.startswith("{"), err
    return code, json.loads(out)


def checks(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in document["checks"]}


def test_read_switch_passes_on_agreeing_stores_and_moves_the_phase(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(settings, make_rows(120))
    config = write_config(tmp_path / "c.toml", settings, GATES.format(budget="30s"))
    code, document = gate(capsys, config, "--apply", "--no-wait", "--by", "ana")
    found = checks(document)
    assert set(found) == {
        "phase",
        "counts",
        "orphans",
        "field_accuracy",
        "canary_reads",
        "canary_latency",
    }
    assert code == 0, document
    patterns = {p["pattern"]: p for p in found["canary_reads"]["figures"]["patterns"]}
    # The seed's three read patterns, each read and compared record by record.
    assert set(patterns) == {"by partition key", "ByApplication", "ErrorsByDate"}
    assert all(p["reads"] >= 1 and p["records"] >= 1 for p in patterns.values())
    assert patterns["by partition key"]["reads"] == 3  # three services, one day: all read
    latency = found["canary_latency"]["figures"]
    assert latency["reads"] == sum(p["reads"] for p in patterns.values())
    assert latency["dynamodb_p99_ms"] > 0 and latency["sql_p99_ms"] > 0

    assert document["phase"]["to"] == "dynamo_reads"
    assert main(["--config", str(config), "phase", "show", "--format", "json"]) == 0
    last = json.loads(capsys.readouterr().out)["history"][-1]
    assert (last["from"], last["to"], last["by"]) == ("dual_write", "dynamo_reads", "ana")
    assert {c["name"] for c in last["evidence"]["checks"]} == set(found)


def test_a_canary_finds_a_wrong_and_a_missing_record(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(
        settings,
        make_rows(120),
        drop_from_dynamodb={70},
        item_overrides={80: {"StatusCode": {"S": "201"}}},
    )
    config = write_config(tmp_path / "c.toml", settings, GATES.format(budget="30s"))
    code, document = gate(capsys, config)
    assert code == 1
    found = checks(document)
    assert not found["canary_reads"]["passed"]
    base = next(
        p
        for p in found["canary_reads"]["figures"]["patterns"]
        if p["pattern"] == "by partition key"
    )
    assert base["missing_in_dynamodb"] == [70]
    assert base["wrong"] == [80]
    assert not found["counts"]["passed"] or found["counts"]["figures"]["missing_in_dynamodb"] == 1


def test_the_latency_budget_refuses_slow_reads(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(settings, make_rows(120))
    config = write_config(tmp_path / "c.toml", settings, GATES.format(budget="0s"))
    code, document = gate(capsys, config)
    found = checks(document)
    assert code == 1 and found["canary_reads"]["passed"]
    assert not found["canary_latency"]["passed"]
    assert "> budget 0 ms" in found["canary_latency"]["detail"]
