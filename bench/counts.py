"""Benchmark `check counts` against DynamoDB Local and PostgreSQL, next to the I/O floor.

    .venv/bin/python bench/counts.py --records 200000
    .venv/bin/python bench/counts.py --records 200000 --outside 800000   # a 5x larger table

What it does:

1. starts a throwaway PostgreSQL and DynamoDB Local (`-Xmx384m`), runs `setup`;
2. loads N records of the default model into the window (5 services, one day, timestamps spread
   over 20 h, ~300-byte payloads) and `--outside` more on the 4 days before it, in a child
   process, so the loader's memory never shows in the monitor process: PostgreSQL by COPY,
   DynamoDB by BatchWriteItem. 0.1 % of the window's keys (`--divergence`) are left out of
   each side;
3. the floor: the bare read of the window (sliced Queries projecting LogId and WriteStatus,
   their items taken from the response JSON rather than botocore's parser (`--floor-botocore`
   for that; `--floor-capacity` asks for each Query's consumed capacity too), concurrently
   with one asyncpg key stream; raw aiobotocore and asyncpg, no monitor code),
   swept over slice sizes and concurrency after one untimed warm-up; the floor is the fastest
   median found, not the setting the check happens to use;
4. the program (`run_counts` as the CLI runs it, the report must name exactly the dropped keys):
   its very first run on an empty monitor schema (discovery never run), `--during` more runs
   with the first discovery pass in progress, the rest of that pass alone (timed), `--repeat`
   steady-state runs at its defaults, and a sweep of its
   own slice size and concurrency. Peak RSS is sampled every 50 ms in a thread.

The servers are always stopped, whatever happens.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import multiprocessing
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import asyncpg
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from common import (  # type: ignore[import-not-found]  # bench/ is the script's own folder
    DEFAULT_KNOBS,
    Knobs,
    Meter,
    Result,
    add_sweep_arguments,
    mb,
    print_floor_sweep,
    print_sweep,
    profiled,
    sweep_program,
)

from monitor.checks.counts import run_counts
from monitor.checks.partitions import discover_partitions, remembered_partitions
from monitor.checks.slices import plan_slices
from monitor.collector import pace_collector
from monitor.config import Settings, settings_from_dict
from monitor.local import LocalDynamo, LocalPostgres, local_aws_env
from monitor.model import CheckReport, FindingKind, Window
from monitor.runtime import open_context
from monitor.setup import run_setup
from monitor.stores.dynamodb import DynamoStore
from monitor.stores.wire import encode_item
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


#: The seed of the dropped keys, and the version of the data set's making (`make_row`, the
#: load): both name a kept data set (`--data-dir`), so a changed data set is loaded anew.
SEED = 20261120
DATA_VERSION = 1


#: Keys left out of each side, per million (`--divergence`, 0.1 % by default). Kept in the
#: environment, so the spawned children (the loader, the worker processes) leave out the same.
DIVERGENCE_ENV = "BENCH_DIVERGENCE_PPM"
DEFAULT_PPM = 1000


def divergence_ppm() -> int:
    return int(os.environ.get(DIVERGENCE_ENV, DEFAULT_PPM))


def dropped_keys(n: int) -> tuple[frozenset[int], frozenset[int]]:
    """`--divergence` (0.1 %) of the keys left out of each side, disjoint: (not in SQL, not
    in DynamoDB)."""
    k = max(1, n * divergence_ppm() // 1_000_000)
    picked = random.Random(SEED).sample(range(1, n + 1), 2 * k)
    return frozenset(picked[:k]), frozenset(picked[k:])


def make_settings(
    dsn: str, endpoint: str, knobs: Knobs | None, *, known_partitions: bool = False
) -> Settings:
    """The check's settings: its defaults (`knobs` None) or the given slice size and concurrency;
    `known_partitions`: `[mapping] partition_values` lists the services (no discovery at all).

    The read budget is lifted either way: the floor has none, and this measures the I/O.
    """
    dynamodb: dict[str, Any] = {"endpoint_url": endpoint, "table": TABLE}
    dynamodb["max_read_units_per_second"] = 1e9
    data: dict[str, Any] = {"postgres": {"dsn": dsn}, "dynamodb": dynamodb}
    if knobs is not None:
        # One pool connection per concurrent slice, or SQL would cap the concurrency.
        data["postgres"]["pool_size"] = max(8, knobs.concurrency)
        dynamodb["max_concurrency"] = knobs.concurrency
        data["checks"] = {"counts": {"slice_records": knobs.slice_records}}
    if known_partitions:
        data["mapping"] = {"partition_values": {"service_name": list(SERVICES)}}
    return settings_from_dict(data)


# --- loading (in a child process) ----------------------------------------------------------------


def load(
    dsn: str, endpoint: str, n: int, chunk: int, concurrency: int, outside: int, first: int = 0
) -> dict[str, float]:
    """Records `first` onwards of the window's n and the `outside` ones (0: all of them)."""
    os.environ.update(local_aws_env())
    return anyio.run(_load, dsn, endpoint, n, chunk, concurrency, outside, first)


def outside_row(i: int, n: int, outside: int) -> dict[str, Any]:
    """Record i of the `outside` ones: in both stores, on one of the 4 days before the window."""
    row = make_row(i, outside)
    moment = row["log_timestamp"] - timedelta(days=1 + i % 4)
    return row | {
        "log_id": n + i + 1,
        "log_timestamp": moment,
        "updated_at": moment,
        "transaction_id": f"tx-{n + i + 1:010d}",
    }


async def _load(
    dsn: str, endpoint: str, n: int, chunk: int, concurrency: int, outside: int, first: int
) -> dict[str, float]:
    mapping = make_settings(dsn, endpoint, None).table_mapping()
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
            total = n + outside
            for start in range(first, total, chunk):
                t0 = time.perf_counter()
                rows = [
                    make_row(i, n) if i < n else outside_row(i - n, n, outside)
                    for i in range(start, min(total, start + chunk))
                ]
                t1 = time.perf_counter()
                sql_rows = [r for r in rows if r["log_id"] not in drop_sql]
                written["sql"] += await copy_rows(conn, SQL_TABLE, DEFAULT_COLUMNS, sql_rows)
                t2 = time.perf_counter()
                items = [
                    encode_item(default_item(r, mapping))
                    for r in rows
                    if r["log_id"] not in drop_dynamo
                ]
                t3 = time.perf_counter()
                written["dynamodb"] += await put_items(
                    client, TABLE, items, concurrency=concurrency
                )
                t4 = time.perf_counter()
                spent["generate"] += t1 - t0
                spent["copy"] += t2 - t1
                spent["items"] += t3 - t2
                spent["put"] += t4 - t3
                done = min(total, start + chunk)
                if done % max(chunk, total // 10) < chunk or done == total:
                    print(
                        f"  loaded {done:>9,}/{total:,}  copy {spent['copy']:6.1f}s"
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


def with_capacity(params: dict[str, Any], **_: Any) -> None:
    """`--floor-capacity`: the floor's Query asks for its consumed capacity, as the program's do."""
    params["ReturnConsumedCapacity"] = "TOTAL"


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


async def warm_scan(client: Any) -> float:
    """One Scan request of one key (untimed): a fresh DynamoDB Local serves its first Scan
    ever several times slower than the next (its code path is cold: ~0.4 s against 0.01 s for
    an empty segment at 200k items), as the floor's warm-up pass does for Queries. Without it,
    the program's first run would pay the server's warm-up, not discovery's cost."""
    t0 = time.perf_counter()
    await client.scan(
        TableName=TABLE,
        ProjectionExpression="#pk",
        ExpressionAttributeNames={"#pk": "PK"},
        Segment=0,
        TotalSegments=16,
        Limit=1,
    )
    return time.perf_counter() - t0


def take_items_raw(
    response_dict: dict[str, Any], customized_response_dict: dict[str, Any], **_: Any
) -> None:
    """The floor's parse: `Items` straight from the response JSON (botocore walks every attribute
    of every item through its service model in pure Python, which costs more client CPU than
    the rest of the read). The wire format is already `{"S": ...}`/`{"N": ...}`."""
    if response_dict.get("status_code", 500) >= 300:
        return
    body = json.loads(response_dict["body"])
    if "Items" in body:
        customized_response_dict["Items"] = body.pop("Items")
        response_dict["body"] = json.dumps(body).encode()


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


# --- the measurements ------------------------------------------------------------------------------


def verify(
    report: CheckReport, n: int, drop_sql: frozenset[int], drop_dynamo: frozenset[int]
) -> None:
    # A record `Failed` in one store and absent from the other agrees (CONTRACT §7): make_row
    # gives every 97th record that status, so such dropped keys are neither named nor counted.
    agreed_sql = {k for k in drop_dynamo if (k - 1) % 97 == 0}
    agreed_dynamo = {k for k in drop_sql if (k - 1) % 97 == 0}
    drop_sql, drop_dynamo = drop_sql - agreed_dynamo, drop_dynamo - agreed_sql
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
    assert report.summary["sql_count"] == n - len(drop_sql) - len(agreed_dynamo) - len(agreed_sql)
    assert report.summary["dynamodb_count"] == n - len(drop_dynamo) - len(agreed_sql) - len(
        agreed_dynamo
    )
    assert report.summary["agreed_absent"] == len(agreed_sql) + len(agreed_dynamo)


async def sweep_floor(
    client: Any,
    conn: asyncpg.Connection,
    meter: Meter,
    slices: dict[int, list[FloorSlice]],
    concurrencies: Sequence[int],
    expect: tuple[int, int],
    repeat: int,
) -> tuple[Result, list[Result]]:
    """Every (slice size, concurrency) once, then the two fastest `repeat` times: the floor is
    the best median — the fastest bare read found, not the one that matches the check."""
    grid = []
    for size, pieces in slices.items():
        for concurrency in concurrencies:
            result = Result(Knobs(size, concurrency))
            with meter.measure() as sample:
                _, items, rows = await run_floor(client, conn, pieces, concurrency)
            assert (items, rows) == expect, ((items, rows), expect)
            result.runs.append(sample)
            grid.append(result)
            print(f"  floor {result.knobs}: {sample.wall:6.2f}s", flush=True)
    finalists = sorted(grid, key=lambda r: r.wall)[:2]
    for result in finalists:
        for _ in range(repeat - 1):
            with meter.measure() as sample:
                await run_floor(
                    client, conn, slices[result.knobs.slice_records], result.knobs.concurrency
                )
            result.runs.append(sample)
    return min(finalists, key=lambda r: r.wall), grid


async def run_program(
    dsn: str,
    endpoint: str,
    knobs: Knobs | None,
    meter: Meter,
    n: int,
    result: Result,
    *,
    known_partitions: bool = False,
) -> CheckReport:
    """One `check counts` of the window, as the CLI runs it (stores opened, state migrated)."""
    settings = make_settings(dsn, endpoint, knobs, known_partitions=known_partitions)
    drop_sql, drop_dynamo = dropped_keys(n)
    async with open_context(settings) as ctx:
        with meter.measure() as sample:
            report = await run_counts(settings, ctx.sql, ctx.dynamo, ctx.state, WINDOW, NOW)
    verify(report, n, drop_sql, drop_dynamo)
    result.runs.append(sample)
    result.read_units.append(float(report.summary["read_units"]))
    return report


async def measure_floor(
    args: argparse.Namespace,
    dsn: str,
    endpoint: str,
    meter: Meter,
    slices: dict[int, list[FloorSlice]],
) -> dict[str, Any]:
    """The floor of `args.records` records: an untimed warm-up, then `sweep_floor`
    (`floor`, `floor_grid`). With `--floor-capacity` the sweep runs again with every Query
    asking for its consumed capacity, which becomes `floor` (the bare one is `bare_floor`)."""
    n = args.records
    drop_sql, drop_dynamo = dropped_keys(n)
    expect = (n - len(drop_dynamo), n - len(drop_sql))
    session = get_session()
    config = AioConfig(
        max_pool_connections=max(10, 2 * max(args.sweep_concurrency)),
        retries={"total_max_attempts": 1},
    )
    conn = await asyncpg.connect(dsn)
    try:
        async with session.create_client(
            "dynamodb", region_name="us-east-1", endpoint_url=endpoint, config=config
        ) as client:
            if not args.floor_botocore:
                client.meta.events.register("before-parse.dynamodb.Query", take_items_raw)
            # warm-up: one untimed floor pass (JVM JIT, SQLite page cache, PostgreSQL buffers)
            with meter.measure() as warm:
                _, items, rows = await run_floor(client, conn, slices[min(slices)], 16)
            assert (items, rows) == expect, ((items, rows), expect)
            print(f"warm-up floor pass (untimed): {warm.wall:.2f}s", flush=True)
            if not args.cold_scan:
                print(f"warm-up Scan request (untimed): {await warm_scan(client):.2f}s", flush=True)
            floor, grid = await sweep_floor(
                client, conn, meter, slices, args.sweep_concurrency, expect, args.repeat
            )
            out: dict[str, Any] = {"floor": floor, "floor_grid": grid}
            if args.floor_capacity:  # the same sweep again, each Query asking for its units
                print("floor again, asking for consumed capacity:", flush=True)
                client.meta.events.register("provide-client-params.dynamodb.Query", with_capacity)
                floor, grid = await sweep_floor(
                    client, conn, meter, slices, args.sweep_concurrency, expect, args.repeat
                )
                out |= {"floor": floor, "floor_grid": grid, "bare_floor": out["floor"]}
            return out
    finally:
        await conn.close()


class KeptDataSet:
    """A loaded data set kept in `--data-dir` (PostgreSQL's cluster and DynamoDB Local's
    database file), named by what makes it: records, outside, seed, version. `loaded.json` is
    written only once the load has finished, so an interrupted load is loaded again."""

    def __init__(self, data_dir: Path, n: int, outside: int) -> None:
        ppm = divergence_ppm()
        self.name = f"records-{n}-outside-{outside}-seed-{SEED}-v{DATA_VERSION}"
        self.name += "" if ppm == DEFAULT_PPM else f"-ppm-{ppm}"
        self.root = data_dir / self.name
        self.marker = self.root / "loaded.json"
        self.identity = {"records": n, "outside": outside, "seed": SEED, "version": DATA_VERSION}
        if ppm != DEFAULT_PPM:
            self.identity["missing_ppm"] = ppm

    def loaded(self) -> dict[str, float] | None:
        """The figures of the finished load, or None (and the folder cleared for a new load)."""
        try:
            kept = json.loads(self.marker.read_text())
        except (OSError, ValueError):
            kept = None
        if isinstance(kept, dict) and kept.get("data_set") == self.identity:
            return dict(kept["load"])
        shutil.rmtree(self.root, ignore_errors=True)
        return None

    def start_from(self, base: KeptDataSet) -> dict[str, float] | None:
        """Copy `base` (the same window, no record outside it) if it is loaded, so that only
        the records outside the window remain to load; returns `base`'s load figures."""
        figures = base.loaded()
        if figures is None:
            return None
        # cp -a: the cluster's files keep their owner (as root, the server runs as `nobody`)
        subprocess.run(["cp", "-a", str(base.root), str(self.root)], check=True)
        self.marker.unlink()
        return figures

    def mark_loaded(self, figures: dict[str, float]) -> None:
        self.marker.write_text(json.dumps({"data_set": self.identity, "load": figures}))


async def reset_monitor_state(dsn: str, settings: Settings) -> None:
    """A kept data set's monitor schema as `setup` leaves it: discovery's and every run's state
    emptied (so a first run is a first run again), the schema's version and phase kept."""
    schema = settings.postgres.state_schema
    conn = await asyncpg.connect(dsn)
    try:
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = $1"
            " AND tablename NOT IN ('schema_version', 'phase_history')",
            schema,
        )
        if tables:
            names = ", ".join(f'"{schema}"."{t["tablename"]}"' for t in tables)
            await conn.execute(f"TRUNCATE {names}")
    finally:
        await conn.close()


def on_loaded_servers(
    args: argparse.Namespace,
    setup: Callable[[str, str], Settings],
    measure: Callable[[argparse.Namespace, str, str, Meter], Awaitable[dict[str, Any]]],
    outside: int = 0,
) -> tuple[dict[str, float], dict[str, Any]]:
    """Servers, `setup` run with `setup(dsn, endpoint)`'s settings, `args.records` records (and
    `outside` more) loaded and the floor's slices cut in a child process; then the floor and
    `measure(args, dsn, endpoint, meter)`, metered. The servers are always stopped. Returns the
    load's figures and the measurements (`floor`, `floor_grid` and `measure`'s; none with
    `--load-only`). With `--data-dir` the servers keep their data there and a data set
    already loaded is reused (its monitor state emptied) instead of loaded again; a larger
    table (`outside`) starts from a copy of the same window's kept data set when there is one
    (neither may be in use meanwhile)."""
    n = args.records
    os.environ[DIVERGENCE_ENV] = str(round(args.divergence * 10_000))  # before any child
    kept = None if args.data_dir is None else KeptDataSet(args.data_dir, n, outside)
    load_figures = None if kept is None else kept.loaded()
    base_figures, first = None, 0
    if kept is not None and load_figures is None and outside:
        # The same window kept without the records outside it: copied, only those to load.
        base_figures = kept.start_from(KeptDataSet(kept.root.parent, n, 0))
        first = 0 if base_figures is None else n
    with (
        LocalPostgres(keep=None if kept is None else kept.root / "postgres") as pg,
        LocalDynamo("ddblocal", db_path=None if kept is None else kept.root / "dynamodb") as dynamo,
    ):
        endpoint = dynamo.endpoint_url
        print(f"PostgreSQL on {pg.port}, DynamoDB Local at {endpoint}", flush=True)
        settings = setup(pg.dsn, endpoint)
        anyio.run(run_setup, settings)
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(1, mp_context=spawn) as pool:
            if load_figures is None:
                print(f"loading {n + outside - first:,} records in a child process ...", flush=True)
                load_figures = pool.submit(
                    load, pg.dsn, endpoint, n, args.chunk, args.load_concurrency, outside, first
                ).result()
                if base_figures is not None:  # the window's records came with the copy
                    load_figures = {
                        k: v + (0.0 if k == "pg_bytes" else base_figures.get(k, 0.0))
                        for k, v in load_figures.items()
                    }
                if kept is not None:
                    kept.mark_loaded(load_figures)
            else:
                print(f"reusing the data set kept in {kept.root if kept else ''}", flush=True)
            if kept is not None:  # reused, or copied from the window's set: its state emptied
                anyio.run(reset_monitor_state, pg.dsn, settings)
            if args.load_only:
                return load_figures, {}
            slices = {
                size: [
                    FloorSlice(*piece)
                    for piece in pool.submit(floor_slice_tuples, n, size).result()
                ]
                for size in args.sweep_slices
            }
        postmaster = int((pg.data_dir / "postmaster.pid").read_text().split()[0])
        meter = Meter(postmaster)
        meter.start()

        async def floor_then_measure() -> dict[str, Any]:
            out = await measure_floor(args, pg.dsn, endpoint, meter, slices)
            print(f"floor: {out['floor'].knobs}, {out['floor'].wall:.2f}s", flush=True)
            return out | await measure(args, pg.dsn, endpoint, meter)

        try:
            out = anyio.run(floor_then_measure)
        finally:
            meter.stopped.set()
            meter.join()
    return load_figures, out


class ScanMeter:
    """Discovery's Scan pages while installed: how many, and their seconds in flight."""

    def __init__(self) -> None:
        self.pages, self.seconds = 0, 0.0

    @contextmanager
    def installed(self) -> Iterator[None]:
        real = DynamoStore.scan_partition_keys_page

        async def timed(store: DynamoStore, *args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return await real(store, *args, **kwargs)
            finally:
                self.pages += 1
                self.seconds += time.perf_counter() - t0

        DynamoStore.scan_partition_keys_page = timed  # type: ignore[method-assign,assignment]
        try:
            yield
        finally:
            DynamoStore.scan_partition_keys_page = real  # type: ignore[method-assign]

    def take(self) -> str:
        text = f"{self.pages} ({self.seconds:.2f}s in flight)"
        self.pages, self.seconds = 0, 0.0
        return text


async def profile_program(dsn: str, endpoint: str, meter: Meter, n: int) -> None:
    """One steady run at the defaults under cProfile (this process's CPU by function), and the
    planning alone, timed: where the time over the floor goes."""
    settings = make_settings(dsn, endpoint, None)
    async with open_context(settings) as ctx:
        t0 = time.perf_counter()
        known = await remembered_partitions(ctx.state, ctx.sql.mapping)
        planned = await plan_slices(
            ctx.sql, ctx.sql.mapping, WINDOW, known, settings.checks.counts.slice_records
        )
        plan = time.perf_counter() - t0
    print(f"planning alone: {plan:.3f}s for {len(planned)} slices", flush=True)
    await profiled(lambda: run_program(dsn, endpoint, None, meter, n, Result(DEFAULT_KNOBS)))


async def finish_discovery(dsn: str, endpoint: str) -> tuple[float, int]:
    """The discovery pass in progress finished alone (each call one run's budget, concurrent
    segments, as `orphans` and `verify` run it): (seconds, calls)."""
    settings = make_settings(dsn, endpoint, None)
    t0, calls = time.perf_counter(), 0
    async with open_context(settings) as ctx:
        mapping = ctx.sql.mapping
        while True:
            calls += 1
            found = await discover_partitions(ctx.dynamo, ctx.state, mapping, NOW)
            if found.progress is None:
                return time.perf_counter() - t0, calls


async def record_pass(dsn: str, endpoint: str, outside: int) -> tuple[float, int]:
    """The discovery pass in progress recorded as finished from what the data set holds (its
    partition keys: 5 services on the window's day and, with `outside`, the 4 days before),
    instead of scanning the rest: at 1M items the rest of a pass alone takes many minutes on
    DynamoDB Local. The steady state after it is the same as after a scanned pass."""
    settings = make_settings(dsn, endpoint, None)
    t0 = time.perf_counter()
    days = [DAY - timedelta(days=d) for d in range(5 if outside else 1)]
    found = [(f"LOG#{s}#{day:%Y-%m-%d}", [s]) for s in SERVICES for day in days]
    async with open_context(settings) as ctx:
        assert ctx.state is not None
        await ctx.state.remember_partitions(found)
        await ctx.state.finish_discovery_pass(len(found), 0.0, NOW)
    return time.perf_counter() - t0, 0


async def measure(
    args: argparse.Namespace, dsn: str, endpoint: str, meter: Meter
) -> dict[str, Any]:
    n = args.records
    out: dict[str, Any] = {}
    # The partition values configured: no discovery Scan at all (and the program warmed up
    # before its first run proper, so that run's cost over it is discovery's).
    known = Result(DEFAULT_KNOBS)
    for _ in range(args.repeat):
        await run_program(dsn, endpoint, None, meter, n, known, known_partitions=True)
    out["known"] = known
    print(f"partition values configured (no discovery): {known.wall:.2f}s", flush=True)
    # The program's very first run: an empty monitor schema, discovery never run.
    scans = ScanMeter()
    first = Result(DEFAULT_KNOBS)
    with scans.installed():
        report = await run_program(dsn, endpoint, None, meter, n, first)
    out["first"], out["first_scans"] = first, scans.take()
    out["first_coverage"] = report.summary["discovery_coverage"]
    print(
        f"first run: {first.wall:.2f}s, discovery coverage {out['first_coverage']:.0%},"
        f" Scan pages {out['first_scans']}",
        flush=True,
    )
    # A few more runs with the pass in progress (each scans its share beside it), then the
    # rest of the pass alone, so the steady state is measured with discovery up to date.
    during = Result(DEFAULT_KNOBS)
    with scans.installed():
        while report.summary["discovery_coverage"] < 1.0 and len(during.runs) < args.during:
            report = await run_program(dsn, endpoint, None, meter, n, during)
    out["during"], out["during_scans"] = during, scans.take()
    out["during_coverage"] = report.summary["discovery_coverage"]
    if args.pass_alone == "scan":
        out["rest_of_pass"] = await finish_discovery(dsn, endpoint)
    else:
        out["rest_of_pass"] = await record_pass(dsn, endpoint, args.outside)
    print(
        f"{len(during.runs)} more runs during the pass, coverage then"
        f" {out['during_coverage']:.0%}; the rest of the pass alone:"
        f" {out['rest_of_pass'][0]:.1f}s in {out['rest_of_pass'][1]} runs",
        flush=True,
    )

    steady = Result(DEFAULT_KNOBS)
    for _ in range(args.repeat):
        await run_program(dsn, endpoint, None, meter, n, steady)
    out["steady"] = steady
    print(f"steady state, defaults ({DEFAULT_KNOBS}): {steady.wall:.2f}s", flush=True)
    if args.profile:
        await profile_program(dsn, endpoint, meter, n)

    out["program_best"], out["program_grid"] = await sweep_program(
        args,
        lambda knobs, result: run_program(dsn, endpoint, knobs, meter, n, result),
        "program",
    )
    return out


def print_table(
    n: int, load: dict[str, float], out: dict[str, Any], args: argparse.Namespace
) -> None:
    floor: Result = out["floor"]
    load_time = load["copy"] + load["put"] + load["analyze"]
    table = n + args.outside
    print()
    print(
        f"records          {n:,} in the window (5 partitions), {table:,} in the table;"
        f" load {load_time:.0f}s (COPY {load['copy']:.0f}s, BatchWriteItem {load['put']:.0f}s)"
    )
    print()
    print_floor_sweep(out["floor_grid"])
    print()
    rows = [
        ("floor (best of the sweep)", floor),
        ("program, partition values configured", out["known"]),
        ("program, first run (no discovery yet)", out["first"]),
        *([("program, runs during the first pass", out["during"])] if out["during"].runs else []),
        ("program, steady state, defaults", out["steady"]),
        ("program, its best setting", out["program_best"]),
    ]
    print(
        f"{'':40} {'setting':>34} {'wall':>8} {'ratio':>6} {'cpu':>7} {'foreign':>8}"
        f" {'RU':>9} {'RSS':>8}"
    )
    for name, result in rows:
        ru = f"{statistics.median(result.read_units):,.0f}" if result.read_units else "-"
        print(
            f"{name:40} {str(result.knobs):>34} {result.wall:7.2f}s {result.wall / floor.wall:6.2f}"
            f" {result.cpu:6.1f}s {result.foreign:7.1f}s {ru:>9} {mb(result.peak_rss):>8}"
        )
    during: Result = out["during"]
    print(
        f"discovery: the first run sent {out['first_scans']} Scan pages, coverage"
        f" {out['first_coverage']:.0%}; {len(during.runs)} runs more sent {out['during_scans']},"
        f" coverage then {out['during_coverage']:.0%}"
        + (
            f", their walls {' '.join(f'{s.wall:.2f}' for s in during.runs)}s"
            if during.runs
            else ""
        )
        + f"; the rest of the pass alone {out['rest_of_pass'][0]:.1f}s"
    )
    print()
    print_sweep("program sweep (one run each)", out["program_grid"], floor)
    print(
        "wall: medians of the runs; ratio: against the floor of this run; cpu: CPU seconds of"
        " monitor + java + postgres; foreign: CPU seconds of everything else on the machine"
        " meanwhile (median); RSS: this process's peak (the load ran in a child)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    pace_collector()  # as the CLI does: the program and its floor run under it
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=200_000, help="records in the window")
    parser.add_argument(
        "--outside",
        type=int,
        default=0,
        help="more records on the 4 days before the window: a larger table, the same window",
    )
    parser.add_argument(
        "--during",
        type=int,
        default=3,
        help="runs measured while the first discovery pass is in progress, after the first",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="one more steady run under cProfile (the monitor's CPU by function), planning timed",
    )
    parser.add_argument(
        "--pass-alone",
        choices=("scan", "record"),
        default="scan",
        help="finish the first discovery pass before the steady runs by scanning the rest alone"
        " (scan), or by recording it finished with the data set's partition keys (record: the"
        " rest of a pass over 1M items takes many minutes on DynamoDB Local)",
    )
    parser.add_argument(
        "--cold-scan",
        action="store_true",
        help="no untimed Scan request in the warm-up: the first run also pays the first Scan"
        " a fresh DynamoDB Local serves",
    )
    add_sweep_arguments(
        parser,
        sweep_slices=[250, 500, 1000, 2000, 5000],
        sweep_concurrency=[4, 8, 16, 32],
        program_slices=[500, 1000, 2000, 5000],
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    os.environ.update(local_aws_env())
    n = args.records
    load_figures, out = on_loaded_servers(
        args, lambda dsn, endpoint: make_settings(dsn, endpoint, None), measure, args.outside
    )
    if out:
        print_table(n, load_figures, out, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
