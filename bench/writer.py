"""The dual writer against a baseline of the same two writes with no protocol, in the same run.

    .venv/bin/python bench/writer.py --records 400 --concurrency 1,4,16,64
    .venv/bin/python bench/writer.py --dynamodb ddblocal --records 2000
    .venv/bin/python bench/writer.py --steps --records 200   # each round trip, concurrency 1

Starts a throwaway PostgreSQL and a local DynamoDB-API server (moto by default), runs `setup`,
then for each concurrency writes `--records` fresh records twice, alternating which goes first:

- **protocol**: `DualWriter.write` (SQL insert as Pending, conditional put as Pending, mark
  Committed in SQL, then in DynamoDB: four round trips);
- **concurrent**: the same protocol with `[writer] commit_marks = "concurrent"` (both commit
  marks at once: three round trips in sequence);
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
from monitor.stores.wire import encode_item
from monitor.writer.dual import TRANSACTION_COLUMN, DualWriter
from monitor.writer.items import default_item
from monitor.writer.records import RecordFactory

Write = Callable[[Mapping[str, Any]], Awaitable[object]]


class Timed:
    """A store wrapped so that each awaited method's duration is recorded under its name."""

    def __init__(self, inner: Any, label: str, into: dict[str, list[float]]) -> None:
        self._inner, self._label, self._into = inner, label, into

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._inner, name)
        if name == "item_key" or not callable(method):
            return method

        async def timed_call(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await method(*args, **kwargs)
            finally:
                step = f"{self._label}.{name}"
                if name in ("set_status", "call"):
                    step += f"({args[0] if name == 'call' else args[3]})"
                self._into.setdefault(step, []).append(time.perf_counter() - started)

        return timed_call


async def steps(settings: Settings, records: int) -> None:
    """Where one write's time goes, at concurrency 1: each round trip of both paths."""
    await run_setup(settings)
    mapping = settings.table_mapping()
    spent: dict[str, list[float]] = {}
    async with (
        PostgresStore.open(settings.postgres, mapping) as sql,
        DynamoStore.open(settings.dynamodb, mapping) as dynamo,
    ):
        tsql, tdynamo = Timed(sql, "sql", spent), Timed(dynamo, "dynamodb", spent)
        writer = DualWriter(tsql, tdynamo, mapping, phase=FixedPhase())
        factory = RecordFactory(seed=99, first_key=10**8)
        for _ in range(records):
            await writer.write(factory.make())
        protocol = {k: v[:] for k, v in spent.items()}
        spent.clear()
        for _ in range(records):
            row = {
                **factory.make(),
                TRANSACTION_COLUMN: "baseline",
                mapping.status_column: mapping.status_values.committed,
            }
            row["updated_at"] = row[mapping.timestamp_column]
            await tsql.insert_pending(row, TRANSACTION_COLUMN)
            await tdynamo.call(
                "put_item",
                reads=False,
                TableName=dynamo.table,
                Item=encode_item(default_item(row, mapping)),
            )
        for title, table in (("protocol", protocol), ("baseline", spent)):
            total = sum(statistics.median(v) for v in table.values())
            print(f"{title}: {total * 1000:.1f} ms of round trips (medians)")
            for step, values in table.items():
                print(f"  {step:<42} {statistics.median(values) * 1000:>7.1f} ms")


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
        overlapped = DualWriter(sql, dynamo, mapping, phase=FixedPhase(), commit_marks="concurrent")

        async def baseline(record: Mapping[str, Any]) -> None:
            row = {
                **record,
                TRANSACTION_COLUMN: "baseline",
                mapping.status_column: mapping.status_values.committed,
                "updated_at": record[mapping.timestamp_column],
            }
            await sql.insert_pending(row, TRANSACTION_COLUMN)
            await dynamo.call(
                "put_item",
                reads=False,
                TableName=dynamo.table,
                Item=encode_item(default_item(row, mapping)),
            )

        keys = iter(range(1, 10**9, records))
        factory_seed = 0

        def fresh() -> list[dict[str, Any]]:
            nonlocal factory_seed
            factory_seed += 1
            factory = RecordFactory(seed=factory_seed, first_key=next(keys))
            return [factory.make() for _ in range(records)]

        paths: list[tuple[str, Write]] = [
            ("protocol", writer.write),
            ("concurrent", overlapped.write),
            ("baseline", baseline),
        ]
        for _, write in paths:  # warm every path up
            await timed(write, fresh()[: min(50, records)], 8)
        print(
            f"{'conc':>4} | {'path':<10} {'rec/s':>7} {'p50 ms':>8} {'p99 ms':>8} |"
            f" {'p50 x':>6} {'p99 x':>6} {'rate x':>6}"
        )
        for level in levels:
            runs: dict[str, list[dict[str, float]]] = {name: [] for name, _ in paths}
            for attempt in range(repeat):
                # Rotate the order, so that no path always runs first (or last).
                shift = attempt % len(paths)
                for name, write in paths[shift:] + paths[:shift]:
                    runs[name].append(await timed(write, fresh(), level))
            medians = {
                name: {k: statistics.median(r[k] for r in rs) for k in ("rate", "p50", "p99")}
                for name, rs in runs.items()
            }
            b = medians["baseline"]
            for name, m in medians.items():
                print(
                    f"{level:>4} | {name:<10} {m['rate']:>7.1f} {m['p50']:>8.1f}"
                    f" {m['p99']:>8.1f} | {m['p50'] / b['p50']:>6.2f} {m['p99'] / b['p99']:>6.2f}"
                    f" {m['rate'] / b['rate']:>6.2f}",
                    flush=True,
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=400, help="records per run (400)")
    parser.add_argument("--concurrency", default="1,2,4,8,16,32,64")
    parser.add_argument("--repeat", type=int, default=3, help="runs per level and path (3)")
    parser.add_argument("--dynamodb", choices=("moto", "ddblocal"), default="moto")
    parser.add_argument(
        "--steps", action="store_true", help="time each round trip at concurrency 1 instead"
    )
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
        if args.steps:
            anyio.run(steps, settings, args.records)
        else:
            anyio.run(bench, settings, args.records, levels, args.repeat)


if __name__ == "__main__":
    main()
