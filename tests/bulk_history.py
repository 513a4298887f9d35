"""N records of the default model, in PostgreSQL and in a DynamoDB export, with divergence
planted over the whole history: what the export bench (`bench/verify_export.py`) and the export
memory test share.

PostgreSQL is loaded with one `INSERT ... SELECT generate_series` per million rows (5 services,
one record every 250 ms from 2025-01-01, ~300-byte request payloads), then the monitor's
schema and indexes; the export is written by DuckDB in the documented layout (gzipped DynamoDB
JSON lines with every attribute and the GSI keys, manifests with each file's `md5Checksum`).
About 1 key in 10,007 is left out of SQL, 1 in 10,009 out of the export, and 1 in 20,011 has
another status in the export.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import duckdb

from monitor.config import Settings
from monitor.setup import DEFAULT_COLUMNS as DEFAULT_DDL
from monitor.setup import SetupResult, setup_postgres
from monitor.stores.postgres import PostgresStore
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
    # The load's dirty pages written now, not by the checkpointer while the program runs (its
    # CPU seconds count PostgreSQL's).
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()


ITEM_SQL = """
WITH r AS (
    SELECT i, strftime(TIMESTAMP '2025-01-01' + to_milliseconds({step} * i), '%Y-%m-%dT%H:%M:%S.%fZ')
        AS stamp, ({services})[i % 5 + 1] AS svc, i % 7 <> 0 AS ok
    FROM range({lo}, {hi}) AS t(i) WHERE i % {not_in_export} <> 0
)
SELECT '{{"Item":{{"PK":{{"S":"LOG#' || svc || '#' || stamp[1:10] || '"}},"SK":{{"S":"' || stamp
    || '#' || i || '"}},"LogId":{{"N":"' || i || '"}},"ApplicationId":{{"S":"APP-' || (i % 5000)
    || '"}},"ServiceName":{{"S":"' || svc || '"}},"LogType":{{"S":"'
    || CASE WHEN ok THEN 'Response' ELSE 'Error' END || '"}},"LogTimestamp":{{"S":"' || stamp
    || '"}},"RequestData":{{"S":"{{\\"applicant\\": \\"A' || i || '\\", \\"amount\\": ' || (i * 10)
    || ', \\"pad\\": \\"{pad}\\"}}"}},"ResponseData":{{"S":"{{\\"score\\": ' || (i % 900)
    || '}}"}},"StatusCode":{{"S":"' || CASE WHEN ok THEN '200' ELSE '500' END
    || '"}},"IsSuccess":{{"BOOL":' || CASE WHEN ok THEN 'true' ELSE 'false' END
    || '}},"ProcessingTimeMs":{{"N":"' || (20 + i % 300) || '"}},"CorrelationId":{{"S":"corr-' || i
    || '"}},"TransactionId":{{"S":"tx-' || i || '"}},"WriteStatus":{{"S":"'
    || CASE WHEN i % {other_status} = 0 THEN 'Pending' ELSE 'Committed' END
    || '"}},"GSI1PK":{{"S":"APP#APP-' || (i % 5000) || '"}},"GSI1SK":{{"S":"' || stamp || '#' || i
    || '"}}}}}}' AS line
FROM r ORDER BY i
"""


def write_export(root: Path, n: int, files: int, export_time: datetime) -> Path:
    """The export's data files, written by DuckDB (one line per item, as AWS writes them).

    Each line is the item of the SQL row with the same key (every attribute, the GSI keys),
    less the planted divergence; DuckDB writes 10M lines in minutes where Python took most of
    an hour on this machine.
    """
    folder, export_id = new_export_folder(root, export_time)
    edges = [1 + n * k // files for k in range(files)] + [n + 1]
    names = [f"part{k:04d}.json.gz" for k in range(files)]
    con = duckdb.connect()
    services = "[" + ", ".join(f"'{s}'" for s in SERVICES) + "]"
    counts = []
    for name, lo, hi in zip(names, edges, edges[1:], strict=False):
        query = ITEM_SQL.format(
            step=STEP_MS,
            services=services,
            lo=lo,
            hi=hi,
            pad=PAD,
            not_in_export=NOT_IN_EXPORT,
            other_status=OTHER_STATUS,
        )
        con.execute(
            f"COPY ({query}) TO '{folder / 'data' / name}' (FORMAT csv, HEADER false,"
            " QUOTE '', ESCAPE '', DELIMITER '\x01', COMPRESSION gzip)"
        )
        counts.append(hi - lo - ((hi - 1) // NOT_IN_EXPORT - (lo - 1) // NOT_IN_EXPORT))
    con.close()
    write_manifests(
        folder, list(zip(names, counts, strict=True)), export_id=export_id, export_time=export_time
    )
    return folder
