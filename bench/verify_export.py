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
4. the floor: DuckDB only reading both inputs, no join (the export's JSON with the same
   projection, and the snapshot's CSV files, the ones the program COPYed), at the same limit.

It prints keys compared per second (distinct keys in either store / wall time), the ratio to the
floor, the program's own split (COPY, read, compare), and peak RSS against the limit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.config import Settings, settings_from_dict
from monitor.core.mapping import KeyKind
from monitor.local import LocalPostgres
from monitor.setup import DEFAULT_COLUMNS as DEFAULT_DDL
from monitor.setup import SetupResult, setup_postgres
from monitor.stores.pg_snapshot import export_snapshot
from monitor.stores.postgres import PostgresStore
from monitor.verify.export_compare import ExportComparer, Limits
from monitor.verify.export_run import ExportRequest, verify_export
from monitor.verify.export_source import open_local
from tests.export_writer import new_export_folder, write_manifests

BASE = datetime(2025, 1, 1, tzinfo=UTC)
STEP_MS = 250
SERVICES = ("CreditCheckService", "IncomeVerification", "FraudScreen", "KycService", "Payments")
NOT_IN_SQL, NOT_IN_EXPORT, OTHER_STATUS = 10_007, 10_009, 20_011
PAD = "x" * 200


def expected(n: int) -> dict[str, set[int]]:
    keys = range(1, n + 1)
    return {
        "missing_in_dynamodb": {i for i in keys if i % NOT_IN_EXPORT == 0 and i % NOT_IN_SQL},
        "missing_in_sql": {i for i in keys if i % NOT_IN_SQL == 0 and i % NOT_IN_EXPORT},
        "status_divergence": {
            i for i in keys if i % OTHER_STATUS == 0 and i % NOT_IN_SQL and i % NOT_IN_EXPORT
        },
    }


# --- loading -----------------------------------------------------------------------------


LOAD_SQL = f"""
INSERT INTO integration_logs
SELECT i,
       'APP-' || (i % 5000),
       (ARRAY{list(SERVICES)!r})[i % 5 + 1],
       CASE WHEN i % 7 <> 0 THEN 'Response' ELSE 'Error' END,
       timestamptz '2025-01-01 00:00:00+00' + i * interval '{STEP_MS} milliseconds',
       '{{"applicant": "A' || i || '", "amount": ' || i * 10 || ', "pad": "{PAD}"}}',
       '{{"score": ' || i % 900 || '}}',
       CASE WHEN i % 7 <> 0 THEN '200' ELSE '500' END,
       i % 7 <> 0,
       NULL, 20 + i % 300, 'corr-' || i, 'tx-' || i, 'Committed',
       timestamptz '2025-01-01 00:00:00+00' + i * interval '{STEP_MS} milliseconds'
FROM generate_series($1::bigint, $2::bigint) AS i
WHERE i % {NOT_IN_SQL} <> 0
"""


async def load_sql(settings: Settings, n: int) -> None:
    dsn = settings.postgres.dsn.get_secret_value()
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"CREATE TABLE integration_logs ({DEFAULT_DDL})")
        chunk = 1_000_000
        for lo in range(1, n + 1, chunk):
            await conn.execute(LOAD_SQL, lo, min(n, lo + chunk - 1))
        await conn.execute("VACUUM ANALYZE integration_logs")
    finally:
        await conn.close()
    async with PostgresStore.open(settings.postgres, settings.table_mapping()) as pg:
        await setup_postgres(pg, settings, SetupResult())  # the monitor's schema and indexes


def write_part(folder: str, name: str, lo: int, hi: int) -> int:
    """Items lo..hi-1 (less those left out of the export) to one gzipped data file."""
    import gzip

    count = 0
    with gzip.open(Path(folder) / "data" / name, "wt", compresslevel=1) as out:
        for i in range(lo, hi):
            if i % NOT_IN_EXPORT == 0:
                continue
            moment = BASE + timedelta(milliseconds=STEP_MS * i)
            stamp = moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            sk = f"{stamp}#{i}"
            service = SERVICES[i % 5]
            ok = i % 7 != 0
            request = json.dumps(f'{{"applicant": "A{i}", "amount": {i * 10}, "pad": "{PAD}"}}')
            status = "Pending" if i % OTHER_STATUS == 0 else "Committed"
            out.write(
                f'{{"Item":{{"PK":{{"S":"LOG#{service}#{stamp[:10]}"}},"SK":{{"S":"{sk}"}},'
                f'"LogId":{{"N":"{i}"}},"ApplicationId":{{"S":"APP-{i % 5000}"}},'
                f'"ServiceName":{{"S":"{service}"}},'
                f'"LogType":{{"S":"{"Response" if ok else "Error"}"}},'
                f'"LogTimestamp":{{"S":"{stamp}"}},"RequestData":{{"S":{request}}},'
                f'"ResponseData":{{"S":"{{\\"score\\": {i % 900}}}"}},'
                f'"StatusCode":{{"S":"{"200" if ok else "500"}"}},"IsSuccess":{{"BOOL":{str(ok).lower()}}},'
                f'"ProcessingTimeMs":{{"N":"{20 + i % 300}"}},"CorrelationId":{{"S":"corr-{i}"}},'
                f'"TransactionId":{{"S":"tx-{i}"}},"WriteStatus":{{"S":"{status}"}},'
                f'"GSI1PK":{{"S":"APP#APP-{i % 5000}"}},"GSI1SK":{{"S":"{sk}"}}}}}}\n'
            )
            count += 1
    return count


def write_export(root: Path, n: int, files: int, export_time: datetime) -> Path:
    folder, export_id = new_export_folder(root, export_time)
    edges = [1 + n * k // files for k in range(files)] + [n + 1]
    names = [f"part{k:04d}.json.gz" for k in range(files)]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 2, mp_context=context) as pool:
        counts = list(pool.map(write_part, [str(folder)] * files, names, edges[:-1], edges[1:]))
    write_manifests(
        folder, list(zip(names, counts, strict=True)), export_id=export_id, export_time=export_time
    )
    return folder


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


def run_program(settings: Settings, folder: Path, n: int) -> tuple[float, int, dict[str, Any]]:
    with peak_rss() as peak:
        started = time.perf_counter()
        report = asyncio.run(verify_export(settings, ExportRequest(str(folder))))
        wall = time.perf_counter() - started
    found: dict[str, set[int]] = {}
    for f in report.findings:
        found.setdefault(str(f.kind), set()).add(int(f.key))
    want = {k: v for k, v in expected(n).items() if v}
    assert found == want, {k: (len(found.get(k, ())), len(v)) for k, v in want.items()}
    return wall, peak[0], report.summary


def run_floor(settings: Settings, folder: Path, work: Path, limit: str) -> tuple[float, float]:
    """(seconds, peak RSS) of DuckDB only reading the export and the snapshot files."""
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
    comparer = ExportComparer(mapping, KeyKind.NUMBER, Limits(limit, work / "floor-duckdb"))
    try:
        with peak_rss() as peak:
            started = time.perf_counter()
            files = "[" + ", ".join(f"'{p}'" for p in export.data_paths) + "]"
            paths = "['/Item/PK/S', '/Item/SK/S', '/Item/LogId/N', '/Item/WriteStatus/S']"
            comparer.con.execute(
                f"SELECT count(v[1]), count(v[2]), count(v[3]), count(v[4]) FROM ("
                f"SELECT json_extract_string(json, {paths}) AS v FROM read_json_objects("
                f"{files}, format='newline_delimited', compression='gzip'))"
            ).fetchall()
            csvs = "[" + ", ".join(f"'{p}'" for p in snapshot.files) + "]"
            comparer.con.execute(
                f"SELECT count(key), count(status), count(pk), count(sk) FROM read_csv({csvs}, header=false,"
                " columns={'key': 'HUGEINT', 'status': 'VARCHAR', 'pk': 'VARCHAR', 'sk': 'VARCHAR'},"
                " allow_quoted_nulls=false, auto_detect=false)"
            ).fetchall()
            wall = time.perf_counter() - started
    finally:
        comparer.close()
        shutil.rmtree(snapshot_dir, ignore_errors=True)
    return wall, peak[0]


def mb(value: float) -> str:
    return f"{value / 2**20:,.0f} MB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=16, help="export data files")
    parser.add_argument("--memory-limit", default="2GB", help="[verify] export_memory_limit")
    parser.add_argument("--spill-limit", default="", help="a second run at this (smaller) limit")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    n = args.records
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench-verify-export-"))
    work.mkdir(parents=True, exist_ok=True)
    pg = LocalPostgres()
    pg.start()
    try:
        dsn = pg.create_database("bench")
        export_time = BASE + timedelta(milliseconds=STEP_MS * (n + 1)) + timedelta(minutes=3)

        def settings_at(limit: str) -> Settings:
            return settings_from_dict(
                {
                    "postgres": {"dsn": dsn, "statement_timeout": "30m"},
                    "verify": {"export_memory_limit": limit, "export_temp_dir": str(work / "tmp")},
                }
            )

        settings = settings_at(args.memory_limit)
        t0 = time.perf_counter()
        asyncio.run(load_sql(settings, n))
        t1 = time.perf_counter()
        folder = write_export(work / "exports", n, args.files, export_time)
        t2 = time.perf_counter()
        size = sum(p.stat().st_size for p in (folder / "data").iterdir())
        print(
            f"records {n:,}: PostgreSQL loaded in {t1 - t0:.0f} s; export written in {t2 - t1:.0f} s"
            f" ({args.files} files, {mb(size)} gzipped)"
        )
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")

        keys = n  # distinct keys in either store: every generated key is in one or both
        rows = []
        wall, peak, summary = run_program(settings, folder, n)
        rows.append((f"program @ {args.memory_limit}", wall, peak, summary["seconds"]))
        if args.spill_limit:
            wall_s, peak_s, summary_s = run_program(settings_at(args.spill_limit), folder, n)
            rows.append((f"program @ {args.spill_limit}", wall_s, peak_s, summary_s["seconds"]))
        floor, floor_peak = run_floor(settings, folder, work, args.memory_limit)
        print(f"load average after: {os.getloadavg()[0]:.1f}")
        print()
        print(
            f"{'run':<22} {'wall s':>8} {'keys/s':>12} {'x floor':>8} {'peak RSS':>10}  split (s)"
        )
        for label, seconds, rss, split in rows:
            print(
                f"{label:<22} {seconds:>8.1f} {keys / seconds:>12,.0f} {seconds / floor:>8.2f}"
                f" {mb(rss):>10}  {json.dumps(split)}"
            )
        print(
            f"{'floor (read only)':<22} {floor:>8.1f} {keys / floor:>12,.0f} {1.0:>8.2f} {mb(floor_peak):>10}"
        )
        duck = sum(rows[0][3].get(k, 0) for k in ("read_export", "read_snapshot", "compare"))
        print(
            f"DuckDB part of the program: {duck:.1f} s = {duck / floor:.2f} x the floor;"
            f" snapshot COPY {rows[0][3].get('snapshot', 0):.1f} s"
        )
    finally:
        pg.close()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
