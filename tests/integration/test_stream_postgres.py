"""The SQL direction of continuous verification: PostgreSQL logical decoding (`pgoutput`) on the
real server (started with wal_level = logical), each SQL change's item read by BatchGetItem.

A SQL change with no DynamoDB write at all (the writer died after its SQL insert) has no
DynamoDB stream record: only this direction finds it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import asyncpg
import pytest

from monitor.config import Settings
from monitor.runtime import open_context
from monitor.setup import run_setup
from monitor.stores.logical import LogicalSlot
from tests.conftest import make_settings
from tests.integration.test_stream import STREAM, found, running, service_for, wait_for
from tests.integration.writing import open_rig, records

pytestmark = [pytest.mark.services, pytest.mark.anyio]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def pg_settings(database: str, dynamo_endpoint: str) -> Iterator[Settings]:
    # Slots are per cluster, databases per test: one slot name per database, dropped after.
    slot = "s_" + database.rsplit("/", 1)[-1].lower()
    settings = make_settings(
        database, dynamo_endpoint, stream={**STREAM, "postgres": True, "slot": slot}
    )
    yield settings
    anyio.run(drop_slot, settings)


async def drop_slot(settings: Settings) -> None:
    pool = await asyncpg.create_pool(
        settings.postgres.dsn.get_secret_value(), min_size=1, max_size=1
    )
    try:
        await LogicalSlot(pool, settings.stream.slot, settings.stream.publication).drop()
    finally:
        await pool.close()


async def sql_only(context: Any, row: dict[str, Any]) -> None:
    """The writer's SQL insert alone, as if it died right after it (crash_after_sql)."""
    columns = ", ".join(row)
    values = ", ".join(f"${i}" for i in range(1, len(row) + 1))
    await context.sql.pool.execute(
        f"INSERT INTO integration_logs ({columns}) VALUES ({values})", *row.values()
    )


async def test_setup_creates_the_publication_and_the_slot(pg_settings: Settings) -> None:
    result = await run_setup(pg_settings)
    assert f"logical replication slot {pg_settings.stream.slot}" in result.created
    assert f"publication {pg_settings.stream.publication}" in result.created
    again = await run_setup(pg_settings)
    assert f"logical replication slot {pg_settings.stream.slot}" in again.existing


async def test_a_sql_change_without_its_item_is_found_and_clean_ones_are_not(
    pg_settings: Settings,
) -> None:
    async with open_rig(pg_settings) as rig, open_context(pg_settings) as context:
        for row in records(10, first_key=1):
            await rig.writer.write(row)
        crashed = records(1, first_key=50)[0] | {"write_status": "Pending"}
        await sql_only(context, crashed)
        # A clean record changed again in SQL alone: judged again, still clean.
        await rig.writer.write(records(1, first_key=60)[0])
        await context.sql.pool.execute(
            "UPDATE integration_logs SET updated_at = now() WHERE log_id = 60"
        )
        service = service_for(context)
        async with running(service):
            await wait_for(lambda: ("missing_in_dynamodb", 50) in found(service))
            sql_side = service.sql_side
            assert sql_side is not None
            await wait_for(lambda: sql_side.verified >= 12 and sql_side.waiting == 0)
        assert found(service) == {("missing_in_dynamodb", 50)}
        state = await LogicalSlot(
            context.sql.pool, pg_settings.stream.slot, pg_settings.stream.publication
        ).state()
        assert state.exists and state.retained_wal >= 0


async def test_a_restart_re_reads_nothing_the_slot_already_handed_over(
    pg_settings: Settings,
) -> None:
    async with open_rig(pg_settings) as rig, open_context(pg_settings) as context:
        await sql_only(context, records(1, first_key=70)[0] | {"write_status": "Pending"})
        first = service_for(context)
        async with running(first):
            await wait_for(lambda: ("missing_in_dynamodb", 70) in found(first))
        for row in records(2, first_key=80):
            await rig.writer.write(row)
        await sql_only(context, records(1, first_key=90)[0] | {"write_status": "Pending"})
        second = service_for(context)
        async with running(second):
            await wait_for(lambda: ("missing_in_dynamodb", 90) in found(second))
            assert second.sql_side is not None
            side = second.sql_side
            await wait_for(lambda: side.waiting == 0 and side.verified >= 3)
        assert found(second) == {("missing_in_dynamodb", 90)}
        # Two writes (insert, commit) each, one insert: the first run's change not read again.
        assert side.changes_read == 2 * 2 + 1


@pytest.mark.parametrize("whole", [True, False], ids=["replica_identity_full", "default"])
async def test_a_deleted_row_whose_item_stays_is_found_only_with_the_whole_row(
    database: str, dynamo_endpoint: str, whole: bool
) -> None:
    slot = "s_" + database.rsplit("/", 1)[-1].lower()
    stream = {**STREAM, "postgres": True, "slot": slot, "replica_identity_full": whole}
    settings = make_settings(database, dynamo_endpoint, stream=stream)
    try:
        async with open_rig(settings) as rig, open_context(settings) as context:
            identity = await context.sql.pool.fetchval(
                "SELECT relreplident::text FROM pg_class WHERE oid = 'integration_logs'::regclass"
            )
            assert identity == ("f" if whole else "d")
            rows = records(3, first_key=30)
            service = service_for(context)
            async with running(service):

                def read(at_least: int) -> bool:
                    side = service.sql_side
                    return side is not None and side.changes_read >= at_least and not side.waiting

                def judged(at_least: int) -> bool:
                    """At least this many DynamoDB stream records read, and all judged (a batch
                    taken from the buffer is still being judged until its positions are)."""
                    reader, buffer = service.reader, service.buffer
                    if reader is None or buffer is None:
                        return False
                    return reader.records_read >= at_least and buffer.positions.unjudged == 0

                for row in rows:
                    await rig.writer.write(row)
                # Both directions judge the three records clean (two writes each, as in SQL)
                # before any delete, so only the SQL direction can see what follows: 31 has
                # no DynamoDB change at all.
                await wait_for(lambda: read(3 * 2) and judged(3 * 2))
                # Deleted in SQL alone: the item stays, Committed.
                await context.sql.pool.execute("DELETE FROM integration_logs WHERE log_id = 31")
                # Deleted in both (a delete compensation): absent from both agrees.
                await context.sql.pool.execute("DELETE FROM integration_logs WHERE log_id = 32")
                await context.dynamo.client.delete_item(
                    TableName=context.dynamo.table, Key=rig.dynamo.item_key(rows[2])
                )
                # The deletes reach the SQL direction only when sent whole.
                await wait_for(lambda: read(3 * 2 + (2 if whole else 0)))
                if whole:
                    await wait_for(lambda: ("missing_in_sql", 31) in found(service))
                # The DynamoDB direction judges the item deleted in both: nothing to say.
                await wait_for(lambda: judged(3 * 2 + 1))
        assert found(service) == ({("missing_in_sql", 31)} if whole else set())
    finally:
        await drop_slot(settings)
