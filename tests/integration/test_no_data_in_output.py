"""No record data in what the monitor prints, even for hostile items and with --debug."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.config import Settings
from tests.integration.scenario import make_rows, seed, write_config

WINDOW = ["--since", "2026-01-01T09:00:00Z", "--until", "2026-01-01T11:00:00Z"]
MARKER = "PAYLOAD-7f3c-do-not-print"


def test_debug_output_carries_no_item_payload(settings: Settings, tmp_path: Path) -> None:
    rows = make_rows(20)
    for row in rows:
        row["request_data"] = json.dumps({"applicant": MARKER})
        row["error_message"] = None if row["is_success"] else MARKER
    seed(settings, rows)
    config = write_config(tmp_path / "c.toml", settings)
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "--debug", "check", "sample", "--config", str(config)]
        + WINDOW,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "DEBUG" in result.stderr  # debug logging is on ...
    assert MARKER not in result.stderr  # ... and still carries no record data
    assert MARKER not in result.stdout


def test_a_malformed_key_is_described_by_type_and_location(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = make_rows(10)
    seed(settings, rows, item_overrides={4: {"LogId": {"M": {"x": {"S": MARKER}}}}})
    config = write_config(tmp_path / "c.toml", settings)
    code = main(["check", "counts", "--config", str(config), "--format", "json", *WINDOW])
    out, err = capsys.readouterr()
    assert code in (0, 1), err
    report = json.loads(out)
    invalid = [f for f in report["findings"] if f["kind"] == "invalid_data"]
    assert len(invalid) == 1
    assert invalid[0]["key"] == {"log_id": "<M key>"}
    assert invalid[0]["pk"] and invalid[0]["sk"].endswith("#4")
    assert MARKER not in out and MARKER not in err


def test_a_json_key_carrying_data_is_shown_as_a_hash(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = make_rows(10)
    email = "jane.doe@bank.example"
    rows[2]["request_data"] = json.dumps({email: {"limit": 100}})
    changed = json.dumps({email: {"limit": 900}})
    seed(settings, rows, item_overrides={3: {"RequestData": {"S": changed}}})
    config = write_config(tmp_path / "c.toml", settings)
    code = main(["check", "sample", "--config", str(config), "--format", "json", *WINDOW])
    out, err = capsys.readouterr()
    assert code in (0, 1), err
    mismatches = [f for f in json.loads(out)["findings"] if f["kind"] == "field_mismatch"]
    assert [f["key"] for f in mismatches] == [{"log_id": 3}]
    assert mismatches[0]["detail"].startswith("differs at $[sha256:")
    assert mismatches[0]["detail"].endswith("].limit")
    assert email not in out and email not in err
