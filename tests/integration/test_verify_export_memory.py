"""`verify --from-export` under a small `export_memory_limit`: the whole process stays under it,
DuckDB spilling what does not fit. Opt-in (`-m slow`): loading PostgreSQL and writing an export
big enough that DuckDB alone would take the whole limit costs about a minute."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import anyio
import pytest

from monitor.config import settings_from_dict
from tests.bulk_history import BASE, STEP_MS, expected, load_sql, write_export

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

RECORDS = 1_000_000
#: DuckDB alone holds ~470 MB for these records (given a 512MB limit), the process around it
#: ~100 MB: given the whole limit DuckDB took it, and the process peaked at ~390 MB.
LIMIT = "300MB"


#: Runs the command and writes its peak RSS (KiB) to argv[1]. The peak is read from a small
#: process's child: Linux counts into a process's peak the memory of the one that forked it
#: until it executes (pytest's, here, which wrote the export).
_LAUNCHER = (
    "import os, subprocess, sys; child = subprocess.Popen(sys.argv[2:]);"
    " _, status, usage = os.wait4(child.pid, 0);"
    " open(sys.argv[1], 'w').write(str(usage.ru_maxrss));"
    " sys.exit(os.waitstatus_to_exitcode(status))"
)


def peak_rss_of(command: list[str], out: Path) -> tuple[int, int]:
    """(exit code, peak RSS in bytes) of one process running `command`."""
    with (out / "stdout").open("wb") as stdout, (out / "stderr").open("wb") as stderr:
        done = subprocess.run(
            [sys.executable, "-c", _LAUNCHER, str(out / "peak"), *command],
            stdout=stdout,
            stderr=stderr,
            check=False,
        )
    return done.returncode, int((out / "peak").read_text()) * 1024  # KiB on Linux


def test_a_run_under_a_small_limit_stays_under_it(database: str, tmp_path: Path) -> None:
    settings = settings_from_dict({"postgres": {"dsn": database, "statement_timeout": "5m"}})
    anyio.run(load_sql, settings, RECORDS)
    export_time = BASE + timedelta(milliseconds=STEP_MS * (RECORDS + 1), minutes=3)
    folder = write_export(tmp_path / "exports", RECORDS, 16, export_time)
    config = tmp_path / "c.toml"
    config.write_text(
        f'[postgres]\ndsn = "{database}"\nstatement_timeout = "5m"\n'
        f'[verify]\nexport_memory_limit = "{LIMIT}"\nexport_temp_dir = "{tmp_path / "work"}"\n'
        "export_threads = 2\n"
    )
    code, peak = peak_rss_of(
        [sys.executable, "-m", "monitor.cli", "--config", str(config), "--format", "json"]
        + ["verify", "--from-export", str(folder)],
        tmp_path,
    )
    assert code in (0, 1), (tmp_path / "stderr").read_text()[-2000:]
    report = json.loads((tmp_path / "stdout").read_text())
    found: dict[str, set[int]] = {}
    for f in report["findings"]:
        found.setdefault(f["kind"], set()).add(int(f["key"]["log_id"]))
    assert found == {k: v for k, v in expected(RECORDS).items() if v}  # the whole work was done
    assert peak < int(LIMIT.removesuffix("MB")) * 10**6, (
        f"peak RSS {peak / 10**6:.0f} MB over {LIMIT}"
    )
