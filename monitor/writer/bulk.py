"""Fast bulk loading for the demo, the tests and the benchmarks.

PostgreSQL: COPY (`copy_records_to_table`). DynamoDB: BatchWriteItem of 25 with bounded
concurrency, `UnprocessedItems` retried until written. Not the dual writer: this writes each
store directly so that scenarios can put a record in one store only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import anyio
import asyncpg

from monitor.config import Settings
from monitor.stores.aws_session import new_session

BATCH_WRITE_LIMIT = 25


async def load(
    settings: Settings,
    columns: Sequence[str],
    rows: Iterable[Mapping[str, Any]],
    items: Sequence[Mapping[str, Any]],
) -> None:
    """Rows into the mapped SQL table by COPY, wire-format items into the DynamoDB table."""
    conn = await asyncpg.connect(settings.postgres.dsn.get_secret_value())
    try:
        await copy_rows(conn, settings.table_mapping().sql_table, columns, rows)
    finally:
        await conn.close()
    async with new_session().create_client(
        "dynamodb",
        region_name=settings.dynamodb.region,
        endpoint_url=settings.dynamodb.endpoint_url,
    ) as client:
        await put_items(client, settings.dynamodb.table, items)


async def copy_rows(
    conn: asyncpg.Connection | asyncpg.Pool,
    table: str,
    columns: Sequence[str],
    rows: Iterable[Mapping[str, Any]],
) -> int:
    records = [tuple(row.get(c) for c in columns) for row in rows]
    schema, _, name = table.rpartition(".")
    await conn.copy_records_to_table(
        name, records=records, columns=list(columns), schema_name=schema or None
    )
    return len(records)


async def put_items(
    client: Any, table: str, items: Sequence[Mapping[str, Any]], *, concurrency: int = 8
) -> int:
    limiter = anyio.CapacityLimiter(concurrency)

    async def write(chunk: Sequence[Mapping[str, Any]]) -> None:
        pending: dict[str, Any] = {table: [{"PutRequest": {"Item": item}} for item in chunk]}
        async with limiter:
            for attempt in range(50):
                response = await client.batch_write_item(RequestItems=pending)
                pending = response.get("UnprocessedItems") or {}
                if not pending:
                    return
                await anyio.sleep(min(1.0, 0.01 * 2**attempt))
        raise RuntimeError(f"BatchWriteItem left {len(pending[table])} items unwritten")

    async with anyio.create_task_group() as group:
        for start in range(0, len(items), BATCH_WRITE_LIMIT):
            group.start_soon(write, items[start : start + BATCH_WRITE_LIMIT])
    return len(items)
