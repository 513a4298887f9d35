"""`dualwrite-monitor preflight`: the seed's phase-1 checklist, every item really executed.

Each item makes harmless real calls and hands the answers to `monitor.core.preflight`, which
decides: DescribeTable and the catalog (tables, keys, indexes), a Query on each index and a
conditional write that must fail its condition (the credentials can do what the writer and the
monitor need, without writing), timed round trips, capacity against the last hour's SQL write
rate, and backups.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from monitor.config import Settings
from monitor.core.item import Attribute
from monitor.core.preflight import (
    Item,
    WantedIndex,
    judge_backups,
    judge_capacity,
    judge_latency,
    judge_sql_table,
    judge_table,
)
from monitor.errors import MonitorError, StoreError
from monitor.runtime import StoreContext
from monitor.setup import sql_indexes
from monitor.stores.ports import TargetProbes
from monitor.stores.postgres import quote_ident, translate_errors

#: Round trips timed per store.
ROUND_TRIPS = 7
#: A key no real record has: the probe write's condition can never hold on it.
PROBE_KEY = "dualwrite-monitor#preflight-probe"


def wanted_indexes(settings: Settings) -> list[WantedIndex]:
    mapping = settings.table_mapping()
    wanted = []
    if mapping.pending_index is not None:
        p = mapping.pending_index
        wanted.append(
            WantedIndex(
                p.name,
                p.partition_key,
                p.sort_key,
                (mapping.key_attribute, mapping.status_attribute),
            )
        )
    for index in settings.checks.quality.indexes:
        wanted.append(WantedIndex(index.name, index.partition_key, index.sort_key))
    return wanted


async def run_preflight(context: StoreContext, *, now: datetime | None = None) -> list[Item]:
    settings = context.settings
    now = now or datetime.now(UTC)
    items: list[Item] = []
    table = await _describe(context)
    if table is None:
        items.append(
            Item("dynamodb_table", False, True, f"table {settings.dynamodb.table} does not exist")
        )
    else:
        m = context.sql.mapping
        items.append(judge_table(table, m.partition_key, m.sort_key, wanted_indexes(settings)))
    items += await _sql_table(context)
    items.append(await _dynamodb_permissions(context, table))
    items.append(await _sql_permissions(context))
    budget_ms = settings.preflight.max_latency.total_seconds() * 1000
    items.append(
        judge_latency(
            "postgres", await _time(lambda: context.sql.pool.fetchval("SELECT 1")), budget_ms
        )
    )
    # ListTables: a round trip that needs no table (the table item says whether it exists).
    items.append(
        judge_latency(
            "dynamodb",
            await _time(lambda: context.dynamo.call("list_tables", reads=False, Limit=1)),
            budget_ms,
        )
    )
    if table is not None:
        rate = await _write_rate(context, now)
        items.append(judge_capacity(table, rate, settings.dynamodb.max_read_units_per_second))
    items.append(await _backups(context))
    return items


async def _describe(context: StoreContext) -> dict[str, object] | None:
    try:
        return await context.dynamo.describe()
    except StoreError:
        return None


async def _sql_table(context: StoreContext) -> list[Item]:
    m = context.sql.mapping
    schema, _, name = m.sql_table.rpartition(".")
    async with translate_errors("reading the catalog"):
        columns = await context.sql.pool.fetch(
            "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass($1)"
            " AND attnum > 0 AND NOT attisdropped",
            quote_ident(m.sql_table),
        )
        indexes = await context.sql.pool.fetch(
            "SELECT indexname FROM pg_indexes WHERE tablename = $1"
            " AND schemaname = coalesce(nullif($2, ''), current_schema())",
            name,
            schema,
        )
    settings = context.settings
    needed = list(
        dict.fromkeys(
            [
                *m.row_columns,
                *(f.column for f in settings.mapping.fields),
                *(f.column for f in settings.checks.quality.fields),
                *([settings.repair.updated_at_column] if settings.repair.updated_at_column else []),
            ]
        )
    )
    return judge_sql_table(
        m.sql_table,
        {r[0] for r in columns},
        needed,
        {r[0] for r in indexes},
        [index_name for index_name, _ in sql_indexes(m)],
    )


async def _dynamodb_permissions(context: StoreContext, table: dict[str, object] | None) -> Item:
    """DescribeTable, a Query on the base table and on each index, and a conditional write
    whose condition cannot hold (it proves PutItem is allowed and writes nothing)."""
    m = context.sql.mapping
    dynamo: TargetProbes = context.dynamo
    calls = ["DescribeTable"] if table is not None else []
    try:
        await dynamo.probe_query(PROBE_KEY)
        calls.append("Query")
        for index in wanted_indexes(context.settings):
            await dynamo.probe_query(PROBE_KEY, index=(index.name, index.partition_key))
            calls.append(f"Query {index.name}")
        probe = {
            m.partition_key: Attribute.string(PROBE_KEY),
            m.sort_key: Attribute.string(PROBE_KEY),
        }
        if await dynamo.put_if_present(probe):
            return Item(
                "dynamodb_permissions",
                False,
                True,
                "the probe write's condition held: the table holds the probe key; remove it",
                {"calls": calls},
            )
        calls.append("PutItem (conditional, refused as it must be)")
    except MonitorError as exc:
        return Item("dynamodb_permissions", False, True, str(exc), {"calls": calls})
    return Item("dynamodb_permissions", True, True, ", ".join(calls), {"calls": calls})


async def _sql_permissions(context: StoreContext) -> Item:
    m = context.sql.mapping
    table = quote_ident(m.sql_table)
    async with translate_errors("checking privileges"):
        exists = await context.sql.pool.fetchval("SELECT to_regclass($1) IS NOT NULL", table)
        granted = (
            await context.sql.pool.fetchrow(
                "SELECT has_table_privilege($1, 'SELECT'), has_table_privilege($1, 'INSERT'),"
                " has_table_privilege($1, 'UPDATE')",
                table,
            )
            if exists
            else None
        )
    if granted is None:
        return Item("postgres_permissions", False, True, f"table {m.sql_table} does not exist")
    names = ("SELECT", "INSERT", "UPDATE")
    missing = [n for n, ok in zip(names, granted[:3], strict=True) if not ok]
    figures = {n: bool(ok) for n, ok in zip(names, granted[:3], strict=True)}
    if missing:
        return Item(
            "postgres_permissions",
            False,
            True,
            f"missing {', '.join(missing)} on {m.sql_table}",
            figures,
        )
    return Item(
        "postgres_permissions", True, True, f"SELECT, INSERT, UPDATE on {m.sql_table}", figures
    )


async def _time(call: Callable[[], Awaitable[object]]) -> list[float]:
    samples = []
    for _ in range(ROUND_TRIPS):
        started = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - started)
    return samples


async def _write_rate(context: StoreContext, now: datetime) -> float:
    m = context.sql.mapping
    sql = (
        f"SELECT count(*) FROM {quote_ident(m.sql_table)}"
        f" WHERE {quote_ident(m.timestamp_column)} >= $1 AND {quote_ident(m.timestamp_column)} < $2"
    )
    async with translate_errors("measuring the write rate"):
        count = await context.sql.pool.fetchval(sql, now - timedelta(hours=1), now)
    return float(count or 0) / 3600


async def _backups(context: StoreContext) -> Item:
    dynamo = context.dynamo
    try:
        answer = await dynamo.call(
            "describe_continuous_backups", reads=False, TableName=dynamo.table
        )
        pitr = (
            answer.get("ContinuousBackupsDescription", {})
            .get("PointInTimeRecoveryDescription", {})
            .get("PointInTimeRecoveryStatus")
        )
    except StoreError:
        pitr = None
    async with translate_errors("reading the archiver status"):
        mode = await context.sql.pool.fetchval("SHOW archive_mode")
        row = await context.sql.pool.fetchrow(
            "SELECT archived_count, failed_count, last_archived_time, last_failed_time"
            " FROM pg_stat_archiver"
        )
    archiver = dict(row) if row is not None else {}
    return judge_backups(pitr, str(mode), archiver, context.settings.preflight.require_backups)
