"""Benchmark `check counts` against DynamoDB Local and PostgreSQL, next to a bare floor.

    .venv/bin/python bench/counts.py --records 200000
    .venv/bin/python bench/counts.py --records 1000000 --concurrency 4,8,12,16

What it does:

1. starts a throwaway PostgreSQL and DynamoDB Local (`-Xmx384m`), runs `setup`;
2. loads N records of the default model (5 services, one day, timestamps spread over 20 h,
   ~300-byte payloads) in a child process, so the loader's memory never shows in the monitor
   process: PostgreSQL by COPY, DynamoDB by BatchWriteItem with 12 concurrent writers. 0.1 % of
   the keys are left out of each side (disjoint sets); then ANALYZE;
3. warms DynamoDB Local up with one untimed floor pass; seeds the discovery cache (what a
   finished discovery Scan leaves behind, so no check runs the Scan: on DynamoDB Local with
   `-Xmx384m` that Scan runs out of heap at 200k items; `--discovery-scan` times it alone);
   then runs one check untimed;
4. for each concurrency, `--repeat` times: the check (`run_counts`, the report must name exactly
   the dropped keys) and the floor (bare sliced Queries projecting LogId and WriteStatus, the same
   slices as the check, concurrently with one asyncpg key stream of the window; raw aiobotocore
   and asyncpg, no monitor code). Peak RSS is sampled every 50 ms in a thread.

The servers are always stopped, whatever happens.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import multiprocessing
import os
import random
import statistics
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import asyncpg
import psutil
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

from monitor.checks.context import open_context
from monitor.checks.counts import run_counts
from monitor.checks.partitions import discover_partitions
from monitor.config import Settings, settings_from_dict
from monitor.local import LocalDynamo, LocalPostgres, local_aws_env
from monitor.model import CheckReport, FindingKind, Window
from monitor.setup import run_setup
from monitor.stores.dynamodb import DynamoStore, RetryPolicy
from monitor.writer.bulk import copy_rows, put_items
from monitor.writer.items import DEFAULT_COLUMNS, default_item

# --- the data set ------------------------------------------------------------------------------

DAY = datetime(2026, 11, 20, tzinfo=UTC)  # in the past, so the discovery cache counts as fresh
WINDOW = Window(DAY, DAY + timedelta(days=1))
NOW = DAY + timedelta(days=1, hours=1)
FIRST = timedelta(hours=2)
SPREAD_US = 20 * 3600 * 1_000_000  # records spread over 20 h of the day
SERVICES = (
    "CreditCheckService",
    "IncomeVerification",
    "FraudScreen",
    "PaymentGateway",
    "DocumentOCR",
)
TABLE = "IntegrationLogs"
SQL_TABLE = "integration_logs"
SK_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_NOTE = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor " * 3


def timestamp_of(i: int, n: int) -> datetime:
    return DAY + FIRST + timedelta(microseconds=i * SPREAD_US // n)


def make_row(i: int, n: int) -> dict[str, Any]:
    """Record i of n (log_id = i + 1): request ~200 B + response ~100 B of JSON text."""
    moment = timestamp_of(i, n)
    ok = i % 11 != 0
    status = "Committed" if i % 97 else "Failed"
    return {
        "log_id": i + 1,
        "application_id": f"APP-{i % 5000:05d}",
        "service_name": SERVICES[i % len(SERVICES)],
        "log_type": "Response" if ok else "Error",
        "log_timestamp": moment,
        "request_data": f'{{"applicant":"A{i:09d}","amount":{i * 37 % 500000},'
        f'"currency":"EUR","note":"{_NOTE[: 130 + i % 20]}"}}',
        "response_data": f'{{"score":{i % 900},"decision":"{"approve" if ok else "refer"}",'
        f'"reasons":["r{i % 13}","r{i % 17}"],"ref":"{i:012x}","model":"v3.2.1-prod"}}',
        "status_code": "200" if ok else "500",
        "is_success": ok,
        "error_message": None if ok else "upstream timeout after 3 retries",
        "processing_time_ms": 20 + i % 300,
        "correlation_id": f"corr-{i:010d}",
        "transaction_id": f"tx-{i + 1:010d}",
        "write_status": status,
        "updated_at": moment,
    }


def dropped_keys(n: int) -> tuple[frozenset[int], frozenset[int]]:
    """0.1 % of the keys left out of each side, disjoint: (not in SQL, not in DynamoDB)."""
    k = max(1, n // 1000)
    picked = random.Random(20261120).sample(range(1, n + 1), 2 * k)
    return frozenset(picked[:k]), frozenset(picked[k:])


def make_settings(dsn: str, endpoint: str, concurrency: int, slice_records: int) -> Settings:
    return settings_from_dict(
        {
            # One pool connection per concurrent slice, or SQL would cap the concurrency.
            "postgres": {"dsn": dsn, "pool_size": max(8, concurrency)},
            "dynamodb": {
                "endpoint_url": endpoint,
                "table": TABLE,
                "max_read_units_per_second": 1e9,
                "max_concurrency": concurrency,
            },
            "checks": {"counts": {"slice_records": slice_records}},
        }
    )


# --- loading (in a child process) ----------------------------------------------------------------


def load(dsn: str, endpoint: str, n: int, chunk: int, concurrency: int) -> dict[str, float]:
    os.environ.update(local_aws_env())
    return anyio.run(_load, dsn, endpoint, n, chunk, concurrency)


async def _load(dsn: str, endpoint: str, n: int, chunk: int, concurrency: int) -> dict[str, float]:
    mapping = make_settings(dsn, endpoint, 8, 5000).table_mapping()
    drop_sql, drop_dynamo = dropped_keys(n)
    spent = {"generate": 0.0, "copy": 0.0, "items": 0.0, "put": 0.0, "analyze": 0.0}
    written = {"sql": 0, "dynamodb": 0}
    config = AioConfig(max_pool_connections=max(10, 2 * concurrency))
    conn = await asyncpg.connect(dsn)
    try:
        session = get_session()
        async with session.create_client(
            "dynamodb", region_name="us-east-1", endpoint_url=endpoint, config=config
        ) as client:
            for start in range(0, n, chunk):
                t0 = time.perf_counter()
                rows = [make_row(i, n) for i in range(start, min(n, start + chunk))]
                t1 = time.perf_counter()
                sql_rows = [r for r in rows if r["log_id"] not in drop_sql]
                written["sql"] += await copy_rows(conn, SQL_TABLE, DEFAULT_COLUMNS, sql_rows)
                t2 = time.perf_counter()
                items = [default_item(r, mapping) for r in rows if r["log_id"] not in drop_dynamo]
                t3 = time.perf_counter()
                written["dynamodb"] += await put_items(
                    client, TABLE, items, concurrency=concurrency
                )
                t4 = time.perf_counter()
                spent["generate"] += t1 - t0
                spent["copy"] += t2 - t1
                spent["items"] += t3 - t2
                spent["put"] += t4 - t3
                done = min(n, start + chunk)
                if done % max(chunk, n // 10) < chunk or done == n:
                    print(
                        f"  loaded {done:>9,}/{n:,}  copy {spent['copy']:6.1f}s"
                        f"  put {spent['put']:6.1f}s",
                        flush=True,
                    )
        t0 = time.perf_counter()
        await conn.execute(f"ANALYZE {SQL_TABLE}")
        spent["analyze"] = time.perf_counter() - t0
        size = await conn.fetchval("SELECT pg_total_relation_size($1)", SQL_TABLE)
    finally:
        await conn.close()
    return {**spent, **{f"rows_{k}": float(v) for k, v in written.items()}, "pg_bytes": size}


# --- the floor: bare reads, no monitor code --------------------------------------------------------


@dataclass(frozen=True)
class FloorSlice:
    pk: str
    lo: str
    hi: str


def floor_slices(n: int, drop_sql: frozenset[int], slice_records: int) -> list[FloorSlice]:
    """The check's slices, rebuilt from the data: per partition ceil(rows / slice_records)
    pieces cut at percentile_disc(i / pieces) of its SQL timestamps (as `plan_slices` does)."""
    slices: list[FloorSlice] = []
    day_end = DAY + timedelta(days=1)
    for s, service in sorted(enumerate(SERVICES), key=lambda pair: pair[1]):
        moments = [timestamp_of(i, n) for i in range(s, n, len(SERVICES)) if i + 1 not in drop_sql]
        pieces = max(1, math.ceil(len(moments) / slice_records))
        cuts = sorted(
            {moments[max(0, math.ceil(j / pieces * len(moments)) - 1)] for j in range(1, pieces)}
        )
        edges = [DAY, *(c for c in cuts if DAY < c < day_end), day_end]
        pk = f"LOG#{service}#{DAY:%Y-%m-%d}"
        slices += [
            FloorSlice(pk, lo.strftime(SK_FORMAT), hi.strftime(SK_FORMAT))
            for lo, hi in zip(edges, edges[1:], strict=False)
            if lo < hi
        ]
    return slices


def floor_slice_tuples(n: int, slice_records: int) -> list[tuple[str, str, str]]:
    """`floor_slices` as plain tuples, computed in the child process (it builds n datetimes)."""
    return [(p.pk, p.lo, p.hi) for p in floor_slices(n, dropped_keys(n)[0], slice_records)]


async def dynamo_floor(client: Any, slices: Sequence[FloorSlice], concurrency: int) -> int:
    limiter = asyncio.Semaphore(concurrency)

    async def one(piece: FloorSlice) -> int:
        params: dict[str, Any] = {
            "TableName": TABLE,
            "KeyConditionExpression": "#pk = :pk AND #sk BETWEEN :lo AND :hi",
            "ProjectionExpression": "#k, #st",
            "ExpressionAttributeNames": {
                "#pk": "PK",
                "#sk": "SK",
                "#k": "LogId",
                "#st": "WriteStatus",
            },
            "ExpressionAttributeValues": {
                ":pk": {"S": piece.pk},
                ":lo": {"S": piece.lo},
                ":hi": {"S": piece.hi},
            },
        }
        count = 0
        async with limiter:
            while True:
                page = await client.query(**params)
                count += len(page["Items"])
                last = page.get("LastEvaluatedKey")
                if not last:
                    return count
                params["ExclusiveStartKey"] = last

    return sum(await asyncio.gather(*(one(piece) for piece in slices)))


async def sql_floor(conn: asyncpg.Connection, window: Window) -> int:
    count = 0
    async with conn.transaction():
        cursor = await conn.cursor(
            f"SELECT log_id, write_status FROM {SQL_TABLE}"
            " WHERE log_timestamp >= $1 AND log_timestamp < $2",
            window.start,
            window.end,
        )
        while rows := await cursor.fetch(10_000):
            count += len(rows)
    return count


async def run_floor(
    client: Any, conn: asyncpg.Connection, slices: Sequence[FloorSlice], concurrency: int
) -> tuple[float, int, int]:
    t0 = time.perf_counter()
    items, rows = await asyncio.gather(
        dynamo_floor(client, slices, concurrency), sql_floor(conn, WINDOW)
    )
    return time.perf_counter() - t0, items, rows


# --- memory and CPU --------------------------------------------------------------------------------


def _cpu(processes: Sequence[psutil.Process]) -> float:
    total = 0.0
    for proc in processes:
        with contextlib.suppress(psutil.Error):  # a backend that just exited
            times = proc.cpu_times()
            total += times.user + times.system
    return total


def _system_busy() -> float:
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


@dataclass
class Sample:
    """One measured block: wall time, peak RSS and CPU seconds of each party."""

    wall: float = 0.0
    rss: dict[str, int] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def ours(self) -> float:
        return self.cpu["monitor"] + self.cpu["java"] + self.cpu["postgres"]


class Meter(threading.Thread):
    """Peak memory: RSS of this process and of java every 50 ms; PSS of all postgres processes
    summed every 0.5 s (PSS splits shared_buffers among the backends; summed RSS would count
    those pages once per backend and overstate PostgreSQL several times).

    `measure()` also takes the CPU seconds each of them used during the block, and the CPU
    used by everything else on the machine ("foreign": other people's tests share these cores).
    """

    def __init__(self, postmaster_pid: int, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.me = psutil.Process()
        self.postmaster = psutil.Process(postmaster_pid)
        self.java = [p for p in self.me.children(recursive=True) if p.name() == "java"]
        self.pg = self._postgres()
        self.lock = threading.Lock()
        self.peaks: dict[str, int] = {}
        self.stopped = threading.Event()

    def _postgres(self) -> list[psutil.Process]:
        try:
            return [self.postmaster, *self.postmaster.children(recursive=True)]
        except psutil.Error:
            return []

    @staticmethod
    def _rss(processes: Sequence[psutil.Process]) -> int:
        total = 0
        for proc in processes:
            with contextlib.suppress(psutil.Error):
                total += proc.memory_info().rss
        return total

    @staticmethod
    def _pss(processes: Sequence[psutil.Process]) -> int:
        total = 0
        for proc in processes:
            with contextlib.suppress(psutil.Error):
                total += proc.memory_full_info().pss
        return total

    def rss(self, postgres: bool = True) -> dict[str, int]:
        now = {"monitor": self.me.memory_info().rss, "java": self._rss(self.java)}
        if postgres:
            now["postgres"] = self._pss(self.pg)
        return now

    def run(self) -> None:
        tick = 0
        while not self.stopped.wait(self.interval):
            slow = tick % 10 == 0  # every 0.5 s: reading PSS (smaps_rollup) costs ~0.3 ms each
            if slow:
                self.pg = self._postgres()  # backends come and go
            tick += 1
            now = self.rss(postgres=slow)
            with self.lock:
                for name, value in now.items():
                    self.peaks[name] = max(self.peaks.get(name, 0), value)

    def cpu(self) -> dict[str, float]:
        return {
            "monitor": _cpu([self.me]),
            "java": _cpu(self.java),
            "postgres": _cpu(self.pg),
            "system": _system_busy(),
        }

    @contextmanager
    def measure(self) -> Iterator[Sample]:
        out = Sample()
        self.pg = self._postgres()
        with self.lock:
            self.peaks = self.rss()
        before = self.cpu()
        t0 = time.perf_counter()
        try:
            yield out
        finally:
            out.wall = time.perf_counter() - t0
            after = self.cpu()
            out.cpu = {k: after[k] - before[k] for k in before}
            out.cpu["foreign"] = max(0.0, out.cpu.pop("system") - out.ours)
            last = self.rss()
            with self.lock:
                out.rss = {k: max(v, last[k]) for k, v in self.peaks.items()}
            out.rss["servers"] = out.rss["java"] + out.rss["postgres"]


def mb(value: float) -> str:
    return f"{value / 2**20:,.0f} MB"


# --- the measurements ------------------------------------------------------------------------------


@dataclass
class Figures:
    concurrency: int
    slices: int
    check: list[Sample] = field(default_factory=list)
    floor: list[Sample] = field(default_factory=list)
    read_units: list[float] = field(default_factory=list)
    requests: list[int] = field(default_factory=list)

    def median(self, which: str) -> float:
        return statistics.median(s.wall for s in getattr(self, which))

    def cpu(self, which: str, party: str = "ours") -> float:
        runs = getattr(self, which)
        return statistics.median(s.ours if party == "ours" else s.cpu[party] for s in runs)

    @property
    def ratio(self) -> float:
        return self.median("check") / self.median("floor")

    def peak(self, name: str, which: str = "check") -> int:
        return max(s.rss[name] for s in getattr(self, which))


def verify(
    report: CheckReport, n: int, drop_sql: frozenset[int], drop_dynamo: frozenset[int]
) -> None:
    kinds: dict[FindingKind, set[Any]] = {}
    for finding in report.findings:
        kinds.setdefault(finding.kind, set()).add(finding.key)
    missing_dynamo = kinds.pop(FindingKind.MISSING_IN_DYNAMODB, set())
    missing_sql = kinds.pop(FindingKind.MISSING_IN_SQL, set())
    assert missing_dynamo == drop_dynamo, (
        f"missing_in_dynamodb: {len(missing_dynamo)} named, {len(drop_dynamo)} dropped,"
        f" {len(missing_dynamo ^ drop_dynamo)} differ"
    )
    assert missing_sql == drop_sql, (
        f"missing_in_sql: {len(missing_sql)} named, {len(drop_sql)} dropped,"
        f" {len(missing_sql ^ drop_sql)} differ"
    )
    assert not kinds, f"unexpected findings: { {k: len(v) for k, v in kinds.items()} }"
    assert len(report.findings) == len(drop_sql) + len(drop_dynamo), "a key was named twice"
    assert all(f.sk for f in report.findings), "a finding lacks its sort key"
    assert report.summary["sql_count"] == n - len(drop_sql), report.summary
    assert report.summary["dynamodb_count"] == n - len(drop_dynamo), report.summary


async def seed_discovery(settings: Settings) -> None:
    """What a finished discovery Scan leaves in the monitor's schema, so checks skip the Scan."""
    async with open_context(settings) as ctx:
        assert ctx.state is not None, ctx.warnings
        pks = [(f"LOG#{service}#{DAY:%Y-%m-%d}", (service,)) for service in SERVICES]
        await ctx.state.remember_partitions(pks)
        await ctx.state.finish_discovery_pass(len(pks), 0.0, NOW)


async def time_discovery(settings: Settings) -> str:
    """The discovery Scan alone (4 segments, PK only), one attempt, 10-minute request timeout."""
    slow = settings.model_copy(
        update={
            "dynamodb": settings.dynamodb.model_copy(
                update={"request_timeout": timedelta(minutes=10)}
            )
        }
    )
    mapping = slow.table_mapping()
    async with DynamoStore.open(slow.dynamodb, mapping, retry=RetryPolicy(attempts=1)) as dynamo:
        t0 = time.perf_counter()
        try:
            found = await discover_partitions(dynamo, None, mapping, NOW)  # no cache: a full Scan
        except Exception as exc:  # report it, the benchmark goes on with the seeded cache
            return f"failed after {time.perf_counter() - t0:.1f}s: {exc!r}"[:300]
        return (
            f"{time.perf_counter() - t0:.1f}s, {len(found.values)} partitions,"
            f" {dynamo.budget.consumed:,.0f} RU"
        )


async def measure(
    args: argparse.Namespace,
    dsn: str,
    endpoint: str,
    meter: Meter,
    slices: Sequence[FloorSlice],
) -> tuple[list[Figures], dict[str, Any]]:
    n = args.records
    drop_sql, drop_dynamo = dropped_keys(n)
    extra: dict[str, Any] = {}
    session = get_session()
    config = AioConfig(
        max_pool_connections=max(10, 2 * max(args.concurrency)),
        retries={"total_max_attempts": 1},
    )
    conn = await asyncpg.connect(dsn)
    try:
        async with session.create_client(
            "dynamodb", region_name="us-east-1", endpoint_url=endpoint, config=config
        ) as client:
            # 3. warm-up: one untimed floor pass (JVM JIT, SQLite page cache, PostgreSQL buffers)
            with meter.measure() as warm:
                _, items, rows = await run_floor(client, conn, slices, args.concurrency[0])
            assert items == n - len(drop_dynamo), (items, n - len(drop_dynamo))
            assert rows == n - len(drop_sql), (rows, n - len(drop_sql))
            extra["warmup_floor"] = warm.wall
            print(f"warm-up floor pass (untimed): {warm.wall:.2f}s, {len(slices)} slices")

            settings = make_settings(dsn, endpoint, args.concurrency[0], args.slice_records)
            if args.discovery_scan:
                extra["discovery"] = await time_discovery(settings)
                print(f"discovery Scan alone: {extra['discovery']}", flush=True)
            await seed_discovery(settings)
            async with open_context(settings) as ctx:
                extra["baseline_rss"] = meter.rss()["monitor"]
                with meter.measure() as first:
                    report = await run_counts(settings, ctx.sql, ctx.dynamo, ctx.state, WINDOW, NOW)
                verify(report, n, drop_sql, drop_dynamo)
                assert report.summary["slices"] == len(slices), (report.summary, len(slices))
                extra["first_check"] = first.wall
                print(f"first check (untimed): {first.wall:.2f}s", flush=True)

            results = []
            for concurrency in args.concurrency:
                figures = Figures(concurrency, len(slices))
                settings = make_settings(dsn, endpoint, concurrency, args.slice_records)
                async with open_context(settings) as ctx:
                    for run in range(args.repeat):
                        requests = ctx.dynamo.requests
                        with meter.measure() as check:
                            report = await run_counts(
                                settings, ctx.sql, ctx.dynamo, ctx.state, WINDOW, NOW
                            )
                        verify(report, n, drop_sql, drop_dynamo)
                        figures.check.append(check)
                        figures.read_units.append(float(report.summary["read_units"]))
                        figures.requests.append(ctx.dynamo.requests - requests)
                        with meter.measure() as floor:
                            _, items, rows = await run_floor(client, conn, slices, concurrency)
                        assert items == n - len(drop_dynamo) and rows == n - len(drop_sql)
                        figures.floor.append(floor)
                        print(
                            f"  concurrency {concurrency:>2} run {run + 1}:"
                            f" check {check.wall:6.2f}s (cpu {check.ours:5.1f}s,"
                            f" foreign {check.cpu['foreign']:5.1f}s)"
                            f"  floor {floor.wall:6.2f}s (cpu {floor.ours:5.1f}s,"
                            f" foreign {floor.cpu['foreign']:5.1f}s)"
                            f"  ratio {check.wall / floor.wall:4.2f}"
                            f"  monitor peak {mb(check.rss['monitor'])}",
                            flush=True,
                        )
                results.append(figures)
    finally:
        await conn.close()
    return results, extra


def print_table(
    n: int, load: dict[str, float], results: list[Figures], extra: dict[str, Any]
) -> None:
    load_time = load["copy"] + load["put"] + load["analyze"]
    print()
    print(f"records          {n:,} in 5 partitions, {results[0].slices} slices of ~5,000")
    print(
        f"load             {load_time:.1f}s = PostgreSQL COPY {load['copy']:.1f}s"
        f" ({load['rows_sql'] / load['copy']:,.0f} rows/s) + ANALYZE {load['analyze']:.2f}s"
        f" + DynamoDB BatchWriteItem x12 {load['put']:.1f}s"
        f" ({load['rows_dynamodb'] / load['put']:,.0f} items/s)"
    )
    print(
        f"                 not in the load time: generating rows {load['generate']:.1f}s,"
        f" default_item() {load['items']:.1f}s;"
        f" PostgreSQL table + indexes {mb(load['pg_bytes'])}"
    )
    print(
        f"untimed          warm-up floor {extra['warmup_floor']:.2f}s,"
        f" first check {extra['first_check']:.2f}s (discovery cache seeded, no Scan)"
    )
    if "discovery" in extra:
        print(f"discovery Scan   {extra['discovery']}")
    print(f"monitor RSS      {mb(extra['baseline_rss'])} before the first check (context open)")
    print()
    print(
        f"{'records':>9} {'load':>6} {'conc':>4} {'check':>7} {'floor':>7} {'ratio':>5}"
        f" {'cpu ratio':>9} {'RU':>7} {'requests':>8} {'monitor RSS':>11} {'servers':>11}"
        f" {'java':>8} {'pg PSS':>8}"
    )
    for f in results:
        print(
            f"{n:>9,} {load_time:>5.0f}s {f.concurrency:>4}"
            f" {f.median('check'):>6.2f}s {f.median('floor'):>6.2f}s {f.ratio:>5.2f}"
            f" {f.cpu('check') / f.cpu('floor'):>9.2f}"
            f" {statistics.median(f.read_units):>7,.0f} {statistics.median(f.requests):>8,.0f}"
            f" {mb(f.peak('monitor')):>11} {mb(f.peak('servers')):>11}"
            f" {mb(f.peak('java')):>8} {mb(f.peak('postgres')):>8}"
        )
    print(
        f"(check, floor: medians of {len(results[0].check)} wall times; cpu ratio: median CPU"
        " seconds of monitor + java + postgres, check / floor; RSS: peak during the checks)"
    )
    print()
    print("CPU seconds, medians  check: monitor java postgres foreign | floor: same")
    for f in results:
        print(
            f"  concurrency {f.concurrency:>2}   "
            + " ".join(
                f"{f.cpu('check', p):6.1f}" for p in ("monitor", "java", "postgres", "foreign")
            )
            + "   | "
            + " ".join(
                f"{f.cpu('floor', p):6.1f}" for p in ("monitor", "java", "postgres", "foreign")
            )
            + f"   check runs {' '.join(f'{s.wall:.2f}' for s in f.check)}"
            + f"  floor runs {' '.join(f'{s.wall:.2f}' for s in f.floor)}"
        )
    best = min(results, key=lambda f: f.median("check"))
    print(f"fastest check: concurrency {best.concurrency} ({best.median('check'):.2f}s)")
    print(
        "monitor RSS = this Python process alone (the load ran in a child process);"
        " servers = java RSS + PSS of every postgres process, summed"
    )
    print(
        "foreign = CPU seconds used by other processes on the machine during the run;"
        " when it is high, wall times are inflated and the cpu ratio is the steadier figure"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--concurrency",
        type=lambda text: [int(x) for x in text.split(",")],
        default=[8],
        help="[dynamodb] max_concurrency of the check and the floor; a list runs each: 4,8,12,16",
    )
    parser.add_argument("--slice-records", type=int, default=5000)
    parser.add_argument("--load-concurrency", type=int, default=12)
    parser.add_argument("--chunk", type=int, default=50_000, help="records generated at a time")
    parser.add_argument(
        "--discovery-scan",
        action="store_true",
        help="also time the discovery Scan alone (DynamoDB Local may run out of heap on it)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    os.environ.update(local_aws_env())
    n = args.records

    with LocalPostgres() as pg, LocalDynamo("ddblocal") as dynamo:
        print(f"PostgreSQL on {pg.port}, DynamoDB Local at {dynamo.endpoint_url}", flush=True)
        settings = make_settings(pg.dsn, dynamo.endpoint_url, 8, args.slice_records)
        anyio.run(run_setup, settings)
        print(f"loading {n:,} records in a child process ...", flush=True)
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(1, mp_context=spawn) as pool:
            load_figures = pool.submit(
                load, pg.dsn, dynamo.endpoint_url, n, args.chunk, args.load_concurrency
            ).result()
            slices = [
                FloorSlice(*piece)
                for piece in pool.submit(floor_slice_tuples, n, args.slice_records).result()
            ]
        postmaster = int((pg.data_dir / "postmaster.pid").read_text().split()[0])
        meter = Meter(postmaster)
        meter.start()
        try:
            results, extra = anyio.run(measure, args, pg.dsn, dynamo.endpoint_url, meter, slices)
        finally:
            meter.stopped.set()
            meter.join()
    print_table(n, load_figures, results, extra)
    return 0


if __name__ == "__main__":
    sys.exit(main())
