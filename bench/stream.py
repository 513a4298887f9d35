"""Benchmark continuous verification: the stream verifier under the generator's traffic.

    .venv/bin/python bench/stream.py --rates 500,2000 --duration 30s
    .venv/bin/python bench/stream.py --rates 500 --postgres      # the SQL direction too

For each rate: throwaway PostgreSQL + a DynamoDB-API server (moto by default), `setup`, then
`dualwrite-monitor generate --rate R --faults light` in a child process (its CPU is not the
verifier's) while `StreamService` runs here. Printed per rate:

- the rate the generator achieved (the busy machine may not sustain the one asked for: said);
- lag (`dualwrite.stream.lag`): median and max, sampled every 500 ms, and how long after the
  last write every change was verified (drain);
- CPU of this process per 1,000 verified records, next to the floor measured in the same run:
  the same stream read bare (raw aiobotocore GetRecords from TRIM_HORIZON, no parsing, no
  judging) — ratio = verifier / floor;
- DynamoDB table requests per verified record on the stream direction (DescribeTable once;
  target 0), and BatchGetItem requests with `--postgres`;
- p50/p99 detection latency of the generator's faults against `grace`;
- recall against the generator's truth file (faults the stream can see).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
from aiobotocore.session import get_session

from monitor.config import Settings, parse_duration, settings_from_dict
from monitor.core.stats import percentile
from monitor.local import LocalDynamo, LocalPostgres, local_aws_env
from monitor.runtime import StoreContext as CheckContext
from monitor.runtime import open_context
from monitor.setup import run_setup
from monitor.stores.postgres import quote_ident
from monitor.stores.stream_state import StreamState
from monitor.stores.wire import encode_item
from monitor.stream.service import StreamService
from monitor.writer.bulk import copy_rows, put_items
from monitor.writer.items import default_item
from monitor.writer.records import RecordFactory

GRACE = "5s"


def settings_for(dsn: str, endpoint: str, *, postgres: bool, slot: str) -> dict[str, Any]:
    return {
        "postgres": {"dsn": dsn, "pool_size": 8},
        "dynamodb": {"endpoint_url": endpoint, "request_timeout": "30s"},
        "writer": {"concurrency": 64, "retry_delay": "1ms"},
        "stream": {
            "enabled": True,
            "grace": GRACE,
            "start_at": "trim_horizon",
            "poll_interval": "200ms",
            "postgres": postgres,
            "slot": slot,
            "status_findings": 1000,
        },
    }


def toml_of(data: dict[str, Any]) -> str:
    lines = []
    for section, values in data.items():
        lines.append(f"[{section}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


async def floor_cpu(settings: Settings, arn: str) -> tuple[float, int]:
    """CPU seconds to read the whole stream bare, and the records read."""
    session: Any = get_session()
    started, records = time.process_time(), 0
    async with session.create_client(
        "dynamodbstreams", endpoint_url=settings.dynamodb.endpoint_url, region_name="us-east-1"
    ) as client:
        shards = (await client.describe_stream(StreamArn=arn))["StreamDescription"]["Shards"]
        for shard in shards:
            iterator = (
                await client.get_shard_iterator(
                    StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
                )
            )["ShardIterator"]
            while iterator:
                page = await client.get_records(ShardIterator=iterator, Limit=1000)
                records += len(page["Records"])
                if not page["Records"]:
                    break
                iterator = page.get("NextShardIterator")
    return time.process_time() - started, records


def all_verified(service: StreamService, grace: float) -> bool:
    """Reading caught up and nothing left waiting, in either direction."""
    lag, buffer, side = service.lag_seconds(), service.buffer, service.sql_side
    return (
        lag is not None
        and lag < grace + 2
        and buffer is not None
        and len(buffer) == 0
        and (side is None or side.waiting == 0)
    )


async def one_rate(
    settings: Settings,
    config: Path,
    rate: int,
    duration: str,
    workdir: Path,
    backlog: int,
    faults: str = "light",
) -> dict[str, Any]:
    await run_setup(settings)
    truth = workdir / f"truth-{rate}.jsonl"
    env = {**os.environ, **local_aws_env()}
    command = [
        sys.executable, "-m", "monitor", "generate", "--config", str(config),
        "--rate", str(rate), "--duration", duration, "--faults", faults,
        "--truth", str(truth), "--seed", "7",
    ]  # fmt: skip
    async with open_context(settings) as context:

        async def get() -> CheckContext:
            return context

        service = StreamService(settings, get)
        lags: list[float] = []
        cpu0, wall0 = time.process_time(), time.monotonic()
        requests0 = context.dynamo.requests
        async with anyio.create_task_group() as group:
            group.start_soon(service.run)
            log = (workdir / f"generate-{rate}.log").open("wb")
            generator = await anyio.open_process(
                command, env=env, stdout=subprocess.DEVNULL, stderr=log
            )
            while generator.returncode is None:
                with anyio.move_on_after(0.5):
                    await generator.wait()
                lag = service.lag_seconds()
                if lag is not None:
                    lags.append(lag)
            ended = time.monotonic()
            log.close()
            if generator.returncode != 0:
                tail = (workdir / f"generate-{rate}.log").read_text()[-500:]
                raise RuntimeError(f"generate failed: {tail}")

            grace = parse_duration(GRACE).total_seconds()
            with anyio.move_on_after(120):
                while not all_verified(service, grace):  # noqa: ASYNC110 - polled, as sampled
                    await anyio.sleep(0.5)
            drain = time.monotonic() - ended
            group.cancel_scope.cancel()
        cpu = time.process_time() - cpu0
        wall = time.monotonic() - wall0
        assert service.verifier is not None and service.arn is not None
        verified = service.verifier.verified + (
            service.sql_side.verified if service.sql_side is not None else 0
        )
        table_requests = context.dynamo.requests - requests0
        await bulk_load(settings, context, backlog)
        floor, floor_records = await floor_cpu(settings, service.arn)
        capacity = await backlog_capacity(settings, context, service.arn, floor_records)
    lines = [json.loads(line) for line in truth.read_text().splitlines()]
    summary = lines[-1]["summary"]
    # Only the SQL direction sees a crash after the SQL insert (no DynamoDB change at all).
    unseen = set() if settings.stream.postgres else {"crash_after_sql"}
    expected = {
        (f["expect"], f["key"]["log_id"])
        for f in lines[:-1]
        if f["expect"] and f["fault"] not in unseen
    }
    assert service.reporter is not None
    found = {(str(f.finding.kind), f.finding.key) for f in service.reporter.recent}
    latencies = sorted((f.found_at - f.changed_at).total_seconds() for f in service.reporter.recent)
    # From the write (the record's own timestamp, set as the generator makes it): the stream's
    # record time is rounded down (DynamoDB Local: to the minute), so it says little there.
    written_at = await write_times(settings, [f.finding.key for f in service.reporter.recent])
    from_write = sorted(
        (f.found_at - written_at[f.finding.key]).total_seconds()
        for f in service.reporter.recent
        if f.finding.key in written_at
    )
    return {
        "rate": rate,
        "achieved": summary.get("achieved_rate")
        or summary["written"] / parse_duration(duration).total_seconds(),
        "written": summary["written"],
        "verified": verified,
        "lag_p50": statistics.median(lags) if lags else None,
        "lag_max": max(lags) if lags else None,
        "drain": drain,
        "cpu_per_1000": 1000 * cpu / max(verified, 1),
        "floor_per_1000": 1000 * floor / max(floor_records, 1),
        "table_requests": table_requests,
        "reads_per_record": table_requests / max(verified, 1),
        "latency_p50": percentile(latencies, 0.5) if latencies else None,
        "latency_p99": percentile(latencies, 0.99) if latencies else None,
        "write_latency_p50": percentile(from_write, 0.5) if from_write else None,
        "write_latency_p99": percentile(from_write, 0.99) if from_write else None,
        "recall": len(expected & found) / max(len(expected), 1),
        "false": len(found - expected),
        "false_kinds": dict(Counter(kind for kind, _ in found - expected)),
        "write_ms": summary.get("latency_ms", {}),
        "wall": wall,
        **capacity,
    }


async def write_times(settings: Settings, keys: list[Any]) -> dict[Any, Any]:
    """The SQL timestamp of each of these records (the time it was made), by key."""
    mapping = settings.table_mapping()
    key, at = quote_ident(mapping.key_column), quote_ident(mapping.timestamp_column)
    async with open_context(settings) as context:
        rows = await context.sql.pool.fetch(
            f"SELECT {key}, {at} FROM {quote_ident(mapping.sql_table)} WHERE {key} = ANY($1)",
            [k for k in keys if isinstance(k, int)],
        )
    return {row[0]: row[1] for row in rows}


async def bulk_load(settings: Settings, context: CheckContext, count: int) -> int:
    """`count` committed records in both stores at once (COPY, BatchWriteItem): a backlog of
    stream records larger than the generator can write on a busy machine."""
    mapping = context.sql.mapping
    factory = RecordFactory(seed=99, first_key=10**12)
    rows = []
    for _ in range(count):
        row = factory.make()
        row |= {
            mapping.status_column: mapping.status_values.committed,
            "transaction_id": "bulk",
            "updated_at": row[mapping.timestamp_column],
        }
        rows.append(row)
    await copy_rows(context.sql.pool, mapping.sql_table, list(rows[0]), rows)
    items = [encode_item(default_item(row, mapping)) for row in rows]
    await put_items(context.dynamo.client, settings.dynamodb.table, items)
    return count


class GetRecordsTimer:
    """Wall time spent waiting for GetRecords (the server's share of the backlog run)."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def wrap(self, client: Any) -> Any:
        timer = self

        class Timed:
            def __getattr__(self, name: str) -> Any:
                method = getattr(client, name)
                if name != "get_records":
                    return method

                async def call(**params: Any) -> Any:
                    started = time.monotonic()
                    try:
                        return await method(**params)
                    finally:
                        timer.seconds += time.monotonic() - started

                return call

        return Timed()


async def backlog_capacity(
    settings: Settings, context: CheckContext, arn: str, records: int
) -> dict[str, Any]:
    """The verifier's own speed: the whole stream verified again from TRIM_HORIZON, as fast as
    it goes (positions and findings forgotten first; grace 1 ms: everything is due)."""
    state = StreamState(context.sql.pool, settings.postgres.state_schema)
    await state.forget_stream(arn)
    await context.sql.pool.execute(f"DELETE FROM {state.schema}.stream_findings")
    stream = settings.stream.model_copy(update={"grace": parse_duration("1ms"), "postgres": False})
    fast = settings.model_copy(update={"stream": stream})

    async def get() -> CheckContext:
        return context

    timing = GetRecordsTimer()
    service = StreamService(fast, get, wrap_client=timing.wrap)
    cpu0, wall0 = time.process_time(), time.monotonic()
    async with anyio.create_task_group() as group:
        group.start_soon(service.run)
        with anyio.move_on_after(300):
            while not (  # noqa: ASYNC110 - polled
                service.reader is not None
                and service.reader.records_read >= records
                and all_verified(service, 0.0)
            ):
                await anyio.sleep(0.05)
        group.cancel_scope.cancel()
    verified = 0 if service.verifier is None else service.verifier.verified
    read = 0 if service.reader is None else service.reader.records_read
    seconds = time.monotonic() - wall0
    return {
        "backlog_records": read,
        "backlog_verified": verified,
        "backlog_per_s": read / max(seconds, 1e-9),
        "backlog_cpu_per_1000": 1000 * (time.process_time() - cpu0) / max(read, 1),
        "backlog_get_records_share": timing.seconds / max(seconds, 1e-9),
        "backlog_judged_per_s": verified / max(seconds - timing.seconds, 1e-9),
    }


def show(row: dict[str, Any], grace: float) -> None:
    def f(value: float | None, digits: int = 2) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    print(
        f"rate {row['rate']}/s asked, {f(row['achieved'], 0)}/s achieved"
        f" ({row['written']} written, {row['verified']} verified)\n"
        f"  lag p50 {f(row['lag_p50'])}s max {f(row['lag_max'])}s; all verified"
        f" {f(row['drain'])}s after the last write\n"
        f"  CPU per 1,000 verified {f(row['cpu_per_1000'] * 1000, 1)} ms; floor (bare GetRecords)"
        f" {f(row['floor_per_1000'] * 1000, 1)} ms per 1,000 records;"
        f" ratio {f(row['cpu_per_1000'] / max(row['floor_per_1000'], 1e-9), 1)}x\n"
        f"  DynamoDB table requests {row['table_requests']}"
        f" ({f(row['reads_per_record'], 4)} per verified record)\n"
        f"  detection latency from the record's stream time p50 {f(row['latency_p50'])}s"
        f" p99 {f(row['latency_p99'])}s, from the write p50 {f(row['write_latency_p50'])}s"
        f" p99 {f(row['write_latency_p99'])}s (grace {grace:.0f}s); recall {f(row['recall'] * 100, 1)} %, false findings"
        f" {row['false']} {row['false_kinds'] or ''}; the generator's writes took p50"
        f" {row['write_ms'].get('p50', '-')} ms, p99 {row['write_ms'].get('p99', '-')} ms\n"
        f"  backlog: {row['backlog_records']} stream records ({row['backlog_verified']} records"
        f" after coalescing) verified again at {f(row['backlog_per_s'], 0)} stream records/s,"
        f" CPU {f(row['backlog_cpu_per_1000'] * 1000, 1)} ms per 1,000"
        f" (a write is 2 stream records: keeps up with {f(row['backlog_per_s'] / 2, 0)}"
        " writes/s);\n  of that wall time GetRecords waited"
        f" {f(row['backlog_get_records_share'] * 100, 0)} %; judging alone ran at"
        f" {f(row['backlog_judged_per_s'], 0)} records/s",
        flush=True,
    )


@contextmanager
def moto_process() -> Iterator[str]:
    """moto in its own process: its CPU (serving the generator too) is not the verifier's."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("moto_server did not start") from None
                time.sleep(0.1)
        yield endpoint
    finally:
        server.terminate()
        server.wait(10)


def reset_moto(endpoint: str) -> None:
    request = urllib.request.Request(endpoint + "/moto-api/reset", b"", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass


@contextmanager
def dynamo_server(backend: str) -> Iterator[tuple[str, Callable[[], None]]]:
    """The DynamoDB-API server in its own process, and how to empty it between rates."""
    if backend == "moto":
        with moto_process() as endpoint:
            yield endpoint, lambda: reset_moto(endpoint)
        return
    with LocalDynamo("ddblocal") as server:
        yield server.endpoint_url, server.reset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="500,2000")
    parser.add_argument("--duration", default="30s")
    parser.add_argument("--postgres", action="store_true", help="the SQL direction too")
    parser.add_argument(
        "--backlog", type=int, default=20000, help="records bulk-loaded for the capacity run"
    )
    parser.add_argument(
        "--faults", default="light", help="the generator's fault profile (heavy: more findings)"
    )
    parser.add_argument(
        "--backend",
        choices=["moto", "ddblocal"],
        default="moto",
        help="the DynamoDB-API server: moto, or AWS DynamoDB Local (java, installed on first use)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # stream.finding events are counted, not shown
    os.environ.update(local_aws_env())
    with (
        tempfile.TemporaryDirectory() as tmp,
        LocalPostgres() as pg,
        dynamo_server(args.backend) as (endpoint, reset),
    ):
        print(f"PostgreSQL {pg.dsn}; DynamoDB ({args.backend}, own process) {endpoint}")
        for index, rate in enumerate(int(r) for r in args.rates.split(",")):
            dsn = pg.create_database(f"bench{index}")
            data = settings_for(dsn, endpoint, postgres=args.postgres, slot=f"b{index}")
            config = Path(tmp) / f"config{index}.toml"
            config.write_text(toml_of(data))
            settings = settings_from_dict(data)
            row = anyio.run(
                one_rate,
                settings,
                config,
                rate,
                args.duration,
                Path(tmp),
                args.backlog,
                args.faults,
            )
            show(row, parse_duration(GRACE).total_seconds())
            reset()


if __name__ == "__main__":
    main()
