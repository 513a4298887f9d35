"""DynamoDB down: the CLI's final message stands alone; retries are one updating terminal line."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.config import Settings
from tests.integration.scenario import make_rows, seed, write_config

REPO = Path(__file__).resolve().parents[2]
WINDOW = ["--since", "2026-01-01T09:00:00Z", "--until", "2026-01-01T11:00:00Z"]


def down_config(settings: Settings, tmp_path: Path) -> Path:
    seed(settings, make_rows(5))
    config = write_config(tmp_path / "c.toml", settings)
    config.write_text(
        config.read_text().replace(settings.dynamodb.endpoint_url, "http://127.0.0.1:1")
    )
    return config


def command(config: Path) -> list[str]:
    return [sys.executable, "-m", "monitor", "check", "counts", "--config", str(config), *WINDOW]


def test_in_a_pipe_only_the_final_message_is_printed(settings: Settings, tmp_path: Path) -> None:
    result = subprocess.run(
        command(down_config(settings, tmp_path)),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 3
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("dualwrite-monitor: DynamoDB unavailable")
    assert "retry" not in result.stderr.split("unavailable", 1)[1].split("after")[0]


def test_on_a_terminal_retries_update_one_line_then_the_message_stands_alone(
    settings: Settings, tmp_path: Path
) -> None:
    controller, terminal = pty.openpty()
    try:
        proc = subprocess.Popen(
            command(down_config(settings, tmp_path)),
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=terminal,
        )
        os.close(terminal)
        terminal = -1
        chunks = []
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # EIO: the child closed its side
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert proc.wait(120) == 3
    finally:
        os.close(controller)
        if terminal >= 0:
            os.close(terminal)
    shown = b"".join(chunks).decode()
    lines = shown.replace("\r\n", "\n").split("\n")
    # Every retry rewrote the same line; the erase came before the final message.
    assert shown.count("retry ") >= 2, shown
    assert shown.count("\n") == 1, shown
    final = lines[0].rsplit("\r\x1b[K", 1)[-1]
    assert final.startswith("dualwrite-monitor: DynamoDB unavailable"), shown
    if sys.platform != "linux":
        pytest.skip("pty behaviour checked on Linux only")
