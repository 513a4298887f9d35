"""`dualwrite-monitor demo` as a process, non-interactively: it finds exactly what it injected,
says so in one JSON object, exits 0, and leaves no process and no data folder behind."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import pytest

pytestmark = [pytest.mark.services, pytest.mark.timeout(400)]


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(f"{entry.name}: {cmdline[:120]}")
    return found


def test_the_demo_finds_what_it_injected_and_leaves_nothing_behind(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    # Short (a PostgreSQL socket path must fit 107 bytes), and reachable by the local PostgreSQL,
    # which may run as another user.
    work = Path(tempfile.mkdtemp(prefix="dwdemo-", dir="/tmp"))
    work.chmod(0o755)
    request.addfinalizer(lambda: shutil.rmtree(work, ignore_errors=True))
    truth = tmp_path / "truth.jsonl"
    env = {**os.environ, "TMPDIR": str(work)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "monitor",
            "demo",
            "--format",
            "json",
            "--duration",
            "30s",
            "--truth",
            str(truth),
            "--seed",
            "3",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=360,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    *faults, last = [json.loads(line) for line in truth.read_text().splitlines()]
    assert summary["written"] == last["summary"]["written"] > 0
    assert summary["injected"] == dict(Counter(f["fault"] for f in faults))
    assert summary["found"] == summary["injected"]
    assert summary["missed"] == [] and summary["false_findings"] == []
    assert summary["interrupted"] is False
    assert set(summary["alerts"]) == {"fired", "resolved"}
    # It ends with a repair and every check agreeing after it.
    repaired = summary["repaired"]
    repairable = [f for f in faults if f["expect"] not in (None, "invalid_data")]
    assert repaired["applied"] == len(repairable) > 0
    assert repaired["left"] == sum(f["expect"] == "invalid_data" for f in faults)
    assert repaired["skipped"] == repaired["failed"] == 0
    assert sum(repaired["by_action"].values()) == repaired["applied"]
    assert summary["agreement_after_repair"] is True
    assert "Traceback" not in done.stderr
    assert list(work.iterdir()) == [], "the demo left a data folder behind"
    assert _processes_mentioning(str(work)) == []


def test_the_demo_refuses_a_config_file_it_would_ignore(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("")
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "demo", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "ignores config files" in done.stderr
