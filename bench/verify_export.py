"""Benchmark `verify --from-export` end to end against its floor, measured in the same run.

    .venv/bin/python bench/verify_export.py --records 1000000
    .venv/bin/python bench/verify_export.py --records 10000000 --memory-limit 2GB --spill-limit 512MB

What it does:

1. starts a throwaway PostgreSQL, creates the default table and loads N records of the default
   model (5 services, one every 250 ms from 2025-01-01, ~300-byte request payloads) with one
   `INSERT ... SELECT generate_series`, then builds the monitor's indexes;
2. writes an export of the same records in the documented layout (gzipped DynamoDB JSON lines,
   all the item's attributes and its GSI keys, manifests), in child processes; about 1 key in
   10,007 is left out of SQL, 1 in 10,009 out of the export, and 1 in 20,011 has another status
   in the export: the planted divergence, spread over the whole history;
3. the program: `verify_export` as the CLI runs it (snapshot COPY, DuckDB read, join), at
   `--memory-limit` and again at `--spill-limit` (a limit the join does not fit in, so it
   spills); its report must name exactly the planted keys. Peak RSS is sampled every 50 ms;
4. the floor, from the program's real inputs: the fastest bare read of the table out of
   PostgreSQL (a sweep of COPY text/CSV/binary, one or two streams, asyncpg or psql, to
   nowhere), run alone, then the fastest ones beside and after DuckDB reading the export's
   lines with the program's projection (no join), as the program runs its COPY beside or after
   that read (`[verify] export_overlap`);
5. for reference only, the old floor: DuckDB reading the export's lines and the snapshot's CSV
   files the program COPYed (it never pays for getting the rows out of PostgreSQL).

It prints keys compared per second (distinct keys in either store / wall time), the ratio to the
floor (the fastest real-input variant), the program's own split (COPY, read, compare), and peak
RSS against the limit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import asyncpg
import duckdb
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import postgres_children, postgres_cpu  # type: ignore[import-not-found]  # bench/ is the script's own folder

from monitor.collector import pace_collector
from monitor.config import Settings, settings_from_dict
from monitor.local import LocalPostgres
from monitor.stores.pg_snapshot import (
    BlockRange,
    export_snapshot,
    raw_key_columns,
    raw_key_sql,
    split_blocks,
    table_pages,
)
from monitor.stores.postgres import quote_ident
from monitor.verify.export_command import EVENT_LOOP
from monitor.verify.export_lines import export_lines
from monitor.verify.export_run import ExportRequest, verify_export
from monitor.verify.export_source import open_local
from tests.bulk_history import BASE, STEP_MS, expected, load_sql, write_export

# --- measuring ---------------------------------------------------------------------------


@contextmanager
def peak_rss() -> Iterator[list[int]]:
    """Samples this process's RSS every 50 ms; the list holds the peak when the block ends."""
    peak = [0]
    stop = threading.Event()
    process = psutil.Process()

    def sample() -> None:
        while not stop.wait(0.05):
            peak[0] = max(peak[0], process.memory_info().rss)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield peak
    finally:
        stop.set()
        thread.join()


def pg_cpu(pg: LocalPostgres, keep: set[int] | None = None) -> float:
    """CPU seconds PostgreSQL has used so far, its exited backends' included (`postgres_cpu`)."""
    return postgres_cpu(_postmaster(pg), keep)


def pg_processes(pg: LocalPostgres) -> set[int]:
    return postgres_children(_postmaster(pg))


def _postmaster(pg: LocalPostgres) -> psutil.Process:
    return psutil.Process(int((pg.data_dir / "postmaster.pid").read_text().split()[0]))


def run_program(
    settings: Settings, folder: Path, n: int, pg: LocalPostgres
) -> tuple[float, float, int, dict[str, Any]]:
    """(wall s, CPU s of this process and PostgreSQL, peak RSS, summary) of one CLI run."""
    with peak_rss() as peak:
        keep = pg_processes(pg)
        started, cpu, pg_before = time.perf_counter(), time.process_time(), pg_cpu(pg)
        request = ExportRequest(str(folder))
        report = anyio.run(verify_export, settings, request, backend_options=EVENT_LOOP)
        wall = time.perf_counter() - started
        cpu = time.process_time() - cpu + pg_cpu(pg, keep) - pg_before
    found: dict[str, set[int]] = {}
    for f in report.findings:
        found.setdefault(str(f.kind), set()).add(int(f.key))
    want = {k: v for k, v in expected(n).items() if v}
    assert found == want, {k: (len(found.get(k, ())), len(v)) for k, v in want.items()}
    return wall, cpu, peak[0], report.summary


#: The floor's variants: (how the export's lines are read, DuckDB threads).
FLOOR_VARIANTS = (("lines", 2), ("lines", 4), ("objects", 2), ("lines", 1))


def run_floors(
    settings: Settings, folder: Path, work: Path, limit: str, variants: list[tuple[str, int]]
) -> list[tuple[str, float, float, int]]:
    """(variant, wall s, CPU s, peak RSS) of DuckDB only reading the export and the snapshot.

    The same projection as the program (partition key, sort key, key, status of each line, one
    multi-path `json_extract_string`), counted, not joined; the snapshot's CSV files as the
    program reads them. Each variant in a fresh in-memory database at the same limit.
    """
    mapping = settings.table_mapping()
    snapshot_dir = work / "floor-sql"
    snapshot = asyncio.run(
        export_snapshot(
            settings.postgres,
            mapping,
            snapshot_dir,
            start=None,
            end=datetime(2100, 1, 1, tzinfo=UTC),
        )
    )
    export = asyncio.run(open_local(folder))
    paths = PROJECTION
    csvs = "[" + ", ".join(f"'{p}'" for p in snapshot.files) + "]"
    files = "[" + ", ".join(f"'{p}'" for p in export.data_paths) + "]"
    readers = {
        "lines": lines_sql(export.data_paths),
        "objects": f"SELECT json_extract_string(json, {paths}) AS v FROM read_json_objects("
        f"{files}, format='newline_delimited', compression='gzip')",
    }
    out = []
    try:
        for reader, threads in variants:
            con = duckdb.connect()
            con.execute(f"SET memory_limit = '{limit}'")
            con.execute(f"SET threads = {threads}")
            con.execute("SET preserve_insertion_order = false")
            with peak_rss() as peak:
                started, cpu = time.perf_counter(), time.process_time()
                con.execute(
                    f"SELECT count(v[1]), count(v[2]), count(v[3]), count(v[4]) FROM ({readers[reader]})"
                ).fetchall()
                con.execute(
                    f"SELECT count(key), count(status), count(pk), count(sk) FROM read_csv({csvs},"
                    " header=false, columns={'key': 'HUGEINT', 'status': 'VARCHAR', 'pk': 'VARCHAR',"
                    " 'sk': 'VARCHAR'}, allow_quoted_nulls=false, auto_detect=false)"
                ).fetchall()
                wall, cpu = time.perf_counter() - started, time.process_time() - cpu
            con.close()
            out.append((f"files: {reader} {threads}t + snapshot CSV", wall, cpu, peak[0]))
            print(f"  {out[-1][0]}: {wall:.1f} s, {cpu:.1f} CPU s", flush=True)
    finally:
        shutil.rmtree(snapshot_dir, ignore_errors=True)
    return out


# --- the floor from the real inputs: the table read out of PostgreSQL -------------------------

#: Bare reads of the table out of PostgreSQL: (client, COPY format, streams).
PG_READS = (
    *(
        (client, fmt, streams)
        for client in ("asyncpg", "psql")
        for fmt in ("text", "csv", "binary")
        for streams in (1, 2)
    ),
    ("asyncpg-file", "csv", 2),  # asyncpg writing the files itself (a thread per buffer)
    ("program", "csv", 2),  # the program's snapshot (`export_snapshot`), for reference
)


def bare_copy_sql(settings: Settings, blocks: BlockRange | None) -> str:
    """The program's projection of the table (key, status, the templates' raw columns), no
    snapshot, no time filter, a stream's pages inlined: the barest read of its rows."""
    mapping = settings.table_mapping()
    select = [quote_ident(mapping.key_column), quote_ident(mapping.status_column)]
    select += [raw_key_sql(mapping, c) for c in raw_key_columns(mapping)]
    sql = f"SELECT {', '.join(select)} FROM {quote_ident(mapping.sql_table)}"
    if blocks is not None:
        first, stop = blocks
        pages = [f"ctid >= '({int(first)},0)'::tid"]
        pages += [] if stop is None else [f"ctid < '({int(stop)},0)'::tid"]
        sql += " WHERE " + " AND ".join(pages)
    return sql


async def _block_ranges(settings: Settings, streams: int) -> list[BlockRange | None]:
    """The streams' pages of the table, as the program splits them (`split_blocks`)."""
    if streams == 1:
        return [None]
    table = quote_ident(settings.table_mapping().sql_table)
    conn = await asyncpg.connect(settings.postgres.dsn.get_secret_value())
    try:
        pages = await table_pages(conn, table)
    finally:
        await conn.close()
    return list(split_blocks(pages, streams))


async def bare_pg_read(settings: Settings, client: str, fmt: str, streams: int) -> int:
    """COPY the program's projection out of PostgreSQL to nowhere; the bytes received."""
    if client == "program":  # the program's own snapshot: CSV files, through its writer
        out = Path(tempfile.mkdtemp(prefix="bench-snapshot-"))
        try:
            await export_snapshot(
                settings.postgres,
                settings.table_mapping(),
                out,
                start=None,
                end=datetime(2100, 1, 1, tzinfo=UTC),
                streams=streams,
                render_keys=False,
            )
        finally:
            shutil.rmtree(out, ignore_errors=True)
        return 0
    ranges = await _block_ranges(settings, streams)
    dsn = settings.postgres.dsn.get_secret_value()
    received = [0]

    async def one(blocks: BlockRange | None) -> None:
        copy = f"COPY ({bare_copy_sql(settings, blocks)}) TO STDOUT (FORMAT {fmt})"
        if client == "psql":
            # psql writes straight into /dev/null; its CPU is counted as this process's child's.
            await asyncio.to_thread(
                subprocess.run,
                ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-c", copy],
                stdout=subprocess.DEVNULL,
                check=True,
            )
            return
        conn = await asyncpg.connect(dsn)

        async def sink(data: bytes) -> None:
            received[0] += len(data)

        # "asyncpg-file": to a file, as the program writes its snapshot (a thread per write).
        to_file = Path(tempfile.gettempdir()) / f"bench-copy-{os.getpid()}-{id(blocks)}"
        output: Any = to_file if client == "asyncpg-file" else sink
        try:
            await conn.copy_from_query(bare_copy_sql(settings, blocks), output=output, format=fmt)
        finally:
            await conn.close()
            to_file.unlink(missing_ok=True)

    await asyncio.gather(*(one(r) for r in ranges))
    return received[0]


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@contextmanager
def cpu_of_all(pg: LocalPostgres) -> Iterator[list[float]]:
    """CPU seconds of this process, its waited children (psql) and PostgreSQL, over the block."""
    spent = [0.0]
    keep = pg_processes(pg)
    before = time.process_time() + children_cpu() + pg_cpu(pg)
    try:
        yield spent
    finally:
        spent[0] = time.process_time() + children_cpu() + pg_cpu(pg, keep) - before


def read_export_lines(paths: list[Path], limit: str, threads: int) -> None:
    """DuckDB reading the export's lines with the program's projection, counted, not joined."""
    con = duckdb.connect()
    try:
        con.execute(f"SET memory_limit = '{limit}'")
        con.execute(f"SET threads = {threads}")
        con.execute("SET preserve_insertion_order = false")
        con.execute(
            f"SELECT count(v[1]), count(v[2]), count(v[3]), count(v[4]) FROM ({lines_sql(paths)})"
        ).fetchall()
    finally:
        con.close()


#: The program's projection of each line: partition key, sort key, key, status (one parse).
PROJECTION = "['/Item/PK/S', '/Item/SK/S', '/Item/LogId/N', '/Item/WriteStatus/S']"


def lines_sql(paths: list[Path]) -> str:
    return f"SELECT json_extract_string(line, {PROJECTION}) AS v FROM {export_lines(paths)}"


def run_pg_reads(
    settings: Settings, pg: LocalPostgres, reads: list[tuple[str, str, int]]
) -> list[tuple[str, float, float]]:
    """(variant, wall s, CPU s) of each bare read of the table, alone."""
    out = []
    for client, fmt, streams in reads:
        with cpu_of_all(pg) as cpu:
            started = time.perf_counter()
            asyncio.run(bare_pg_read(settings, client, fmt, streams))
            wall = time.perf_counter() - started
        out.append((f"{client} COPY {fmt}, {streams} stream(s)", wall, cpu[0]))
        print(
            f"  PostgreSQL read alone, {out[-1][0]}: {wall:.1f} s, {cpu[0]:.1f} CPU s", flush=True
        )
    return out


#: One real-input floor variant: (client, format, streams, DuckDB threads, at once).
RealFloor = tuple[str, str, int, int, bool]


def run_real_floor(
    settings: Settings, pg: LocalPostgres, paths: list[Path], limit: str, variant: RealFloor
) -> tuple[str, float, float, int]:
    """(label, wall s, CPU s, peak RSS) of the real inputs read as the program reads them
    (`[verify] export_overlap`): a bare read of the table out of PostgreSQL beside DuckDB
    reading the export's lines, or the one after the other."""
    client, fmt, streams, count, at_once = variant

    async def sql() -> None:
        await bare_pg_read(settings, client, fmt, streams)

    async def lines() -> None:
        await asyncio.to_thread(read_export_lines, paths, limit, count)

    async def both() -> None:
        if at_once:
            await asyncio.gather(sql(), lines())
        else:  # each coroutine made only when it runs: a failed read leaves none unawaited
            await lines()
            await sql()

    with peak_rss() as peak, cpu_of_all(pg) as cpu:
        started = time.perf_counter()
        asyncio.run(both())
        wall = time.perf_counter() - started
    how = "+" if at_once else "then"
    return f"real: lines {count}t {how} {client} {fmt} x{streams}", wall, cpu[0], peak[0]


def run_real_floors(
    settings: Settings,
    pg: LocalPostgres,
    paths: list[Path],
    limit: str,
    reads: list[tuple[str, str, int]],
    threads: list[int],
) -> list[tuple[RealFloor, tuple[str, float, float, int]]]:
    """Every real-input floor variant of these reads and thread counts, at once and not."""
    out = []
    for client, fmt, streams in reads:
        for count in threads:
            for at_once in (True, False):
                variant = (client, fmt, streams, count, at_once)
                row = run_real_floor(settings, pg, paths, limit, variant)
                out.append((variant, row))
                print(f"  floor {row[0]}: {row[1]:.1f} s, {row[2]:.1f} CPU s", flush=True)
    return out


def run_rounds(
    rounds: int,
    program: Callable[[], tuple[float, float]],
    floor: Callable[[], tuple[float, float]],
) -> None:
    """The program and the floor one after the other, `rounds` times: each round's ratio is of
    two runs minutes apart at most, so a machine whose speed drifts between runs (a shared
    host) moves both; the median ratio is the figure."""
    ratios, cpu_ratios = [], []
    print(
        f"\n{'round':<6} {'program s':>9} {'CPU s':>6} {'floor s':>8} {'CPU s':>6} {'x floor':>7}"
        f" {'CPU x':>6}  load"
    )
    for i in range(rounds):
        wall, cpu = program()
        floor_wall, floor_cpu = floor()
        ratios.append(wall / floor_wall)
        cpu_ratios.append(cpu / floor_cpu)
        print(
            f"{i + 1:<6} {wall:>9.1f} {cpu:>6.1f} {floor_wall:>8.1f} {floor_cpu:>6.1f}"
            f" {ratios[-1]:>7.2f} {cpu_ratios[-1]:>6.2f}  {os.getloadavg()[0]:.1f}",
            flush=True,
        )
    print(
        f"median of {rounds} rounds: {statistics.median(ratios):.2f} x floor"
        f" (CPU {statistics.median(cpu_ratios):.2f} x); range {min(ratios):.2f}-{max(ratios):.2f}"
    )


def mb(value: float) -> str:
    return f"{value / 2**20:,.0f} MB"


def main() -> int:
    pace_collector()  # as the CLI does: the program and its floor run under it
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=16, help="export data files")
    parser.add_argument("--memory-limit", default="2GB", help="[verify] export_memory_limit")
    parser.add_argument("--spill-limit", default="", help="a second run at this (smaller) limit")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="keep the loaded data set (PostgreSQL's cluster, the export) in this folder and"
        " reuse it when records and files match",
    )
    parser.add_argument(
        "--load-only", action="store_true", help="load the data set (into --data-dir) and stop"
    )
    parser.add_argument(
        "--floor",
        default=",".join(f"{r}:{t}" for r, t in FLOOR_VARIANTS),
        help="reference floor variants (the export and the program's snapshot CSV files, no"
        " PostgreSQL read), reader:threads (reader: lines or objects)",
    )
    parser.add_argument(
        "--pg-reads",
        default=",".join(f"{c}:{f}:{n}" for c, f, n in PG_READS),
        help="bare reads of the table out of PostgreSQL to sweep, client:format:streams"
        " (client: asyncpg or psql; format: text, csv or binary)",
    )
    parser.add_argument(
        "--real-threads", default="1,2", help="DuckDB threads of the real-input floor's read"
    )
    parser.add_argument(
        "--real-top", type=int, default=2, help="the fastest N PostgreSQL reads tried beside DuckDB"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=0,
        help="then the program and the floor's fastest variant alternately, N times (the"
        " median ratio: steadier on a host whose speed drifts)",
    )
    args = parser.parse_args()
    n = args.records
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench-verify-export-"))
    work.mkdir(parents=True, exist_ok=True)
    kept = None if args.data_dir is None else args.data_dir / f"export-{n}-files-{args.files}-v1"
    marker = None if kept is None else kept / "loaded.json"
    loaded = marker is not None and marker.exists()
    if kept is not None and not loaded:
        shutil.rmtree(kept, ignore_errors=True)  # an interrupted load is loaded again
        kept.mkdir(parents=True)
    pg = LocalPostgres(keep=None if kept is None else kept / "postgres")
    pg.start()
    try:
        dsn = pg.dsn_for("bench") if loaded else pg.create_database("bench")
        export_time = BASE + timedelta(milliseconds=STEP_MS * (n + 1)) + timedelta(minutes=3)

        def settings_at(limit: str) -> Settings:
            return settings_from_dict(
                {
                    "postgres": {"dsn": dsn, "statement_timeout": "30m"},
                    "verify": {"export_memory_limit": limit, "export_temp_dir": str(work / "tmp")},
                }
            )

        settings = settings_at(args.memory_limit)
        if loaded:
            assert marker is not None
            folder = Path(json.loads(marker.read_text())["export"])
            print(f"reusing the data set kept in {kept}")
        else:
            t0 = time.perf_counter()
            asyncio.run(load_sql(settings, n))
            t1 = time.perf_counter()
            folder = write_export((kept or work) / "exports", n, args.files, export_time)
            t2 = time.perf_counter()
            print(
                f"records {n:,}: PostgreSQL loaded in {t1 - t0:.0f} s; export written in"
                f" {t2 - t1:.0f} s"
            )
            if marker is not None:
                marker.write_text(json.dumps({"export": str(folder)}))
        size = sum(p.stat().st_size for p in (folder / "data").iterdir())
        print(f"export: {args.files} files, {mb(size)} gzipped")
        if args.load_only:
            return 0
        if loaded:  # a restarted server: the table read once, untimed, as after a load
            asyncio.run(bare_pg_read(settings, "psql", "text", 1))
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")

        keys = n  # distinct keys in either store: every generated key is in one or both
        rows = []
        wall, cpu, peak, summary = run_program(settings, folder, n, pg)
        rows.append((f"program @ {args.memory_limit}", wall, cpu, peak, summary["seconds"]))
        print(f"  program: {wall:.1f} s, {cpu:.1f} CPU s", flush=True)
        if args.spill_limit:
            wall, cpu, peak, summary = run_program(settings_at(args.spill_limit), folder, n, pg)
            rows.append((f"program @ {args.spill_limit}", wall, cpu, peak, summary["seconds"]))
            print(f"  program (spilling): {wall:.1f} s, {cpu:.1f} CPU s", flush=True)
        variants = [(r, int(t)) for r, t in (v.split(":") for v in args.floor.split(","))]
        files_only = run_floors(settings, folder, work, args.memory_limit, variants)
        sweep = [(c, f, int(k)) for c, f, k in (v.split(":") for v in args.pg_reads.split(","))]
        alone = run_pg_reads(settings, pg, sweep)
        # The floor's candidates read to nowhere; the file-writing variants are references.
        fastest = [
            sweep[i]
            for i, _ in sorted(enumerate(alone), key=lambda a: a[1][1])
            if sweep[i][0] in ("asyncpg", "psql")
        ]
        paths = list(asyncio.run(open_local(folder)).data_paths)
        threads = [int(t) for t in args.real_threads.split(",")]
        real = run_real_floors(
            settings, pg, paths, args.memory_limit, fastest[: args.real_top], threads
        )
        print(f"load average after: {os.getloadavg()[0]:.1f}")
        print()
        best, floor = min(real, key=lambda f: f[1][1])
        floor_wall, floor_cpu = floor[1], min(f[1][2] for f in real)
        print(
            f"{'run':<48} {'wall s':>7} {'keys/s':>10} {'x floor':>7} {'CPU s':>6} {'x floor':>7}"
            f" {'peak RSS':>9}  split (s)"
        )
        for label, seconds, used, rss, split in rows:
            print(
                f"{label:<48} {seconds:>7.1f} {keys / seconds:>10,.0f} {seconds / floor_wall:>7.2f}"
                f" {used:>6.1f} {used / floor_cpu:>7.2f} {mb(rss):>9}  {json.dumps(split)}"
            )
        for label, seconds, used, rss in [*(row for _, row in real), *files_only]:
            print(
                f"{label:<48} {seconds:>7.1f} {keys / seconds:>10,.0f} {seconds / floor_wall:>7.2f}"
                f" {used:>6.1f} {used / floor_cpu:>7.2f} {mb(rss):>9}"
            )
        for label, seconds, used in alone:
            print(f"{'PostgreSQL alone: ' + label:<48} {seconds:>7.1f} {'':>18} {used:>6.1f}")
        print(
            f"floor = the fastest variant reading the real inputs ({floor[0]}): DuckDB reading the"
            " export's lines while (+) or before (then) the table is COPYed out of PostgreSQL to"
            ' nowhere; CPU s count this process, its psql children and PostgreSQL. "files:" rows'
            " are a reference only: they read the snapshot CSV files the program wrote, not"
            " PostgreSQL."
        )
        if args.rounds:

            def program() -> tuple[float, float]:
                return run_program(settings, folder, n, pg)[:2]

            def bare() -> tuple[float, float]:
                return run_real_floor(settings, pg, paths, args.memory_limit, best)[1:3]

            print(f"\nrounds: the program against the floor ({floor[0]}), one after the other")
            run_rounds(args.rounds, program, bare)
    finally:
        pg.close()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
