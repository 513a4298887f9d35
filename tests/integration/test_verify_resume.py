"""`verify` interrupted and resumed, and shared between workers, on the real stores.

A run stopped in the middle of a window (cancelled, SIGTERM, SIGKILL) resumes with no window
skipped and none counted twice; shards are claimed through advisory locks, never by two
workers at once, and a dead worker's shard is taken over.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import anyio
import asyncpg
import pytest

from monitor.config import Settings
from monitor.report import report_json
from monitor.runtime import open_context
from monitor.verify import online
from monitor.verify.checkpoint import COMMAND, Checkpoints
from monitor.verify.online import VerifyRequest, verify_online
from monitor.verify.plan import VerifyPlan
from monitor.verify.shards import ShardLocks
from tests.integration.scenario import write_config
from tests.integration.test_verify import RANGE, VERIFY_CONFIG, keys_of, planted, verify

FROM = datetime(2026, 1, 1, 8, tzinfo=UTC)
UNTIL = datetime(2026, 1, 3, 8, tzinfo=UTC)
PLANTED = {
    "missing_in_dynamodb": {1, 77, 299},
    "missing_in_sql": {3, 140},
    "status_divergence": {250},
}


def request(progress: Callable[[int, int, int], None] | None = None) -> VerifyRequest:
    return VerifyRequest(now=datetime.now(UTC), start=FROM, until=UNTIL, progress=progress)


async def windows_done(settings: Settings) -> int:
    conn = await asyncpg.connect(settings.postgres.dsn.get_secret_value())
    try:
        found = await conn.fetchval(
            "SELECT count(*) FROM dualwrite_monitor.verify_windows"
            " WHERE run_id = (SELECT max(id) FROM dualwrite_monitor.verify_runs)"
        )
        return int(found or 0)
    except asyncpg.UndefinedTableError:
        return 0
    finally:
        await conn.close()


def assert_whole_range(report: dict[str, object], resumed: int) -> None:
    assert isinstance(report["summary"], dict)
    summary = report["summary"]
    for kind, keys in PLANTED.items():
        assert keys_of(report, kind) == keys, kind  # type: ignore[arg-type]
    # Every record counted once: none skipped, none twice.
    assert (summary["sql_count"], summary["dynamodb_count"]) == (298, 297)
    assert summary["coverage"] == {
        "windows_done": 24,
        "windows_total": 24,
        "windows_resumed": resumed,
        "records": 298 + 297,
    }


@pytest.mark.anyio
async def test_a_run_cancelled_mid_window_resumes_with_nothing_skipped_or_counted_twice(
    verify_settings: Settings,
) -> None:
    await anyio.to_thread.run_sync(planted, verify_settings)
    stop = anyio.CancelScope()
    seen: list[tuple[int, int]] = []

    def progress(done: int, total: int, records: int) -> None:
        seen.append((done, records))
        # Some slices into the window after the fifth: a window half read.
        if done >= 5 and sum(1 for d, _ in seen if d == done) >= 3:
            stop.cancel()

    async with open_context(verify_settings) as context:
        with stop:
            await verify_online(context, request(progress))
    assert stop.cancelled_caught
    saved = await windows_done(verify_settings)
    # Windows in flight left nothing behind; one whose checkpoint write was already sent may
    # have landed, and then counts as done.
    assert 5 <= saved < 24

    async with open_context(verify_settings) as context:
        report = await verify_online(context, request())
    assert not report.ok
    assert_whole_range(report_json(report), resumed=saved)


def command(config: Path) -> list[str]:
    return [sys.executable, "-m", "monitor", "verify", "--config", str(config), *RANGE]


def wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def start(config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*command(config), "--format", "json"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_a_process_stopped_mid_run_is_resumed_by_the_same_command(
    verify_settings: Settings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    sig: signal.Signals,
) -> None:
    planted(verify_settings)
    config = write_config(tmp_path / "c.toml", verify_settings, VERIFY_CONFIG)
    proc = start(config)
    try:
        wait_for(lambda: anyio.run(windows_done, verify_settings) >= 3 or proc.poll() is not None)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    saved = anyio.run(windows_done, verify_settings)
    assert 3 <= saved < 24, "stopped before the end"
    if sig is signal.SIGTERM:
        assert proc.returncode == 130
        assert out == ""
        assert err.strip().splitlines()[-1] == (
            "dualwrite-monitor: verify stopped by SIGTERM; finished windows are checkpointed:"
            " run the same command again to resume"
        )
        assert "Traceback" not in err
    else:  # it died holding the lock of the shard it was in: the next run takes it over
        assert proc.returncode == -signal.SIGKILL
    code, report, err = verify(capsys, config, *RANGE)
    assert code == 1, err
    assert_whole_range(report, resumed=saved)


@pytest.mark.anyio
async def test_two_workers_never_own_one_shard_and_a_closed_session_frees_its_shards(
    verify_settings: Settings,
) -> None:
    plan = VerifyPlan(FROM, UNTIL, verify_settings.verify.window, 3)
    shards = plan.shards()
    dsn = verify_settings.postgres.dsn.get_secret_value()
    async with open_context(verify_settings) as context:
        assert context.state is not None
        run = await Checkpoints(context.state).open_run(COMMAND, plan, open_ended=False)
        schema = context.state.schema
        async with ShardLocks.connect(dsn, schema, run.id, connect_timeout=3) as second:
            async with ShardLocks.connect(dsn, schema, run.id, connect_timeout=3) as first:
                owned = [await first.claim(shards[:3]) for _ in range(3)]
                assert [s.index for s in owned if s is not None] == [0, 1, 2]
                assert await second.claim(shards[:3]) is None
                assert (await second.claim(shards)) == shards[3]
                assert await first.still_held(shards[0])
                await first.release(shards[0])
                assert (await second.claim(shards[:3])) == shards[0]
            # The first worker is gone: its shards are free for the other to take over.
            assert (await second.claim(shards[1:3])) == shards[1]
            assert (await second.claim(shards[2:3])) == shards[2]


@pytest.mark.anyio
async def test_two_workers_share_a_run_and_each_reports_the_whole_range(
    verify_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    await anyio.to_thread.run_sync(planted, verify_settings)
    monkeypatch.setattr(online, "PEER_POLL", 0.05)
    reports = {}

    async def worker(name: str) -> None:
        async with open_context(verify_settings) as context:
            reports[name] = await verify_online(context, request(), worker=name)

    async with anyio.create_task_group() as group:
        group.start_soon(worker, "a")
        group.start_soon(worker, "b")
    a, b = reports["a"], reports["b"]
    assert a.findings == b.findings
    assert a.summary["run_id"] == b.summary["run_id"]
    own = [24 - r.summary["coverage"]["windows_resumed"] for r in (a, b)]
    assert sum(own) == 24  # every window read by exactly one of them
    assert all(n > 0 for n in own)  # both did a share
    conn = await asyncpg.connect(verify_settings.postgres.dsn.get_secret_value())
    try:
        by = await conn.fetch(
            "SELECT done_by, count(*) FROM dualwrite_monitor.verify_windows GROUP BY done_by"
        )
    finally:
        await conn.close()
    assert {row[0]: row[1] for row in by} == {"a": own[0], "b": own[1]}
