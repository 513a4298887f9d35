"""PostgreSQL stopping or hanging in the middle of a check, through a TCP proxy on 127.0.0.1.

Expected faults: one clear line and exit 3, the store's own error (never a TimeoutError from
closing the pool), and no traceback on the CLI's stderr or in the daemon's JSON log.
"""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import anyio
import asyncpg
import pytest

from monitor.cli import main
from monitor.config import Settings
from monitor.errors import StoreUnavailable
from monitor.stores.postgres import close_pool, driver
from monitor.telemetry.logs import configure_logging
from tests.integration.scenario import make_rows, seed, write_config
from tests.integration.tcp_proxy import TcpProxy, proxy_to

WINDOW = ["--since", "2026-01-01T09:00:00Z", "--until", "2026-01-01T11:00:00Z"]
#: The text of the statement that reads one slice of `check counts`.
SLICE_READ = b'SELECT "log_id", "write_status" FROM'
#: Both `counts` (per partition) and `orphans` (per status) count the window with a GROUP BY.
GROUP_BY = b"GROUP BY"


@pytest.fixture
def proxy(settings: Settings) -> Iterator[TcpProxy]:
    target = urlsplit(settings.postgres.dsn.get_secret_value())
    assert target.hostname is not None and target.port is not None
    with proxy_to(target.hostname, target.port) as running:
        yield running


def through(settings: Settings, proxy: TcpProxy) -> str:
    dsn = urlsplit(settings.postgres.dsn.get_secret_value())
    return dsn._replace(netloc=f"{dsn.username}@127.0.0.1:{proxy.port}").geturl()


def proxied_config(tmp_path: Path, settings: Settings, proxy: TcpProxy, extra: str = "") -> Path:
    config = write_config(tmp_path / "c.toml", settings, extra)
    text = config.read_text().replace(
        settings.postgres.dsn.get_secret_value(), through(settings, proxy)
    )
    config.write_text(text)
    return config


def test_postgres_stopping_mid_check_is_one_line_without_traceback(
    settings: Settings, proxy: TcpProxy, tmp_path: Path
) -> None:
    seed(settings, make_rows(600))
    config = proxied_config(tmp_path, settings, proxy)
    proxy.fault_when(SLICE_READ, "reset")
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "check", "counts", "--config", str(config), *WINDOW],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proxy.fired.is_set()
    assert result.returncode == 3, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("dualwrite-monitor: PostgreSQL unavailable: ")
    assert "Traceback" not in result.stderr and "unexpected" not in result.stderr


@pytest.mark.parametrize("check", ["counts", "all"])
def test_a_hung_postgres_is_named_not_masked_by_closing_the_pool(
    settings: Settings,
    proxy: TcpProxy,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    check: str,
) -> None:
    seed(settings, make_rows(300))
    # A short statement_timeout, and short waits past it: the client gives up on a blackholed
    # statement a second after it, and a close that hangs is cut after a second.
    monkeypatch.setattr(driver, "COMMAND_GRACE", 1.0)
    monkeypatch.setattr(driver, "CLOSE_TIMEOUT", 1.0)
    config = proxied_config(tmp_path, settings, proxy)
    config.write_text(
        config.read_text().replace('statement_timeout = "10s"', 'statement_timeout = "1s"')
    )
    proxy.fault_when(GROUP_BY, "blackhole")
    code = main(["check", check, "--config", str(config), *WINDOW])
    err = capsys.readouterr().err
    assert proxy.fired.is_set()
    assert code == 3, err
    assert "PostgreSQL unavailable: " in err and "no answer in time" in err, err
    assert "unexpected" not in err


def test_pool_reconnect_failures_are_one_json_line_in_the_daemon_log(
    settings: Settings, proxy: TcpProxy
) -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    configure_logging(stream=stream)

    class Seen(logging.Handler):
        def __init__(self) -> None:
            super().__init__()
            self.event = anyio.Event()

        def emit(self, record: logging.LogRecord) -> None:
            if "Failed to restore" in record.getMessage():
                self.event.set()

    async def go() -> None:
        seen = Seen()
        logging.getLogger("asyncpg.pool").addHandler(seen)
        pool = await asyncpg.create_pool(through(settings, proxy), min_size=1, max_size=2)
        try:
            proxy.fault_when(b"pg_sleep", "reset")
            with pytest.raises((asyncpg.PostgresError, OSError, asyncpg.InterfaceError)):
                await pool.fetchval("SELECT pg_sleep(0)")
            with anyio.fail_after(
                20
            ):  # the pool tries to restore its floor at once, then backs off
                await seen.event.wait()
        finally:
            logging.getLogger("asyncpg.pool").removeHandler(seen)
            await close_pool(pool)

    try:
        anyio.run(go)
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    floor = [e for e in events if "Failed to restore" in e["event"]]
    assert floor and all("exception" not in e for e in floor)
    assert all("Traceback" not in json.dumps(e) for e in events)


def test_a_backend_terminated_around_a_query_is_unavailable_never_a_driver_error(
    database: str,
) -> None:
    # Terminated just before or during a query, asyncpg sometimes raises InternalClientError
    # ("cannot switch to state 12") on the next one: about a third of these tries did.
    async def go() -> None:
        admin = await asyncpg.connect(database)
        try:
            for attempt in range(60):
                conn = await asyncpg.connect(database)
                try:
                    pid = await conn.fetchval("SELECT pg_backend_pid()")
                    async with anyio.create_task_group() as group:
                        group.start_soon(admin.fetchval, "SELECT pg_terminate_backend($1)", pid)
                        await anyio.sleep(attempt % 5 * 0.0005)  # vary the race, not a wait
                    with anyio.fail_after(5), pytest.raises(StoreUnavailable):
                        while True:  # answered until the backend has gone; then unavailable
                            async with driver.translate_errors("reading"):
                                await conn.fetchval("SELECT 1")
                finally:
                    conn.terminate()
        finally:
            await admin.close()

    anyio.run(go)
