"""The scheduler with fake checks on a fast-forwarding loop clock: every run is bounded and counted."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest

from monitor.config import DaemonSettings, HaSettings, Settings, load_settings, settings_from_dict
from monitor.daemon import interval_for
from monitor.errors import ConfigError, StoreUnavailable, describe_error
from monitor.model import CheckReport, Outcome, Window
from monitor.scheduling import (
    CheckCall,
    CheckScheduler,
    CheckTimedOut,
    Job,
    RunCancelled,
    RunNotStarted,
    RunRecord,
    key_figures,
)
from tests.fake_time import fake_time_backend
from tests.figures import figures_for

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, Any]]:
    return fake_time_backend()  # the scheduler waits on the loop's clock: no real waiting


def report(ok: bool = True, **summary: Any) -> CheckReport:
    now = datetime.now(UTC)
    window = Window(now - timedelta(minutes=1), now)
    return CheckReport("fake", "t", "id", window, ok, figures_for("fake", summary))


class Collector:
    """Collects delivered records; `wait_for` waits (bounded) until a condition holds."""

    def __init__(self) -> None:
        self.records: list[RunRecord] = []
        self._changed = anyio.Event()

    async def sink(self, record: RunRecord) -> None:
        self.records.append(record)
        self._changed.set()
        self._changed = anyio.Event()

    async def wait_for(
        self, condition: Callable[[list[RunRecord]], bool], limit: float = 5
    ) -> list[RunRecord]:
        with anyio.fail_after(limit):
            while not condition(self.records):
                await self._changed.wait()
        return self.records


@asynccontextmanager
async def running(
    jobs: list[Job], check_timeout: float, collector: Collector
) -> AsyncIterator[CheckScheduler]:
    scheduler = CheckScheduler(jobs, timeout=timedelta(seconds=check_timeout), tick_interval=0.1)
    async with anyio.create_task_group() as group, scheduler:
        group.start_soon(scheduler.deliver, collector.sink)
        yield scheduler
        await scheduler.stop(timedelta(seconds=2))


def scripted(*steps: Callable[[], Any]) -> tuple[CheckCall, list[int]]:
    """A fake check: the n-th call runs steps[n] (the last step repeats)."""
    calls: list[int] = []

    async def call() -> CheckReport | None:
        step = steps[min(len(calls), len(steps) - 1)]
        calls.append(len(calls))
        result = step()
        if isinstance(result, CheckReport) or result is None:
            return result
        return await result  # type: ignore[no-any-return]

    return call, calls


def outcomes(records: list[RunRecord], check: str = "fake") -> list[Outcome]:
    return [r.outcome for r in records if r.check == check]


@pytest.mark.anyio
async def test_a_hung_check_is_timed_out_counted_and_the_next_run_happens() -> None:
    collector = Collector()
    call, calls = scripted(anyio.sleep_forever, lambda: report(ok=True))
    job = Job("fake", timedelta(seconds=0.5), call)
    async with running([job], check_timeout=0.3, collector=collector):
        records = await collector.wait_for(lambda r: len(outcomes(r)) >= 2)
    first, second = records[0], records[1]
    assert first.outcome is Outcome.ERROR and isinstance(first.error, CheckTimedOut)
    assert "check_timeout" in str(first.error)
    assert first.duration is not None and 0.25 < first.duration < 2
    assert second.outcome is Outcome.OK and second.report is not None
    assert len(calls) >= 2


@pytest.mark.anyio
async def test_an_overrunning_check_makes_skipped_runs_errors() -> None:
    collector = Collector()

    async def slow() -> CheckReport:
        await anyio.sleep(0.9)
        return report()

    call, _ = scripted(slow)
    async with running([Job("fake", timedelta(seconds=0.2), call)], 5, collector):
        records = await collector.wait_for(
            lambda r: any(isinstance(x.error, RunNotStarted) for x in r)
        )
    skipped = next(r for r in records if isinstance(r.error, RunNotStarted))
    assert skipped.outcome is Outcome.ERROR and skipped.duration is None
    assert "still in flight" in str(skipped.error)


@pytest.mark.anyio
async def test_lost_runs_are_not_counted_when_not_accountable() -> None:
    collector = Collector()
    skipped = anyio.Event()

    async def slow() -> CheckReport:
        await anyio.sleep(0.7)
        return report()

    def standby() -> bool:
        skipped.set()
        return False  # a standby: its skipped runs were not its to run

    call, _ = scripted(slow)
    scheduler = CheckScheduler(
        [Job("fake", timedelta(seconds=0.2), call)],
        timeout=timedelta(seconds=5),
        accountable=standby,
    )
    async with anyio.create_task_group() as group, scheduler:
        group.start_soon(scheduler.deliver, collector.sink)
        with anyio.fail_after(5):
            await skipped.wait()  # APScheduler did skip a run...
        await scheduler.stop(timedelta(seconds=2))
    assert outcomes(collector.records) == [Outcome.OK]  # ...and it was not recorded


@pytest.mark.anyio
async def test_failures_become_error_records_and_a_standby_records_nothing() -> None:
    collector = Collector()

    def unavailable() -> None:
        raise StoreUnavailable("PostgreSQL", "cannot connect: refused")

    def bug() -> None:
        raise KeyError("secret-value-123")

    failing, _ = scripted(unavailable)
    buggy, _ = scripted(bug)
    standby_called = anyio.Event()
    standby, _ = scripted(lambda: standby_called.set())
    inconsistent, _ = scripted(lambda: report(ok=False))
    jobs = [
        Job("failing", timedelta(seconds=30), failing),
        Job("buggy", timedelta(seconds=30), buggy),
        Job("standby", timedelta(seconds=30), standby),
        Job("inconsistent", timedelta(seconds=30), inconsistent),
    ]
    async with running(jobs, 5, collector) as scheduler:
        records = await collector.wait_for(lambda r: len(r) >= 3)
        with anyio.fail_after(5):
            await standby_called.wait()
        assert set(scheduler.next_run_times()) == {j.name for j in jobs}
    by_check = {r.check: r for r in records}
    assert "standby" not in by_check  # called, but a None result is not a run
    assert by_check["failing"].outcome is Outcome.ERROR
    assert describe_error(by_check["failing"].error or Exception()) == (
        "PostgreSQL unavailable: cannot connect: refused"
    )
    buggy_error = by_check["buggy"].error
    assert buggy_error is not None
    # A foreign exception's text may carry data: only its type is shown.
    assert describe_error(buggy_error) == "unexpected KeyError (see the daemon log)"
    assert by_check["inconsistent"].outcome is Outcome.INCONSISTENT


@pytest.mark.anyio
async def test_stop_lets_a_run_finish_within_the_drain_deadline() -> None:
    collector = Collector()
    release = anyio.Event()
    entered = anyio.Event()

    async def slow() -> CheckReport:
        entered.set()
        await release.wait()
        return report()

    call, _ = scripted(slow)
    scheduler = CheckScheduler(
        [Job("fake", timedelta(seconds=60), call)], timeout=timedelta(seconds=30)
    )
    async with anyio.create_task_group() as group, scheduler:
        group.start_soon(scheduler.deliver, collector.sink)
        with anyio.fail_after(5):
            await entered.wait()
        assert scheduler.running() == ["fake"]
        async with anyio.create_task_group() as stopping:
            stopping.start_soon(scheduler.stop, timedelta(seconds=10))
            await anyio.wait_all_tasks_blocked()
            assert scheduler.running() == ["fake"]  # stop is waiting for it
            release.set()
    assert outcomes(collector.records) == [Outcome.OK]
    assert scheduler.in_flight == 0


@pytest.mark.anyio
async def test_stop_cancels_what_is_left_at_the_drain_deadline() -> None:
    collector = Collector()
    entered = anyio.Event()

    async def hang() -> CheckReport:
        entered.set()
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    call, _ = scripted(hang)
    scheduler = CheckScheduler(
        [Job("fake", timedelta(seconds=60), call)], timeout=timedelta(seconds=60)
    )
    async with anyio.create_task_group() as group, scheduler:
        group.start_soon(scheduler.deliver, collector.sink)
        with anyio.fail_after(5):
            await entered.wait()
        with anyio.fail_after(5):
            await scheduler.stop(timedelta(seconds=0.2))
    [record] = collector.records
    assert isinstance(record.error, RunCancelled)
    assert "drain_timeout" in str(record.error)


@pytest.mark.anyio
async def test_cancel_all_is_recorded_with_its_reason() -> None:
    collector = Collector()
    entered = anyio.Event()

    async def hang() -> CheckReport:
        entered.set()
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    call, _ = scripted(hang, lambda: report())
    async with running([Job("fake", timedelta(seconds=60), call)], 60, collector) as scheduler:
        with anyio.fail_after(5):
            await entered.wait()
        assert scheduler.cancel_all("this replica lost leadership") == 1
        records = await collector.wait_for(lambda r: len(r) >= 1)
    assert str(records[0].error) == "fake run cancelled: this replica lost leadership"


@pytest.mark.anyio
async def test_run_soon_brings_the_next_run_forward() -> None:
    collector = Collector()
    call, _ = scripted(lambda: report())
    async with running([Job("fake", timedelta(hours=1), call)], 5, collector) as scheduler:
        await collector.wait_for(lambda r: len(r) == 1)
        scheduler.run_soon()  # without it, the next run would be an hour away
        await collector.wait_for(lambda r: len(r) == 2)


@pytest.mark.anyio
async def test_ticks_feed_the_callback_and_overdue_runs_are_reported() -> None:
    ticks: list[float] = []
    ticked_twice = anyio.Event()
    now = [100.0]

    def tick() -> None:
        ticks.append(now[0])
        if len(ticks) >= 2:
            ticked_twice.set()

    entered = anyio.Event()

    async def hang() -> CheckReport:
        entered.set()
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    call, _ = scripted(hang)
    scheduler = CheckScheduler(
        [Job("fake", timedelta(seconds=60), call)],
        timeout=timedelta(seconds=60),
        tick_interval=0.05,
        on_tick=tick,
        clock=lambda: now[0],
    )
    async with scheduler:
        with anyio.fail_after(5):
            await entered.wait()
            await ticked_twice.wait()
        assert scheduler.overdue(grace=30) == []
        now[0] += 91  # injected clock: the run is now 1 s beyond timeout + grace
        assert scheduler.overdue(grace=30) == ["fake"]
        await scheduler.stop(timedelta(0))


@pytest.mark.anyio
async def test_runs_keep_a_fixed_rate_on_the_loop_clock_and_an_overrun_skips_one() -> None:
    """APScheduler's interval semantics: start + n x interval, whatever a run takes; a due time
    that finds the previous run in flight is one skipped run, then the rate resumes."""
    collector = Collector()
    started: list[float] = []

    async def timed() -> CheckReport:
        started.append(anyio.current_time())
        await anyio.sleep(90 if len(started) == 3 else 10)  # the third run overruns
        return report()

    call, _ = scripted(timed)
    origin = anyio.current_time()
    # Ticks once a minute: every tick is a loop turn, and five minutes of 0.1 s ticks add up.
    scheduler = CheckScheduler(
        [Job("fake", timedelta(minutes=1), call)], timeout=timedelta(minutes=10), tick_interval=60
    )
    async with anyio.create_task_group() as group, scheduler:
        group.start_soon(scheduler.deliver, collector.sink)
        records = await collector.wait_for(lambda r: len(r) >= 6, limit=3600)
        await scheduler.stop(timedelta(seconds=2))
    assert [round(t - origin) for t in started[:5]] == [0, 60, 120, 240, 300]
    assert [r.outcome for r in records[:6]] == [
        Outcome.OK,
        Outcome.OK,
        Outcome.ERROR,  # 180 s: the 120 s run is still in flight
        Outcome.OK,
        Outcome.OK,
        Outcome.OK,
    ]
    assert isinstance(records[2].error, RunNotStarted)


def test_key_figures_keep_numbers_only() -> None:
    summary = {
        "sql_count": 3,
        "consistency": 0.5,
        "ok_flag": True,
        "discovery_last_run": "2026-01-01T00:00:00Z",
        "accuracy": {"point": 0.9, "note": "text"},
        "keys": [1, 2],
        "nothing": None,
    }
    assert key_figures(summary) == {"sql_count": 3, "consistency": 0.5, "accuracy": {"point": 0.9}}


def test_each_check_runs_on_its_sections_interval() -> None:
    settings = settings_from_dict(
        {
            "checks": {
                "orphans": {"interval": "1m"},
                "counts": {"interval": "2m"},
                "sampling": {"interval": "3m"},
            }
        }
    )
    assert interval_for(settings, "orphans") == timedelta(minutes=1)
    assert interval_for(settings, "counts") == timedelta(minutes=2)
    assert interval_for(settings, "sample") == timedelta(minutes=3)
    assert interval_for(settings, "quality") == timedelta(minutes=3)


def test_unknown_check_falls_back_to_counts_interval(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert interval_for(Settings(), "future") == Settings().checks.counts.interval
    assert "daemon.no_interval_for_check" in caplog.text


def test_shipped_daemon_and_ha_sections_equal_the_defaults() -> None:
    shipped = load_settings(REPO / "config.toml", environ={})
    assert shipped.daemon == DaemonSettings()
    assert shipped.ha == HaSettings()
    assert shipped.daemon.check_timeout < shipped.checks.counts.interval


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[daemon]\ncheck_timeout = "0s"\n', "daemon.check_timeout"),
        ('[ha]\nheartbeat = "0s"\n', "ha.heartbeat"),
        ('[daemon]\ndrain_timeot = "1s"\n', "daemon.drain_timeot"),
    ],
)
def test_bad_daemon_settings_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    config = tmp_path / "c.toml"
    config.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_settings(config, environ={})
    assert caught.value.key == key
