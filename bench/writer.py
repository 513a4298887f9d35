"""The dual writer against a baseline of the same two writes with no protocol, in the same run.

    .venv/bin/python bench/writer.py --records 400 --concurrency 1,4,16,64
    .venv/bin/python bench/writer.py --dynamodb ddblocal --records 2000

Starts a throwaway PostgreSQL and a local DynamoDB-API server (moto by default), runs `setup`,
then for each concurrency writes `--records` fresh records twice, alternating which goes first:

- **protocol**: `DualWriter.write` (SQL insert as Pending, conditional put as Pending, mark
  Committed in SQL, then in DynamoDB: four round trips);
- **baseline**: the same SQL insert (already `Committed`) then the same put, unconditional, back
  to back: two round trips, no protocol.

Prints throughput (records/s) and p50/p99 latency of one record for both, and their ratios
(target: protocol latency at most 1.5x the baseline's at the same throughput).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio

from monitor.config import Settings, settings_from_dict
from monitor.core.stats import percentile
from monitor.local import LocalDynamo, LocalPostgres, local_aws_env
from monitor.migration.phase import FixedPhase
from monitor.setup import run_setup
from monitor.stores.dynamodb import DynamoStore
from monitor.stores.postgres import PostgresStore
from monitor.writer.dual import TRANSACTION_COLUMN, DualWriter
from monitor.writer.items import default_item
from monitor.writer.records import RecordFactory

Write = Callable[[Mapping[str, Any]], Awaitable[object]]


async def timed(write: Write, rows: list[dict[str, Any]], concurrency: int) -> dict[str, float]:
    latencies: list[float] = []
    limiter = anyio.Semaphore(concurrency)

    async def one(row: dict[str, Any]) -> None:
        async with limiter:
            started = time.perf_counter()
            await write(row)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    async with anyio.create_task_group() as group:
        for row in rows:
            group.start_soon(one, row)
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "rate": len(rows) / elapsed,
        "p50": percentile(ordered, 0.5) * 1000,
        "p99": percentile(ordered, 0.99) * 1000,
    }


async def bench(settings: Settings, records: int, levels: list[int], repeat: int) -> None:
    await run_setup(settings)
    mapping = settings.table_mapping()
    async with (
        PostgresStore.open(settings.postgres, mapping) as sql,
        DynamoStore.open(settings.dynamodb, mapping) as dynamo,
    ):
        writer = DualWriter(sql, dynamo, mapping, phase=FixedPhase())

        async def baseline(record: Mapping[str, Any]) -> None:
            row = {
                **record,
                TRANSACTION_COLUMN: "baseline",
                mapping.status_column: mapping.status_values.committed,
                "updated_at": record[mapping.timestamp_column],
            }
            await sql.insert_pending(row, TRANSACTION_COLUMN)
            await dynamo.call(
                "put_item", reads=False, TableName=dynamo.table, Item=default_item(row, mapping)
            )

        keys = iter(range(1, 10**9, records))
        factory_seed = 0

        def fresh() -> list[dict[str, Any]]:
            nonlocal factory_seed
            factory_seed += 1
            factory = RecordFactory(seed=factory_seed, first_key=next(keys))
            return [factory.make() for _ in range(records)]

        await timed(writer.write, fresh()[: min(50, records)], 8)  # warm both paths up
        await timed(baseline, fresh()[: min(50, records)], 8)
        print(
            f"{'conc':>4} | {'protocol/s':>10} {'p50 ms':>8} {'p99 ms':>8} |"
            f" {'baseline/s':>10} {'p50 ms':>8} {'p99 ms':>8} | {'p50 x':>6} {'p99 x':>6}"
            f" {'rate x':>6}"
        )
        for level in levels:
            runs: dict[str, list[dict[str, float]]] = {"protocol": [], "baseline": []}
            for attempt in range(repeat):
                order = [("protocol", writer.write), ("baseline", baseline)]
                for name, write in order if attempt % 2 == 0 else order[::-1]:
                    runs[name].append(await timed(write, fresh(), level))
            p = {
                k: statistics.median(r[k] for r in runs["protocol"]) for k in ("rate", "p50", "p99")
            }
            b = {
                k: statistics.median(r[k] for r in runs["baseline"]) for k in ("rate", "p50", "p99")
            }
            print(
                f"{level:>4} | {p['rate']:>10.1f} {p['p50']:>8.1f} {p['p99']:>8.1f} |"
                f" {b['rate']:>10.1f} {b['p50']:>8.1f} {b['p99']:>8.1f} |"
                f" {p['p50'] / b['p50']:>6.2f} {p['p99'] / b['p99']:>6.2f}"
                f" {p['rate'] / b['rate']:>6.2f}",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=400, help="records per run (400)")
    parser.add_argument("--concurrency", default="1,2,4,8,16,32,64")
    parser.add_argument("--repeat", type=int, default=2, help="runs per level and path (2)")
    parser.add_argument("--dynamodb", choices=("moto", "ddblocal"), default="moto")
    args = parser.parse_args()
    levels = [int(x) for x in args.concurrency.split(",")]
    os.environ.update(local_aws_env())
    with LocalPostgres() as pg, LocalDynamo(args.dynamodb) as dynamo:
        top = max(levels)
        settings = settings_from_dict(
            {
                "postgres": {"dsn": pg.dsn, "pool_size": min(100, top)},
                "dynamodb": {
                    "endpoint_url": dynamo.endpoint_url,
                    "max_concurrency": top,
                    "request_timeout": "60s",
                },
            }
        )
        print(f"PostgreSQL {pg.dsn}; DynamoDB ({dynamo.backend}) {dynamo.endpoint_url}")
        print(f"{args.records} records per run, median of {args.repeat} runs per path")
        anyio.run(bench, settings, args.records, levels, args.repeat)


if __name__ == "__main__":
    main()
