"""The daemon's JSON logs: stdlib records bridged, per-run context, secrets masked."""

from __future__ import annotations

import io
import json
import logging
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st
from structlog.contextvars import bound_contextvars

from monitor.errors import StoreUnavailable
from monitor.telemetry.logs import configure_logging, redact, redact_text
from monitor.telemetry.sdnotify import notify, watchdog_seconds


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    quiet = {name: logging.getLogger(name).level for name in ("botocore", "apscheduler.scheduler")}
    stream = io.StringIO()
    configure_logging(stream=stream)
    try:
        yield stream
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        for name, level in quiet.items():
            logging.getLogger(name).setLevel(level)
        structlog.reset_defaults()


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "cannot connect to postgresql://app:s3cr%40t@db:5432/loans",
            "cannot connect to postgresql://app:***@db:5432/loans",
        ),
        ("host=db user=app password=hunter2 dbname=x", "host=db user=app password=*** dbname=x"),
        ("posting to https://hooks.slack.com/services/T0/B0/XYZ failed", None),
        ("token xoxb-1234-abcd rejected", "token xox*-*** rejected"),
        ("Authorization: Bearer abc.def.ghi", "Authorization: Bearer ***"),
        ("key AKIAABCDEFGHIJKLMNOP used", "key AKIA*** used"),
        ("postgresql://db:5432/loans has no password", None),
    ],
)
def test_redact_text(text: str, expected: str | None) -> None:
    out = redact_text(text)
    if expected is None:
        assert "XYZ" not in out and "T0/B0" not in out if "slack" in text else out == text
    else:
        assert out == expected


@given(
    st.text(
        # Any password a URI can carry unencoded (no whitespace, no "@").
        alphabet=st.characters(
            blacklist_categories=("Cc", "Zs", "Zl", "Zp"), blacklist_characters="@"
        ),
        min_size=1,
        max_size=30,
    )
)
def test_any_dsn_password_is_masked(password: str) -> None:
    out = redact_text(f"dsn postgresql://user:{password}@host/db")
    assert out == "dsn postgresql://user:***@host/db"


def test_secret_keys_are_masked_whatever_they_hold() -> None:
    event = {"dsn": "anything", "slack_webhook_url": "x", "token": "t", "check": "counts", "n": 3}
    assert redact(None, "info", event) == {
        "dsn": "***",
        "slack_webhook_url": "***",
        "token": "***",
        "check": "counts",
        "n": 3,
    }


def test_stdlib_records_come_out_as_json_with_extras_and_run_context(
    json_log: io.StringIO,
) -> None:
    log = logging.getLogger("monitor.some_module")
    with bound_contextvars(check="counts", run_id="abc123"):
        log.info("check.finished", extra={"outcome": "ok", "duration_s": 0.2})
    log.warning("store.retry %s", "DynamoDB", extra={"attempt": 2})
    first, second = lines(json_log)
    assert first["event"] == "check.finished"
    assert first["check"] == "counts" and first["run_id"] == "abc123"
    assert first["outcome"] == "ok" and first["level"] == "info"
    assert first["logger"] == "monitor.some_module"
    assert first["timestamp"].endswith("Z")
    assert second["event"] == "store.retry DynamoDB" and "check" not in second


def test_secrets_in_messages_and_tracebacks_are_masked(json_log: io.StringIO) -> None:
    log = logging.getLogger("asyncpg.fake")
    try:
        raise OSError("connect postgresql://u:topsecret@db/x refused")
    except OSError:
        log.exception("failed with dsn postgresql://u:topsecret@db/x", extra={"password": "pw"})
    text = json_log.getvalue()
    assert "topsecret" not in text and '"pw"' not in text
    [line] = lines(json_log)
    assert "postgresql://u:***@db/x" in line["event"]
    assert "OSError" in line["exception"]


def test_tracebacks_keep_frames_and_types_but_not_foreign_messages(
    json_log: io.StringIO,
) -> None:
    log = logging.getLogger("monitor.scheduling")
    value = "secret-json-" + "value"  # (source lines are shown: keep the value off that line)
    try:
        try:
            {"a": 1}[value]
        except KeyError as exc:
            raise StoreUnavailable("PostgreSQL", "cannot connect: refused") from exc
    except StoreUnavailable as exc:
        log.error("check.failed", exc_info=exc)
    [line] = lines(json_log)
    trace = line["exception"]
    assert "secret-json-value" not in json_log.getvalue()
    assert "builtins.KeyError\n" in trace  # the type, without its message
    assert "PostgreSQL unavailable: cannot connect: refused" in trace  # our own message
    assert "test_tracebacks_keep_frames_and_types" in trace  # the frames are there


def test_sdk_request_logs_stay_quiet_even_in_debug(json_log: io.StringIO) -> None:
    configure_logging(debug=True, stream=json_log)
    logging.getLogger("botocore.endpoint").debug("Sending http request: body=%s", "payload")
    logging.getLogger("monitor.x").debug("debug.shown")
    assert [line["event"] for line in lines(json_log)] == ["debug.shown"]


def test_sd_notify_sends_datagrams_to_the_notify_socket(tmp_path: Path) -> None:
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(str(path))
        server.settimeout(5)
        assert notify("READY=1\nSTATUS=ok", environ={"NOTIFY_SOCKET": str(path)})
        assert server.recv(1024) == b"READY=1\nSTATUS=ok"
    assert not notify("READY=1", environ={})
    # A socket that went away is a warning, never a crash.
    assert not notify("WATCHDOG=1", environ={"NOTIFY_SOCKET": str(path)})


def test_watchdog_period_only_for_this_process() -> None:
    import os

    assert watchdog_seconds({"WATCHDOG_USEC": "30000000"}) == 30.0
    mine = {"WATCHDOG_USEC": "3000000", "WATCHDOG_PID": str(os.getpid())}
    assert watchdog_seconds(mine) == 3.0
    assert watchdog_seconds({"WATCHDOG_USEC": "3000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_seconds({}) is None


def test_a_cancelled_connects_leftover_future_is_not_logged(json_log: io.StringIO) -> None:
    """asyncpg's TLS negotiation future, failed by a socket closed under a cancelled connect
    (what `connect` leaves when cancelled inside `create_connection`), is dropped when collected;
    any other unretrieved future exception is still logged."""
    import asyncio
    import gc
    import ssl

    from asyncpg.connect_utils import TLSUpgradeProto

    async def leave_futures() -> None:
        loop = asyncio.get_running_loop()
        negotiation = TLSUpgradeProto(loop, "127.0.0.1", 5432, ssl.create_default_context(), True)
        negotiation.connection_lost(None)  # the socket closed, nobody awaits `on_data` any more
        other = loop.create_future()
        other.set_exception(ConnectionError("another fault"))
        del negotiation, other
        gc.collect()

    asyncio.run(leave_futures())
    gc.collect()
    logged = [line["event"] for line in lines(json_log)]
    assert len(logged) == 1 and "another fault" in logged[0], logged
