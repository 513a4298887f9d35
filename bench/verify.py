"""Benchmark `verify --from --until` against the I/O floor measured in the same run.

    .venv/bin/python bench/verify.py --records 200000

The data set is `bench/counts.py`'s (5 services, one day, records over 20 h, ~300-byte
payloads, 0.1 % of the keys left out of each side, `--divergence`), loaded in a child process
into a throwaway PostgreSQL (COPY) and DynamoDB Local (BatchWriteItem). Then:

1. the floor: the bare read of the same items (sliced `SK BETWEEN` Queries projecting LogId and
   WriteStatus with raw aiobotocore, concurrently with one asyncpg key stream), swept over slice
   size and concurrency after an untimed warm-up; the floor is the fastest median found;
2. the program: `verify_online` over the day in 1 h windows (24 windows, one shard per window),
   as the CLI runs it, each run a new run of the range (a completed run is never reused): one
   untimed warm-up, then `--repeat` runs at its defaults and a sweep of slice size and
   concurrency. The report must name exactly the dropped keys (asserted);
3. the read budget: one run capped at `--cap` read units per second, its consumed units per
   second against the cap;
4. with `--workers 1,2,4`: the range verified by that many worker processes at once, sharing
   one run's shards through their advisory locks (each process opens its stores, then all
   start together), each a new run; wall time from the first start to the last finish, and the
   speed-up against one worker process measured the same way in the same run. Every worker's
   report must name exactly the dropped keys of the whole range (asserted in the worker).

Records/s are the window's records over wall time; peak RSS of this process is sampled every
50 ms (the load ran in a child). The partition values are configured (`[mapping]
partition_values`), so no discovery Scan runs: DynamoDB Local's small heap does not survive one
at this size, and `counts.py` measures discovery.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import statistics
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import anyio
from common import (  # type: ignore[import-not-found]  # bench/ is the script's own folder
    DEFAULT_KNOBS,
    Knobs,
    Meter,
    Result,
    add_sweep_arguments,
    ints,
    mb,
    print_floor_sweep,
    print_sweep,
    profiled,
    sweep_program,
)
from counts import (  # type: ignore[import-not-found]
    NOW,
    SERVICES,
    TABLE,
    WINDOW,
    dropped_keys,
    on_loaded_servers,
)
from counts import verify as assert_findings

from monitor.collector import pace_collector
from monitor.config import Settings, VerifySettings, settings_from_dict
from monitor.local import local_aws_env
from monitor.runtime import open_context
from monitor.verify.online import VerifyRequest, verify_online

#: The program's defaults: `check counts`' two knobs and `[verify] windows_in_flight`.
VERIFY_DEFAULTS = Knobs(
    DEFAULT_KNOBS.slice_records, DEFAULT_KNOBS.concurrency, VerifySettings().windows_in_flight
)


def verify_settings(dsn: str, endpoint: str, knobs: Knobs, cap: float = 1e9) -> Settings:
    return settings_from_dict(
        {
            "postgres": {"dsn": dsn, "pool_size": max(8, knobs.concurrency)},
            "dynamodb": {
                "endpoint_url": endpoint,
                "table": TABLE,
                "max_read_units_per_second": cap,
                "max_concurrency": knobs.concurrency,
            },
            "mapping": {"partition_values": {"service_name": list(SERVICES)}},
            "checks": {"counts": {"slice_records": knobs.slice_records}},
            "verify": {
                "window": "1h",
                "shard_windows": 1,
                "windows_in_flight": knobs.windows or VERIFY_DEFAULTS.windows,
            },
        }
    )


async def run_verify(
    dsn: str, endpoint: str, knobs: Knobs, meter: Meter, n: int, result: Result, cap: float = 1e9
) -> dict[str, Any]:
    settings = verify_settings(dsn, endpoint, knobs, cap)
    drop_sql, drop_dynamo = dropped_keys(n)
    request = VerifyRequest(now=NOW, start=WINDOW.start, until=WINDOW.end)
    async with open_context(settings) as context:
        with meter.measure() as sample:
            report = await verify_online(context, request)
    assert_findings(report, n, drop_sql, drop_dynamo)
    coverage = report.summary["coverage"]
    assert coverage["windows_done"] == coverage["windows_total"] == 24, coverage
    assert coverage["windows_resumed"] == 0, coverage
    result.runs.append(sample)
    result.read_units.append(float(report.summary["read_units"]))
    return dict(report.summary)


# --- worker processes sharing one run -------------------------------------------------------------


@dataclass(frozen=True)
class WorkerRun:
    started: float
    finished: float
    #: Windows this worker verified itself (the others were its peers').
    own_windows: int


def worker(dsn: str, endpoint: str, knobs: Knobs, n: int, name: str, ready: Any) -> WorkerRun:
    """One worker process: open the stores, wait for every peer, verify the whole range."""
    pace_collector()
    os.environ.update(local_aws_env())
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return anyio.run(_worker, dsn, endpoint, knobs, n, name, ready)


async def _worker(
    dsn: str, endpoint: str, knobs: Knobs, n: int, name: str, ready: Any
) -> WorkerRun:
    settings = verify_settings(dsn, endpoint, knobs)
    drop_sql, drop_dynamo = dropped_keys(n)
    request = VerifyRequest(now=NOW, start=WINDOW.start, until=WINDOW.end)
    async with open_context(settings) as context:
        await anyio.to_thread.run_sync(ready.wait)
        started = time.time()
        report = await verify_online(context, request, worker=name)
        finished = time.time()
    assert_findings(report, n, drop_sql, drop_dynamo)
    coverage = report.summary["coverage"]
    assert coverage["windows_done"] == coverage["windows_total"] == 24, coverage
    return WorkerRun(started, finished, 24 - int(coverage["windows_resumed"]))


def run_workers(dsn: str, endpoint: str, knobs: Knobs, n: int, count: int) -> list[WorkerRun]:
    spawn = multiprocessing.get_context("spawn")
    with spawn.Manager() as manager, ProcessPoolExecutor(count, mp_context=spawn) as pool:
        ready = manager.Barrier(count + 1)
        futures = [
            pool.submit(worker, dsn, endpoint, knobs, n, f"worker-{i}", ready) for i in range(count)
        ]
        ready.wait()  # every worker has its stores open: start together
        return [f.result() for f in futures]


async def measure_workers(
    args: argparse.Namespace, dsn: str, endpoint: str
) -> dict[int, list[list[WorkerRun]]]:
    out: dict[int, list[list[WorkerRun]]] = {}
    for count in args.workers:
        out[count] = []
        for _ in range(args.repeat):
            runs = await anyio.to_thread.run_sync(
                run_workers, dsn, endpoint, VERIFY_DEFAULTS, args.records, count
            )
            out[count].append(runs)
            wall = shared_wall(runs)
            shares = "/".join(str(r.own_windows) for r in runs)
            print(f"  {count} worker(s): {wall:6.2f}s (windows each: {shares})", flush=True)
    return out


def shared_wall(runs: Sequence[WorkerRun]) -> float:
    return max(r.finished for r in runs) - min(r.started for r in runs)


def print_workers(n: int, grid: dict[int, list[list[WorkerRun]]]) -> None:
    walls = {count: statistics.median(shared_wall(r) for r in runs) for count, runs in grid.items()}
    one = walls.get(1)
    print(f"worker processes sharing one run's shards ({VERIFY_DEFAULTS} each):")
    print(
        f"  {'workers':>7} {'wall':>8} {'records/s':>10} {'speed-up':>9}  windows each (last run)"
    )
    for count, wall in walls.items():
        speed = f"{one / wall:8.2f}x" if one else f"{'-':>9}"
        shares = "/".join(str(r.own_windows) for r in grid[count][-1])
        print(f"  {count:>7} {wall:7.2f}s {n / wall:>10,.0f} {speed}  {shares}")
    print(
        "  wall: median, first start to last finish; speed-up: against 1 worker process of this"
        " run. Each process has its own read budget and max_concurrency."
    )


async def measure(
    args: argparse.Namespace, dsn: str, endpoint: str, meter: Meter
) -> dict[str, Any]:
    n = args.records
    out: dict[str, Any] = {}
    await run_verify(dsn, endpoint, VERIFY_DEFAULTS, meter, n, Result(VERIFY_DEFAULTS))  # warm-up
    steady = Result(VERIFY_DEFAULTS)
    for _ in range(args.repeat):
        out["summary"] = await run_verify(dsn, endpoint, VERIFY_DEFAULTS, meter, n, steady)
    out["steady"] = steady
    print(f"verify, defaults ({VERIFY_DEFAULTS}): {steady.wall:.2f}s", flush=True)
    out["best"], out["grid"] = await sweep_program(
        args,
        lambda knobs, result: run_verify(dsn, endpoint, knobs, meter, n, result),
        "verify",
    )
    if args.profile:
        print("one run at the defaults under cProfile (this process's CPU by function):")
        await profiled(
            lambda: run_verify(dsn, endpoint, VERIFY_DEFAULTS, meter, n, Result(VERIFY_DEFAULTS))
        )
    if args.cap:
        capped = Result(VERIFY_DEFAULTS)
        await run_verify(dsn, endpoint, VERIFY_DEFAULTS, meter, n, capped, cap=args.cap)
        out["capped"] = capped
    if args.workers:
        out["workers"] = await measure_workers(args, dsn, endpoint)
    return out


def print_table(n: int, out: dict[str, Any], args: argparse.Namespace) -> None:
    floor: Result = out["floor"]
    print()
    print(f"records          {n:,} in the range (one day, 5 partitions, 24 windows of 1 h)")
    print()
    print_floor_sweep(out["floor_grid"])
    print()
    rows = [
        ("floor (best of the sweep)", floor),
        *([("floor, no capacity asked", out["bare_floor"])] if "bare_floor" in out else []),
        ("verify, defaults", out["steady"]),
        ("verify, its best setting", out["best"]),
    ]
    print(
        f"{'':26} {'setting':>44} {'wall':>8} {'records/s':>10} {'ratio':>6} {'cpu':>7}"
        f" {'cpu x':>6} {'RSS':>7}  cpu monitor/java/postgres/foreign"
    )
    for name, result in rows:
        print(
            f"{name:26} {str(result.knobs):>44} {result.wall:7.2f}s {n / result.wall:>10,.0f}"
            f" {result.wall / floor.wall:6.2f} {result.cpu:6.1f}s {result.cpu / floor.cpu:6.2f}"
            f" {mb(result.peak_rss):>7}  {result.parties()}s"
        )
    if "bare_floor" in out:
        bare: Result = out["bare_floor"]
        steady: Result = out["steady"]
        print(
            f"verify, defaults, against the floor that asks for no capacity:"
            f" {steady.wall / bare.wall:.2f} (cpu {steady.cpu / bare.cpu:.2f})"
        )
    summary = out["summary"]
    print(
        f"slices settled by checksum alone: {summary['slices_equal_by_checksum']:,} of"
        f" {summary['slices']:,}; read units per run {summary['read_units']:,.0f}"
    )
    if "capped" in out:
        capped: Result = out["capped"]
        rate = statistics.median(capped.read_units) / capped.wall
        print(
            f"capped at {args.cap:,.0f} RU/s: {capped.wall:.2f}s, {rate:,.0f} RU/s consumed"
            f" ({rate / args.cap:.3f} of the cap, over the run's whole wall time)"
        )
    print()
    print_sweep("verify sweep (one run each)", out["grid"], floor)
    print(
        "wall: medians; ratio: against the floor of this run; cpu: CPU seconds of monitor +"
        " java + postgres; cpu x: against the floor's; foreign: CPU of everything else on the"
        " machine meanwhile; RSS: this process's peak"
    )
    if "workers" in out:
        print()
        print_workers(n, out["workers"])


def main(argv: Sequence[str] | None = None) -> int:
    pace_collector()  # as the CLI does: the program and its floor run under it
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=200_000, help="records in the range")
    add_sweep_arguments(
        parser,
        sweep_slices=[250, 500, 1000, 2000],
        sweep_concurrency=[4, 8, 16],
        program_slices=[500, 1000, 2000],
    )
    parser.add_argument(
        "--program-windows",
        type=ints,
        default=[VERIFY_DEFAULTS.windows],
        help="[verify] windows_in_flight values of the program sweep, e.g. 1,4,8",
    )
    parser.add_argument("--cap", type=float, default=0.0, help="also one run at this RU/s cap")
    parser.add_argument(
        "--profile", action="store_true", help="also one run at the defaults under cProfile"
    )
    parser.add_argument(
        "--workers",
        type=ints,
        default=[],
        help="also worker processes sharing one run, e.g. 1,2,4 (speed-up against the 1)",
    )
    # counts.py's floor warms a Scan up unless told not to; verify sends no Scan.
    parser.set_defaults(cold_scan=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    os.environ.update(local_aws_env())
    n = args.records
    _, out = on_loaded_servers(
        args, lambda dsn, endpoint: verify_settings(dsn, endpoint, VERIFY_DEFAULTS), measure
    )
    if out:
        print_table(n, out, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
