"""`dualwrite-monitor run` as a real process against the real PostgreSQL and DynamoDB-API server.

Every wait is on a condition (a log line, an HTTP answer, a database state) under a deadline;
nothing sleeps for time to pass. Intervals are seconds instead of minutes.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, TypeVar

import anyio
import asyncpg
import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from prometheus_client.parser import text_string_to_metric_families

from monitor.config import Settings
from monitor.daemon import Daemon, ReportSink, SinkContext
from monitor.local import LocalPostgres
from monitor.model import CheckReport
from tests.conftest import make_settings
from tests.http_server import serve_http
from tests.integration.scenario import make_rows, seed, write_config

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "hunter2-e2e"  # trust auth ignores it; it must never show in any output
T = TypeVar("T")


# --- a daemon process -------------------------------------------------------------------------


class DaemonProcess:
    """`python -m monitor run` with its JSON log lines collected by a reader thread."""

    def __init__(self, config: Path, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "--config", str(config)],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.raw: list[str] = []
        self.lines: list[dict[str, Any]] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._port: int | None = None

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for text in self.proc.stdout:
            with self._changed:
                self.raw.append(text)
                with suppress(json.JSONDecodeError):  # e.g. a start-up error on stderr
                    self.lines.append(json.loads(text))
                self._changed.notify_all()
        self.proc.stdout.close()
        with self._changed:
            self._changed.notify_all()

    def log_text(self) -> str:
        with self._changed:
            return "".join(self.raw)

    def wait_log(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 20
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = next((line for line in self.lines if predicate(line)), None)
                if found is not None:
                    return found
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError(f"no such log line; output:\n{''.join(self.raw)[-4000:]}")
                self._changed.wait(left)

    @property
    def port(self) -> int:
        if self._port is None:
            self._port = int(self.wait_log(lambda line: line["event"] == "http.listening")["port"])
        return self._port

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, exc.read()

    def status(self) -> dict[str, Any]:
        code, body = self.get("/status")
        assert code == 200
        return json.loads(body)  # type: ignore[no-any-return]

    def metrics(self) -> dict[str, list[Any]]:
        code, body = self.get("/metrics")
        assert code == 200
        return {f.name: f.samples for f in text_string_to_metric_families(body.decode())}

    def runs(self, check: str, outcome: str) -> int:
        counts: dict[str, int] = self.status()["checks"][check]["runs"]
        return counts[outcome]

    def stop(self, timeout: float = 30) -> tuple[int, float]:
        """SIGTERM; wait for exit. Returns (exit code, seconds it took)."""
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        self._reader.join(5)
        return code, time.monotonic() - started


def wait_until(
    condition: Callable[[], T | None], timeout: float = 20, what: str = "condition"
) -> T:
    """Poll `condition` until it returns something truthy, under a deadline."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
        except (AssertionError, KeyError, OSError):
            value = None  # not there yet (e.g. the listener is still starting)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def sample(samples: list[Any], **labels: str) -> float | None:
    for s in samples:
        if all(s.labels.get(k) == v for k, v in labels.items()):
            return float(s.value)
    return None


@pytest.fixture
def daemons() -> Iterator[Callable[[Path, dict[str, str]], DaemonProcess]]:
    started: list[DaemonProcess] = []

    def start(config: Path, extra_env: dict[str, str]) -> DaemonProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "DUALWRITE_"))}
        env.pop("NOTIFY_SOCKET", None)
        env.update(extra_env)
        daemon = DaemonProcess(config, env)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        if daemon.proc.poll() is None:
            daemon.proc.kill()
            daemon.proc.wait(10)


def with_password(settings: Settings) -> Settings:
    dsn = settings.postgres.dsn.get_secret_value().replace("postgres@", f"postgres:{PASSWORD}@")
    return make_settings(dsn, settings.dynamodb.endpoint_url)


def daemon_config(path: Path, settings: Settings, extra: str = "") -> Path:
    return write_config(
        path,
        settings,
        '[checks.counts]\ninterval = "1s"\n'
        '[telemetry]\nlisten = "127.0.0.1:0"\n'
        f'[daemon]\ncheck_timeout = "8s"\n{extra}',
    )


def recent_rows(count: int) -> list[dict[str, Any]]:
    """Rows inside every check's default settled window (older than settle/grace)."""
    now = datetime.now(UTC)
    return make_rows(count, start=now - timedelta(minutes=6), step=timedelta(seconds=1))


def sql(dsn: str, query: str, *args: Any) -> Any:
    async def run() -> Any:
        conn = await asyncpg.connect(dsn)
        try:
            return await conn.fetch(query, *args)
        finally:
            await conn.close()

    return anyio.run(run)


def monitor_sessions(dsn: str) -> int:
    rows = sql(
        dsn, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'dualwrite-monitor'"
    )
    return int(rows[0][0])


def blocked_on_lock(dsn: str) -> int:
    rows = sql(
        dsn,
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE application_name = 'dualwrite-monitor' AND wait_event_type = 'Lock'",
    )
    return int(rows[0][0])


@contextmanager
def table_locked(dsn: str) -> Iterator[threading.Event]:
    """Hold ACCESS EXCLUSIVE on the SQL table (as a migration's DDL would): every check that
    reads it waits. Set the yielded event to release it early."""
    locked, release = threading.Event(), threading.Event()
    failure: list[BaseException] = []

    async def hold() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            async with conn.transaction():
                await conn.execute("LOCK TABLE integration_logs IN ACCESS EXCLUSIVE MODE")
                locked.set()
                await anyio.to_thread.run_sync(release.wait)
        finally:
            await conn.close()

    def run() -> None:
        try:
            anyio.run(hold)
        except BaseException as exc:
            failure.append(exc)
            locked.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert locked.wait(10) and not failure, failure
    try:
        yield release
    finally:
        release.set()
        thread.join(10)


# --- an OTLP/HTTP receiver and a NOTIFY_SOCKET -------------------------------------------------


@contextmanager
def otlp_receiver() -> Iterator[tuple[str, list[ExportMetricsServiceRequest]]]:
    received: list[ExportMetricsServiceRequest] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.path == "/v1/metrics":
                received.append(ExportMetricsServiceRequest.FromString(body))
            self.send_response(200 if self.path == "/v1/metrics" else 404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    with serve_http(Handler) as url:
        yield url, received


def received_datagrams(sock: socket.socket) -> list[str]:
    sock.setblocking(False)
    out = []
    while True:
        try:
            out.append(sock.recv(4096).decode())
        except BlockingIOError:
            return out


# --- the tests ----------------------------------------------------------------------------------


def test_runs_checks_on_interval_and_serves_metrics_status_logs_otlp_and_sd_notify(
    settings: Settings, tmp_path: Path, daemons: Callable[[Path, dict[str, str]], DaemonProcess]
) -> None:
    settings = with_password(settings)
    seed(settings, recent_rows(60), drop_from_dynamodb={3, 4, 5}, drop_from_sql={10, 11})
    config = daemon_config(tmp_path / "c.toml", settings)
    notify_path = tmp_path / "notify.sock"
    with (
        otlp_receiver() as (otlp, received),
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify_sock,
    ):
        notify_sock.bind(str(notify_path))
        daemon = daemons(
            config,
            {
                "NOTIFY_SOCKET": str(notify_path),
                "WATCHDOG_USEC": "3000000",
                "OTEL_EXPORTER_OTLP_ENDPOINT": otlp,
                "OTEL_METRIC_EXPORT_INTERVAL": "500",
                "OTEL_SERVICE_NAME": "dualwrite-e2e",
            },
        )
        # Runs repeat on the 1 s interval.
        wait_until(lambda: daemon.runs("counts", "inconsistent") >= 2, what="two counts runs")
        assert daemon.get("/healthz")[0] == 200
        assert daemon.get("/readyz")[0] == 200

        m = daemon.metrics()
        table = {"table": "integration_logs"}
        assert sample(m["dualwrite_records"], **table, store="sql") == 58
        assert sample(m["dualwrite_records"], **table, store="dynamodb") == 57
        assert sample(m["dualwrite_count_variance"], **table) == pytest.approx(1 / 58)
        assert sample(m["dualwrite_consistency"], **table) == pytest.approx(55 / 60)
        runs = sample(m["dualwrite_check_runs"], check="counts", outcome="inconsistent")
        assert runs is not None and runs >= 2
        checked = sample(m["dualwrite_records_checked"], check="counts")
        assert checked is not None and checked >= 2 * 115
        assert sample(m["dualwrite_leader"]) == 1
        timed = [
            s.value
            for s in m["dualwrite_check_duration_seconds"]
            if s.name.endswith("_count") and s.labels["check"] == "counts"
        ]
        assert timed and timed[0] >= runs
        if "orphans" in daemon.status()["checks"]:
            wait_until(lambda: daemon.runs("orphans", "ok"), what="an orphans run")
            m = daemon.metrics()
            assert sample(m["dualwrite_orphans"], **table, kind="missing_in_dynamodb") == 0
        if "sample" in daemon.status()["checks"]:
            wait_until(lambda: daemon.runs("sample", "inconsistent"), what="a sample run")
            m = daemon.metrics()
            point = sample(m["dualwrite_field_accuracy"], **table, bound="point")
            assert point is not None and point < 1  # 3 sampled records missing in DynamoDB

        def last_counts_report() -> dict[str, Any] | None:
            # (On a loaded machine a run can overrun the 1 s interval: the next one is then
            # skipped, an error; wait for a run that produced a report.)
            last: dict[str, Any] = daemon.status()["checks"]["counts"]["last_run"]
            return last if last["outcome"] == "inconsistent" else None

        last = wait_until(last_counts_report, what="a counts report as the last run")
        assert last["findings"] == 5 and last["error"] is None
        assert last["figures"]["sql_count"] == 58
        status = daemon.status()
        assert (status["role"], status["leader"], status["ha"]) == ("single", True, False)

        code, took = daemon.stop()
        assert code == 0, daemon.log_text()
        assert took < 10
        datagrams = received_datagrams(notify_sock)

    # systemd: READY once scheduling, WATCHDOG from the check loop, STOPPING at shutdown.
    assert datagrams[0].startswith("READY=1")
    assert "WATCHDOG=1" in datagrams
    assert datagrams[-1] == "STOPPING=1"

    # OTLP: periodic pushes plus a final flush, with the resource from OTEL_SERVICE_NAME.
    names = {
        metric.name
        for request in received
        for resource in request.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    }
    assert {"dualwrite.check.runs", "dualwrite.records", "dualwrite.consistency"} <= names
    services = {
        attr.value.string_value
        for request in received
        for resource in request.resource_metrics
        for attr in resource.resource.attributes
        if attr.key == "service.name"
    }
    assert services == {"dualwrite-e2e"}

    # Logs: every line is JSON; each check run's lines carry check and run_id; no secrets.
    output = daemon.log_text()
    assert len(daemon.lines) == len(daemon.raw), output
    finished = [line for line in daemon.lines if line["event"] == "check.finished"]
    assert finished and all(line.get("check") and line.get("run_id") for line in finished)
    assert [line["event"] for line in daemon.lines][-1] == "daemon.stopped"
    # Neither [telemetry] public_url nor [alerts] runbook_url: said once, at start.
    unlinked = [line for line in daemon.lines if line["event"] == "daemon.no_runbook_link"]
    assert len(unlinked) == 1 and unlinked[0]["level"] == "warning"
    assert PASSWORD not in output
    assert PASSWORD not in json.dumps(status)


def test_sigterm_lets_an_in_flight_check_finish_within_the_drain_deadline(
    settings: Settings, tmp_path: Path, daemons: Callable[[Path, dict[str, str]], DaemonProcess]
) -> None:
    seed(settings, recent_rows(30))
    config = daemon_config(tmp_path / "c.toml", settings, 'drain_timeout = "15s"\n')
    dsn = settings.postgres.dsn.get_secret_value()
    with table_locked(dsn) as release:
        daemon = daemons(config, {})
        wait_until(lambda: blocked_on_lock(dsn), what="a check waiting on the table lock")
        daemon.proc.send_signal(signal.SIGTERM)
        stopping = daemon.wait_log(lambda line: line["event"] == "daemon.stopping")
        assert "counts" in stopping["in_flight"]
        # While draining: not ready, still alive, and still waiting for the check.
        assert daemon.get("/readyz")[0] == 503
        assert daemon.get("/healthz")[0] == 200
        assert daemon.proc.poll() is None
        release.set()
    code = daemon.proc.wait(15)
    assert code == 0, daemon.log_text()
    events = [line["event"] for line in daemon.lines]
    after_stop = daemon.lines[events.index("daemon.stopping") :]
    counts_runs = [
        line
        for line in after_stop
        if line.get("check") == "counts" and line["event"] in ("check.finished", "check.failed")
    ]
    assert counts_runs and counts_runs[0]["event"] == "check.finished", daemon.log_text()
    assert counts_runs[0]["outcome"] == "ok"
    assert "daemon.drain_deadline" not in events
    assert monitor_sessions(dsn) == 0


def test_sigterm_cancels_checks_still_running_at_the_drain_deadline(
    settings: Settings, tmp_path: Path, daemons: Callable[[Path, dict[str, str]], DaemonProcess]
) -> None:
    seed(settings, recent_rows(30))
    config = daemon_config(tmp_path / "c.toml", settings, 'drain_timeout = "1s"\n')
    dsn = settings.postgres.dsn.get_secret_value()
    with table_locked(dsn):
        daemon = daemons(config, {})
        wait_until(lambda: blocked_on_lock(dsn), what="a check waiting on the table lock")
        code, took = daemon.stop(timeout=20)
        assert code == 0, daemon.log_text()
        assert took < 1 + 5  # the drain deadline, then a bounded cancel and close
        # Nothing left open in the database while the lock is still held.
        assert monitor_sessions(dsn) == 0
    # (Runs due while the first was blocked were skipped and logged as errors too.)
    cancelled = [
        line
        for line in daemon.lines
        if line["event"] == "check.failed" and "cancelled" in line.get("error", "")
    ]
    assert {line["check"] for line in cancelled} >= {"counts"}, daemon.log_text()
    assert all("shutting down (drain_timeout passed)" in line["error"] for line in cancelled)
    assert any(line["event"] == "daemon.drain_deadline" for line in daemon.lines)


def test_postgres_down_at_start_and_again_later_is_counted_and_recovered(
    dynamo_endpoint: str,
    tmp_path: Path,
    daemons: Callable[[Path, dict[str, str]], DaemonProcess],
) -> None:
    with LocalPostgres(tmp_path) as pg:
        settings = make_settings(pg.create_database("outage"), dynamo_endpoint)
        seed(settings, recent_rows(20))
        pg.stop()
        daemon = daemons(daemon_config(tmp_path / "c.toml", settings), {})

        # Down at start: the daemon runs, is alive, and counts every run it cannot do.
        wait_until(lambda: daemon.runs("counts", "error") >= 2, what="errors while down")
        assert daemon.get("/healthz")[0] == 200 and daemon.get("/readyz")[0] == 200
        wait_until(
            lambda: (
                "PostgreSQL unavailable"
                in (daemon.status()["checks"]["counts"]["last_run"]["error"] or "")
            ),
            what="the cause in /status",
        )
        errors = sample(daemon.metrics()["dualwrite_check_runs"], check="counts", outcome="error")
        assert errors is not None and errors >= 2

        pg.start()
        wait_until(lambda: daemon.runs("counts", "ok") >= 1, what="recovery after start")

        # Going away after the pool was open, and coming back: the pool reconnects by itself.
        pg.stop()
        before = daemon.runs("counts", "error")
        wait_until(lambda: daemon.runs("counts", "error") > before, what="errors after stop")
        assert daemon.proc.poll() is None
        # asyncpg's pool keeps trying to restore its connection floor: one JSON event per
        # attempt, naming the fault, never a traceback.
        floor = daemon.wait_log(lambda line: line.get("logger") == "asyncpg.pool")
        assert "exception" not in floor and "Error" in floor["event"], floor
        ok_before = daemon.runs("counts", "ok")
        pg.start()
        wait_until(lambda: daemon.runs("counts", "ok") > ok_before, what="recovery after restart")
        assert daemon.get("/healthz")[0] == 200
        code, _ = daemon.stop()
        assert code == 0, daemon.log_text()


def test_two_daemons_elect_one_leader_and_hand_over_when_its_lock_connection_dies(
    settings: Settings, tmp_path: Path, daemons: Callable[[Path, dict[str, str]], DaemonProcess]
) -> None:
    seed(settings, recent_rows(20))
    # The heartbeat is also how long each lock query may take to answer: at 300 ms a loaded
    # machine's slow answer made a replica step down or turn unknown (and count an error run).
    config = daemon_config(
        tmp_path / "c.toml", settings, '[ha]\nenabled = true\nheartbeat = "1s"\n'
    )
    dsn = settings.postgres.dsn.get_secret_value()
    pair = (daemons(config, {}), daemons(config, {}))

    def settled_roles() -> list[str] | None:
        roles = [d.status()["role"] for d in pair]
        return roles if sorted(roles) == ["leader", "standby"] else None

    roles = wait_until(settled_roles, what="one leader and one standby")
    first, second = pair if roles[0] == "leader" else pair[::-1]
    assert second.get("/readyz")[0] == 200  # a standby is ready too

    # Only the leader runs checks; the standby counts nothing at all.
    leader_runs = first.runs("counts", "ok")
    wait_until(lambda: first.runs("counts", "ok") >= leader_runs + 2, what="leader runs")
    standby = second.status()["checks"]
    assert all(sum(check["runs"].values()) == 0 for check in standby.values()), standby
    assert sample(first.metrics()["dualwrite_leader"]) == 1
    assert sample(second.metrics()["dualwrite_leader"]) == 0
    assert "dualwrite_check_runs" not in second.metrics()

    # Kill the backend holding the advisory lock: the leader steps down, the standby takes over.
    [holder] = sql(dsn, "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted")
    sql(dsn, "SELECT pg_terminate_backend($1)", holder["pid"])
    wait_until(lambda: second.status()["role"] == "leader", what="the standby to take over")
    wait_until(lambda: second.runs("counts", "ok") >= 1, what="the new leader to run checks")
    wait_until(lambda: first.status()["role"] == "standby", what="the old leader to stand by")
    assert sample(second.metrics()["dualwrite_leader"]) == 1
    assert sample(first.metrics()["dualwrite_leader"]) == 0
    first.wait_log(lambda line: line["event"] == "leader.role" and line["role"] == "unknown")

    for daemon in pair:
        daemon.proc.send_signal(signal.SIGTERM)
    for daemon in pair:
        assert daemon.proc.wait(20) == 0, daemon.log_text()


def test_report_sinks_are_called_after_every_run_in_process(settings: Settings) -> None:
    """The alerts hook: factories entered once, every sink called per run, a broken sink
    contained. Runs the daemon in this process (no signals: `request_stop`)."""
    seed(settings, recent_rows(20), drop_from_dynamodb={7})
    settings = make_settings(
        settings.postgres.dsn.get_secret_value(),
        settings.dynamodb.endpoint_url,
        checks={"counts": {"interval": "1s"}},
        telemetry={"listen": "127.0.0.1:0"},
        daemon={"check_timeout": "8s", "drain_timeout": "5s"},
    )
    calls: list[tuple[str, CheckReport | None, BaseException | None]] = []
    entered: list[str] = []

    @asynccontextmanager
    async def recording(_: SinkContext) -> AsyncIterator[ReportSink]:
        entered.append("enter")

        async def sink(check: str, report: CheckReport | None, error: BaseException | None) -> None:
            calls.append((check, report, error))
            reports = [c for c in calls if c[0] == "counts" and c[1] is not None]
            if len(reports) >= 2:
                daemon.request_stop()

        yield sink
        entered.append("exit")

    @asynccontextmanager
    async def broken(_: SinkContext) -> AsyncIterator[ReportSink]:
        async def sink(check: str, report: CheckReport | None, error: BaseException | None) -> None:
            raise RuntimeError("a bug in a sink")

        yield sink

    daemon = Daemon(settings, sinks=[broken, recording], environ={})

    async def main() -> None:
        with anyio.fail_after(60):
            await daemon.run()

    anyio.run(main, backend="asyncio")
    assert entered == ["enter", "exit"]
    counts = [(report, error) for check, report, error in calls if check == "counts"]
    # Exactly one of report/error per call; a skipped run (a slow first run) comes as an error.
    assert all((report is None) != (error is None) for report, error in counts)
    reports = [report for report, _ in counts if report is not None]
    assert len(reports) >= 2
    assert reports[0].summary["missing_in_dynamodb"] == 1


def test_listen_address_in_use_exits_2_with_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = tmp_path / "c.toml"
        config.write_text(f'[telemetry]\nlisten = "127.0.0.1:{port}"\n')
        result = subprocess.run(
            [sys.executable, "-m", "monitor", "run", "--config", str(config)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 2, result.stderr
    assert result.stderr == (
        "dualwrite-monitor: configuration error: telemetry.listen: cannot listen on"
        f" 127.0.0.1:{port}: Address already in use\n"
    )
    assert "Traceback" not in result.stderr + result.stdout
