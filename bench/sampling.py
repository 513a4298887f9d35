"""Benchmark the sample's DynamoDB reads: batched and concurrent vs the seed's GetItem per row.

    .venv/bin/python bench/sampling.py                       # 10,000 sampled of 20,000 records
    .venv/bin/python bench/sampling.py --sample 10000 --records 40000 --repeat 3

What it does:

1. starts a throwaway PostgreSQL and DynamoDB Local, runs `setup`, and loads `--records` records
   of the default model (~300-byte JSON payloads) into both stores;
2. draws one sample of `--sample` records with the check's own sampler (`draw_sample`), and
   keeps its (PK, SK) keys: both paths read exactly these keys;
3. warms DynamoDB Local up (an untimed batched pass and `--warmup` GetItems), then `--repeat`
   times:
   - **batched** (ours): `DynamoStore.batch_get` — BatchGetItem of 100, `max_concurrency`
     requests at once, through the read budget, projecting what `check sample` projects;
   - **per row** (the seed's): one GetItem per key, awaited one after the other, with the same
     projection (`--full-items` reads whole items, as the seed did);
   both report the read units DynamoDB returned (ReturnConsumedCapacity=TOTAL);
4. times one whole `check sample` (draw + fetch + compare) for context.

The servers are always stopped, whatever happens.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import statistics
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import asyncpg
import psutil

from monitor.checks.sampling import draw_sample, run_sample
from monitor.config import Settings, field_specs, settings_from_dict
from monitor.local import LocalDynamo, LocalPostgres, local_aws_env
from monitor.model import Window
from monitor.setup import run_setup
from monitor.stores.dynamodb import DynamoStore
from monitor.stores.postgres import PostgresStore
from monitor.stores.wire import encode_item
from monitor.writer.bulk import copy_rows, put_items
from monitor.writer.items import DEFAULT_COLUMNS, default_item

DAY = datetime(2026, 11, 20, tzinfo=UTC)
WINDOW = Window(DAY, DAY + timedelta(days=1))
SERVICES = ("CreditCheckService", "IncomeVerification", "FraudScreen", "PaymentGateway")


def make_row(i: int, n: int) -> dict[str, Any]:
    moment = DAY + timedelta(hours=1, microseconds=i * (20 * 3600 * 10**6) // n)
    ok = i % 11 != 0
    return {
        "log_id": i + 1,
        "application_id": f"APP-{i % 5000:05d}",
        "service_name": SERVICES[i % len(SERVICES)],
        "log_type": "Response" if ok else "Error",
        "log_timestamp": moment,
        "request_data": f'{{"applicant":"A{i:09d}","amount":{i * 37 % 500000},"currency":"EUR",'
        f'"note":"{"lorem ipsum dolor sit amet " * 5}"}}',
        "response_data": f'{{"score":{i % 900},"decision":"{"approve" if ok else "refer"}"}}',
        "status_code": "200" if ok else "500",
        "is_success": ok,
        "error_message": None if ok else "upstream timeout",
        "processing_time_ms": 20 + i % 300,
        "correlation_id": f"corr-{i:010d}",
        "transaction_id": f"tx-{i + 1:010d}",
        "write_status": "Committed",
        "updated_at": moment,
    }


def make_settings(dsn: str, endpoint: str, sample: int, concurrency: int) -> Settings:
    return settings_from_dict(
        {
            "postgres": {"dsn": dsn},
            "dynamodb": {
                "endpoint_url": endpoint,
                "max_read_units_per_second": 1e9,  # measure the path, not the budget
                "max_concurrency": concurrency,
            },
            "checks": {"sampling": {"sample_size": sample}},
        }
    )


async def load(settings: Settings, n: int) -> None:
    await run_setup(settings)
    mapping = settings.table_mapping()
    rows = [make_row(i, n) for i in range(n)]
    conn = await asyncpg.connect(settings.postgres.dsn.get_secret_value())
    try:
        await copy_rows(conn, mapping.sql_table, DEFAULT_COLUMNS, rows)
        await conn.execute(f"ANALYZE {mapping.sql_table}")
    finally:
        await conn.close()
    async with DynamoStore.open(settings.dynamodb, mapping) as dynamo:
        await put_items(
            dynamo.client,
            settings.dynamodb.table,
            [encode_item(default_item(r, mapping)) for r in rows],
        )


def java_cpu() -> float:
    """CPU seconds used so far by DynamoDB Local (a java child of this process)."""
    total = 0.0
    for proc in psutil.Process().children(recursive=True):
        try:
            if proc.name() == "java":
                times = proc.cpu_times()
                total += times.user + times.system
        except psutil.Error:  # gone meanwhile
            continue
    return total


async def per_row(
    dynamo: DynamoStore, keys: Sequence[tuple[str, str]], projection: Sequence[str] | None
) -> tuple[int, float]:
    """The seed's path: one GetItem per key, each awaited before the next."""
    m = dynamo.mapping
    found, units = 0, 0.0
    extra: dict[str, Any] = {}
    if projection:
        names = {f"#a{i}": name for i, name in enumerate(projection)}
        extra = {"ProjectionExpression": ", ".join(names), "ExpressionAttributeNames": names}
    for pk, sk in keys:
        response = await dynamo.client.get_item(
            TableName=dynamo.table,
            Key={m.partition_key: {"S": pk}, m.sort_key: {"S": sk}},
            ReturnConsumedCapacity="TOTAL",
            **extra,
        )
        found += "Item" in response
        units += float(response.get("ConsumedCapacity", {}).get("CapacityUnits", 0.0))
    return found, units


async def measure(args: argparse.Namespace, dsn: str, endpoint: str) -> None:
    settings = make_settings(dsn, endpoint, args.sample, args.concurrency)
    mapping = settings.table_mapping()
    specs = field_specs(settings.mapping.fields, "mapping.fields")
    projection = [
        mapping.partition_key,
        mapping.sort_key,
        mapping.key_attribute,
        mapping.status_attribute,
        *(s.attribute for s in specs),
    ]
    async with (
        PostgresStore.open(settings.postgres, mapping) as sql,
        DynamoStore.open(settings.dynamodb, mapping) as dynamo,
    ):
        columns = (*mapping.row_columns, *(s.column for s in specs))
        t0 = time.perf_counter()
        sample = await draw_sample(
            sql, WINDOW, args.sample, columns, rng=random.Random(1), seed=0.5
        )
        draw = time.perf_counter() - t0
        keys = [(r.pk, r.sk) for r in map(mapping.record_from_row, sample.rows)]
        pairs = [(pk, sk) for pk, sk in keys if pk is not None and sk is not None]
        print(
            f"sample: {len(pairs):,} of {sample.window_records:,} records"
            f" ({sample.method}, p={sample.rate:.4f}), drawn in {draw:.2f}s",
            flush=True,
        )
        seed_projection = None if args.full_items else projection
        # Warm-up, untimed: DynamoDB Local's JIT and page cache serve both paths afterwards.
        await dynamo.batch_get(pairs, projection)
        await per_row(dynamo, pairs[: args.warmup], seed_projection)

        batched_times, batched_units, row_times, row_units = [], [], [], []
        cpu_ratios: list[float] = []
        for run in range(args.repeat):
            before, requests = dynamo.budget.consumed, dynamo.requests
            t0, cpu0, java0 = time.perf_counter(), time.process_time(), java_cpu()
            items = await dynamo.batch_get(pairs, projection)
            spent, cpu = time.perf_counter() - t0, time.process_time() - cpu0
            server = java_cpu() - java0
            assert len(items) == len(pairs), (len(items), len(pairs))
            batched_times.append(spent)
            batched_units.append(dynamo.budget.consumed - before)
            calls = dynamo.requests - requests
            t0, cpu0, java0 = time.perf_counter(), time.process_time(), java_cpu()
            found, units = await per_row(dynamo, pairs, seed_projection)
            slow, slow_cpu = time.perf_counter() - t0, time.process_time() - cpu0
            slow_server = java_cpu() - java0
            cpu_ratios.append((slow_cpu + slow_server) / (cpu + server))
            assert found == len(pairs), (found, len(pairs))
            row_times.append(slow)
            row_units.append(units)
            print(
                f"  run {run + 1}: batched {spent:6.2f}s (CPU client {cpu:5.2f}s + server"
                f" {server:5.2f}s, {calls} BatchGetItem calls, {batched_units[-1]:,.1f} RU)"
                f"   per row {slow:6.2f}s (CPU client {slow_cpu:5.2f}s + server"
                f" {slow_server:5.2f}s, {len(pairs):,} GetItem calls, {units:,.1f} RU)"
                f"   ratio {slow / spent:5.1f}x (CPU {cpu_ratios[-1]:4.1f}x)",
                flush=True,
            )

        t0 = time.perf_counter()
        report = await run_sample(settings, sql, dynamo, WINDOW, rng=random.Random(2), seed=0.1)
        whole = time.perf_counter() - t0
        assert report.summary["bad_records"] == 0, report.summary

    b, r = statistics.median(batched_times), statistics.median(row_times)
    print()
    print(f"keys                      {len(pairs):,} (the same keys for both paths)")
    print(f"DynamoDB max_concurrency  {args.concurrency}")
    print(f"batched (ours)            {b:7.2f}s  {statistics.median(batched_units):>9,.1f} RU")
    print(
        f"GetItem per row (seed)    {r:7.2f}s  {statistics.median(row_units):>9,.1f} RU"
        + ("  (whole items)" if args.full_items else "  (same projection)")
    )
    print(f"speed-up                  {r / b:7.1f}x   (medians of {args.repeat}; target >= 10x)")
    print(
        f"CPU-seconds ratio         {statistics.median(cpu_ratios):7.1f}x   (client + DynamoDB"
        " Local, per row / batched: steadier than wall time on a busy machine)"
    )
    print(f"load average (1 min)      {os.getloadavg()[0]:7.1f}   on {os.cpu_count()} cores")
    print(
        f"whole `check sample`      {whole:7.2f}s  (draw + fetch + compare of"
        f" {report.summary['sampled']:,} records, {report.summary['read_units']:,.1f} RU)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--sample", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8, help="[dynamodb] max_concurrency")
    parser.add_argument("--warmup", type=int, default=2000, help="untimed GetItems before timing")
    parser.add_argument(
        "--full-items", action="store_true", help="the per-row path reads whole items (as the seed)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    os.environ.update(local_aws_env())
    with LocalPostgres() as pg, LocalDynamo("ddblocal") as dynamo:
        print(f"PostgreSQL on {pg.port}, DynamoDB Local at {dynamo.endpoint_url}", flush=True)
        settings = make_settings(pg.dsn, dynamo.endpoint_url, args.sample, args.concurrency)
        t0 = time.perf_counter()
        anyio.run(load, settings, args.records)
        print(f"loaded {args.records:,} records in {time.perf_counter() - t0:.1f}s", flush=True)
        anyio.run(measure, args, pg.dsn, dynamo.endpoint_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
