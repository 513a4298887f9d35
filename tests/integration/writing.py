"""The dual writer on the real stores, with faults injected at its seams, and the final states."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from monitor.config import Settings
from monitor.setup import run_setup
from monitor.stores.dynamodb import DynamoStore, RetryPolicy
from monitor.stores.faulty import FaultyClient
from monitor.stores.postgres import PostgresStore
from monitor.writer.dual import CrashHook, DualWriter
from monitor.writer.inject import location_of
from monitor.writer.records import RecordFactory

NO_WAIT = RetryPolicy(attempts=4, base_delay=0)


@dataclass
class Rig:
    writer: DualWriter
    sql: PostgresStore
    dynamo: DynamoStore
    faulty: FaultyClient

    async def sql_status(self, key: int) -> str | None:
        value = await self.sql.pool.fetchval(
            "SELECT write_status FROM integration_logs WHERE log_id = $1", key
        )
        return None if value is None else str(value)

    async def item(self, row: Mapping[str, Any]) -> dict[str, Any] | None:
        response = await self.dynamo.client.get_item(
            TableName=self.dynamo.table, Key=self.dynamo.item_key(row), ConsistentRead=True
        )
        item = response.get("Item")
        return None if item is None else dict(item)

    async def item_status(self, row: Mapping[str, Any]) -> str | None:
        item = await self.item(row)
        return None if item is None else str(item["WriteStatus"]["S"])

    def location(self, row: Mapping[str, Any]) -> tuple[str, str]:
        return location_of(self.sql.mapping, row)


@asynccontextmanager
async def open_rig(
    settings: Settings,
    *,
    crash: CrashHook | None = None,
    compensation: Literal["soft", "delete"] = "soft",
    sql: Any = None,
    dynamo_wrapper: Any = None,
) -> AsyncIterator[Rig]:
    """Tables by `setup`, both stores open, DynamoDB calls through a `FaultyClient` (and then
    `dynamo_wrapper`, a port wrapper, when given), the SQL port wrapped by `sql` when given."""
    await run_setup(settings)
    mapping = settings.table_mapping()
    async with (
        PostgresStore.open(settings.postgres, mapping) as pg,
        DynamoStore.open(settings.dynamodb, mapping) as plain,
    ):
        faulty = FaultyClient(plain.client, mapping, slow_seconds=0.2)
        dynamo = DynamoStore(faulty, settings.dynamodb, mapping, retry=NO_WAIT)
        writer = DualWriter(
            pg if sql is None else sql(pg),
            dynamo if dynamo_wrapper is None else dynamo_wrapper(dynamo),
            mapping,
            compensation=compensation,
            retry_delay=0,
            crash=crash,
        )
        yield Rig(writer, pg, dynamo, faulty)


def records(count: int, *, first_key: int = 1, at: datetime | None = None) -> list[dict[str, Any]]:
    factory = RecordFactory(seed=first_key, first_key=first_key)
    if at is not None:
        moment = at
        factory.clock = lambda: moment
    return [factory.make() for _ in range(count)]
