"""A real Prometheus scrapes a running daemon, and a query returns our series.

Prometheus is Debian's `prometheus` package (scripts/test installs it when it runs as root with
apt); without the binary the test is skipped with that reason. It runs the shipped example
config (deploy/prometheus/prometheus.yml with its rules), pointed at the daemon's port, and
checks that every `dualwrite_*` name the daemon exposes is one the Grafana dashboard knows.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, TypeVar

import pytest
import yaml

from deploy.validation import PROMETHEUS
from deploy.validation.dashboard import series_names
from monitor.config import Settings
from tests.integration.scenario import make_rows, seed, write_config

T = TypeVar("T")
DEADLINE = 40.0  # seconds for each wait; the whole test takes a few seconds when healthy


def _daemon_available() -> bool:
    try:
        import monitor.daemon  # noqa: F401
    except ImportError:
        return False
    return True


pytestmark = [
    pytest.mark.skipif(
        shutil.which("prometheus") is None,
        reason="prometheus binary not installed (apt-get install prometheus; scripts/test does "
        "it when run as root)",
    ),
    pytest.mark.skipif(not _daemon_available(), reason="daemon not available"),
]


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = DEADLINE) -> T:
    """Poll `probe` until it returns a value; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.1)  # a poll interval, not a wait for time to pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def get_json(url: str) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.load(response)
    except OSError:
        return None


class Lines:
    """A process's stdout lines, read by a thread so waiting on them is bounded."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self._queue: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        assert process.stdout is not None
        threading.Thread(target=self._read, args=(process.stdout,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        with stream:  # closed here, at end of file, never under the reader's feet
            for line in stream:
                self._queue.put(line)

    def find(self, event: str, timeout: float = DEADLINE) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                break
            self.seen.append(line)
            with contextlib.suppress(json.JSONDecodeError):
                record = json.loads(line)
                if isinstance(record, dict) and record.get("event") == event:
                    return record
        pytest.fail(f"daemon never logged {event!r}; its output:\n{''.join(self.seen)[-3000:]}")


@contextlib.contextmanager
def running(argv: list[str], **kwargs: Any) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(argv, text=True, **kwargs)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def prometheus_config(directory: Path, target: str) -> Path:
    """The shipped example config and rules, scraping `target` every second."""
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    config["global"] |= {"scrape_interval": "1s", "evaluation_interval": "1s"}
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "dualwrite-monitor"]
    job["scrape_timeout"] = "1s"
    job["static_configs"] = [{"targets": [target]}]
    shutil.copy(PROMETHEUS / "rules.yml", directory / "rules.yml")
    path = directory / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_prometheus_scrapes_the_daemon(settings: Settings, tmp_path: Path) -> None:
    # A settled window holding 200 records, two of them never written to DynamoDB.
    rows = make_rows(200, start=datetime.now(UTC) - timedelta(minutes=9))
    seed(settings, rows, drop_from_dynamodb={rows[10]["log_id"], rows[150]["log_id"]})
    config = write_config(
        tmp_path / "config.toml", settings, '[telemetry]\nlisten = "127.0.0.1:0"\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUALWRITE_MONITOR_")}
    env.pop("NOTIFY_SOCKET", None)
    daemon_argv = [sys.executable, "-m", "monitor", "run", "--config", str(config)]

    with running(daemon_argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as daemon:
        daemon_port = Lines(daemon).find("http.listening")["port"]
        web = f"127.0.0.1:{free_port()}"
        prometheus_argv = [
            "prometheus",
            f"--config.file={prometheus_config(tmp_path, f'127.0.0.1:{daemon_port}')}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address={web}",
            "--log.level=warn",
        ]
        with (
            (tmp_path / "prometheus.log").open("w") as log,
            running(prometheus_argv, stdout=log, stderr=subprocess.STDOUT),
        ):
            api = f"http://{web}/api/v1"

            def query(promql: str) -> list[dict[str, Any]] | None:
                url = f"{api}/query?{urllib.parse.urlencode({'query': promql})}"
                answer = get_json(url)
                if answer is None or answer.get("status") != "success":
                    return None
                return answer["data"]["result"] or None

            consistency = wait_for(
                "dualwrite_consistency in Prometheus",
                lambda: query('dualwrite_consistency{table="integration_logs"}'),
            )
            assert float(consistency[0]["value"][1]) == pytest.approx(198 / 200)
            up = query('up{job="dualwrite-monitor"}')
            assert up is not None and up[0]["value"][1] == "1"
            runs = wait_for(
                "a counted counts run",
                lambda: query('dualwrite_check_runs_total{check="counts"}'),
            )
            assert {r["metric"]["outcome"] for r in runs} <= {"ok", "inconsistent", "error"}
            assert query('dualwrite_records{table="integration_logs", store="dynamodb"}')

            # Every name the daemon exposes is one the dashboard and the rules were written for.
            exposed = {r["metric"]["__name__"] for r in query('{__name__=~"dualwrite_.*"}') or []}
            known = set().union(*series_names().values())
            assert exposed - known == set(), "rename in the daemon or the dashboard"
            assert {"dualwrite_consistency", "dualwrite_check_runs_total"} <= exposed

            rules = get_json(f"{api}/rules?type=alert")
            names = {r["name"] for g in rules["data"]["groups"] for r in g["rules"]}
            assert "DualwriteChecksStalled" in names and "DualwriteSplitBrain" in names

        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=30) == 0
