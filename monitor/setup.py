"""`dualwrite-monitor setup`: the default tables, their indexes and the monitor's schema.

For development and demos. Idempotent: a second run changes nothing and says so. The data
tables are created only for the default data model (CONTRACT §1); for another team's table the
monitor's schema is created and the indexes the checks rely on are printed, not applied —
the monitor does not alter a table it was asked to watch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from monitor.config import Settings
from monitor.core.mapping import TableMapping
from monitor.core.sqlnames import index_names, quote_literal
from monitor.errors import StoreError, StoreUnavailable
from monitor.migration.history import start_development_phase
from monitor.stores.dynamodb import DynamoStore, TableNotFound
from monitor.stores.logical import LogicalSlot
from monitor.stores.postgres import PostgresStore, execute_one, quote_ident, translate_errors
from monitor.stores.state import StateStore
from monitor.stream.table import STREAM_VIEW, StreamNotReady, stream_arn

DEFAULT_COLUMNS = """
    log_id bigint PRIMARY KEY,
    application_id text NOT NULL,
    service_name text NOT NULL,
    log_type text NOT NULL,
    log_timestamp timestamptz NOT NULL,
    request_data text,
    response_data text,
    status_code text,
    is_success boolean NOT NULL,
    error_message text,
    processing_time_ms integer,
    correlation_id text,
    transaction_id text,
    write_status text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
"""

#: Secondary indexes of the default DynamoDB table: the seed's read patterns plus pending.
DEFAULT_GSIS = (
    ("ByApplication", "GSI1PK", "GSI1SK"),
    ("ErrorsByDate", "GSI2PK", "GSI2SK"),
)


@dataclass
class SetupResult:
    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    advice: list[str] = field(default_factory=list)


def is_default_model(mapping: TableMapping) -> bool:
    return (
        mapping.key_column == "log_id"
        and mapping.timestamp_column == "log_timestamp"
        and mapping.status_column == "write_status"
        and set(mapping.partition_template.columns) <= {"service_name", "log_timestamp"}
    )


def sql_indexes(mapping: TableMapping) -> list[tuple[str, str]]:
    """(name, DDL) of the indexes the checks rely on, for any mapping: one statement each."""
    table = quote_ident(mapping.sql_table)
    names = index_names(mapping.sql_table)
    ts = quote_ident(mapping.timestamp_column)
    partition = [quote_ident(c) for c in mapping.partition_columns]
    status = quote_ident(mapping.status_column)
    pending = quote_literal(mapping.status_values.pending)
    return [
        # Slices: WHERE partition = $1 AND ts range -> an index range scan.
        (
            names["slice"],
            f"CREATE INDEX IF NOT EXISTS {quote_ident(names['slice'])} ON {table}"
            f" ({', '.join([*partition, ts])})",
        ),
        # Window counts grouped by partition: an index-only scan on the time range.
        (
            names["window"],
            f"CREATE INDEX IF NOT EXISTS {quote_ident(names['window'])} ON {table}"
            f" ({', '.join([ts, *partition])})",
        ),
        # Orphans: cost proportional to what is pending, not to the table.
        (
            names["pending"],
            f"CREATE INDEX IF NOT EXISTS {quote_ident(names['pending'])} ON {table} ({ts})"
            f" WHERE {status} = {pending}",
        ),
    ]


async def setup_postgres(pg: PostgresStore, settings: Settings, result: SetupResult) -> None:
    mapping = pg.mapping
    state = StateStore(pg.pool, settings.postgres.state_schema)
    ran = await state.migrate()
    target = f"schema {settings.postgres.state_schema}"
    (result.created if ran else result.existing).append(target)
    table = quote_ident(mapping.sql_table)
    if not is_default_model(mapping):
        result.advice += [ddl + ";" for _, ddl in sql_indexes(mapping)]
        return
    async with translate_errors("creating the default table"), pg.pool.acquire() as conn:
        exists = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", mapping.sql_table)
        if "." in mapping.sql_table:
            schema = quote_ident(mapping.sql_table.split(".")[0])
            await execute_one(conn, f"CREATE SCHEMA IF NOT EXISTS {schema}")
        await execute_one(conn, f"CREATE TABLE IF NOT EXISTS {table} ({DEFAULT_COLUMNS})")
        (result.existing if exists else result.created).append(f"table {mapping.sql_table}")
        for name, ddl in sql_indexes(mapping):
            had = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", _qualify(mapping, name))
            await execute_one(conn, ddl)
            (result.existing if had else result.created).append(f"index {name}")


def _qualify(mapping: TableMapping, name: str) -> str:
    schema = mapping.sql_table.split(".")[0] if "." in mapping.sql_table else None
    return f"{schema}.{name}" if schema else name


def dynamodb_table_definition(mapping: TableMapping, table: str) -> dict[str, Any]:
    indexes = [(name, pk, sk, "ALL") for name, pk, sk in DEFAULT_GSIS]
    if mapping.pending_index is not None:
        p = mapping.pending_index
        indexes.append((p.name, p.partition_key, p.sort_key, "PENDING"))
    attributes = {mapping.partition_key, mapping.sort_key}
    gsis = []
    for name, pk, sk, projection in indexes:
        attributes |= {pk, sk}
        if projection == "PENDING":
            # The orphans check needs the key and status of each pending item, nothing more.
            spec: dict[str, Any] = {
                "ProjectionType": "INCLUDE",
                "NonKeyAttributes": [
                    mapping.key_attribute,
                    mapping.status_attribute,
                    mapping.partition_key,
                    mapping.sort_key,
                ],
            }
        else:
            spec = {"ProjectionType": "ALL"}
        gsis.append(
            {
                "IndexName": name,
                "KeySchema": [
                    {"AttributeName": pk, "KeyType": "HASH"},
                    {"AttributeName": sk, "KeyType": "RANGE"},
                ],
                "Projection": spec,
            }
        )
    return {
        "TableName": table,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": a, "AttributeType": "S"} for a in sorted(attributes)
        ],
        "KeySchema": [
            {"AttributeName": mapping.partition_key, "KeyType": "HASH"},
            {"AttributeName": mapping.sort_key, "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": gsis,
        # Continuous verification reads it ([stream] enabled); enabling it costs nothing unread.
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": STREAM_VIEW},
    }


async def dynamodb_indexes(dynamo: DynamoStore) -> set[str] | None:
    """The table's index names, None when it does not exist. Any other error (no credentials,
    no permission, unreachable) is raised: `setup` checks this before changing anything."""
    try:
        return await dynamo.index_names()
    except TableNotFound:
        return None


async def setup_slot(pg: PostgresStore, settings: Settings, result: SetupResult) -> None:
    """[stream] postgres: the publication of the watched table and the logical slot."""
    config = settings.stream
    slot = LogicalSlot(pg.pool, config.slot, config.publication)
    level = await slot.wal_level()
    if level != "logical":
        result.advice.append(
            f"[stream] postgres needs wal_level = logical (it is {level}): set it in"
            " postgresql.conf, restart PostgreSQL, then run setup again"
        )
        return
    try:
        made = await slot.create(pg.mapping.sql_table)
    except StoreError as exc:
        result.advice.append(
            f"[stream] postgres: could not create the publication and slot ({exc.reason});"
            f" as a user with the REPLICATION privilege: CREATE PUBLICATION {config.publication}"
            f" FOR TABLE {pg.mapping.sql_table}; SELECT pg_create_logical_replication_slot("
            f"'{config.slot}', 'pgoutput');"
        )
        return
    result.created += made
    if not made:
        result.existing.append(f"logical replication slot {config.slot}")
    if config.replica_identity_full:
        table = pg.mapping.sql_table
        try:
            changed = await slot.replica_identity_full(table)
        except StoreError as exc:
            result.advice.append(
                f"[stream] replica_identity_full: could not set it ({exc.reason}); as the"
                f" table's owner: ALTER TABLE {table} REPLICA IDENTITY FULL;"
            )
            return
        (result.created if changed else result.existing).append(f"replica identity full on {table}")


async def setup_dynamodb(
    dynamo: DynamoStore, result: SetupResult, present: set[str] | None, *, stream: bool = False
) -> None:
    mapping = dynamo.mapping
    definition = dynamodb_table_definition(mapping, dynamo.table)
    if present is None:
        if not is_default_model(mapping):
            result.advice.append(
                f"DynamoDB table {dynamo.table!r} does not exist; create it with your own tooling"
            )
            return
        try:
            await dynamo.call("create_table", reads=False, **definition)
        except StoreError:
            # A CreateTable that timed out may have succeeded: its retry is then refused
            # (ResourceInUseException). The table being there is what was asked for.
            if await dynamodb_indexes(dynamo) is None:
                raise
        waiter = dynamo.client.get_waiter("table_exists")
        await waiter.wait(TableName=dynamo.table, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        result.created.append(f"DynamoDB table {dynamo.table}")
        return
    result.existing.append(f"DynamoDB table {dynamo.table}")
    if stream:
        try:
            stream_arn(await dynamo.describe(), dynamo.table)
        except StreamNotReady as exc:
            result.advice.append(f"[stream] enabled: {exc.reason}")
    for gsi in definition["GlobalSecondaryIndexes"]:
        if gsi["IndexName"] not in present:
            result.advice.append(
                f"DynamoDB table {dynamo.table!r} has no index {gsi['IndexName']!r};"
                " checks fall back to the base table"
            )


async def run_setup(settings: Settings) -> SetupResult:
    """Create what is missing in both stores; report what was created and what existed.

    Both stores are reached first (PostgreSQL connected, the DynamoDB table described with the
    credentials at hand), so a missing credential or an unreachable store changes nothing. A
    failure after that (e.g. no permission to create the DynamoDB table) says what the
    PostgreSQL side already holds.
    """
    result = SetupResult()
    mapping = settings.table_mapping()
    async with (
        PostgresStore.open(settings.postgres, mapping) as pg,
        DynamoStore.open(settings.dynamodb, mapping) as dynamo,
    ):
        present = await dynamodb_indexes(dynamo)
        await setup_postgres(pg, settings, result)
        if settings.stream.enabled and settings.stream.postgres:
            await setup_slot(pg, settings, result)
        try:
            await setup_dynamodb(dynamo, result, present, stream=settings.stream.enabled)
        except (StoreError, StoreUnavailable) as exc:
            done = ", ".join([*result.created, *result.existing]) or "nothing"
            raise type(exc)(
                exc.store, f"{exc.reason} (PostgreSQL side is set up: {done})"
            ) from None
        both = {f"table {mapping.sql_table}", f"DynamoDB table {settings.dynamodb.table}"}
        if both <= set(result.created):
            change = await start_development_phase(pg.pool, settings.postgres.state_schema)
            if change is not None:
                result.advice.append(
                    f"migration phase {change.to_phase}: setup created both tables"
                    " (a development setup; see `dualwrite-monitor phase show`)"
                )
    return result
