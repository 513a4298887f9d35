"""One test body, two backends (APScheduler's conftest is the model): the real services, and the
in-memory ports of `monitor.stores.memory`. A test takes the `backend` fixture and seeds, checks
and inspects through it; the CLI's `check` runs over whichever backend the test was given."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from typing import Any, Protocol

import anyio

from monitor.checks.context import CheckContext
from monitor.config import Settings, settings_from_dict
from monitor.runtime import open_context, open_memory_context
from monitor.setup import dynamodb_table_definition, run_setup
from monitor.stores.memory import MemoryWorld
from monitor.stores.wire import decode_item
from monitor.writer.bulk import load, put_items
from monitor.writer.items import DEFAULT_COLUMNS
from tests.integration.scenario import dynamo_client, seed
from tests.wire_items import wire_item

#: Never contacted: the memory backend's stores ignore where the settings point.
NOWHERE = ("postgresql://memory@127.0.0.1:1/memory", "http://127.0.0.1:1")


class Backend(Protocol):
    name: str
    settings: Settings

    def seed(
        self,
        rows: list[dict[str, Any]],
        *,
        drop_from_sql: Iterable[int] = (),
        drop_from_dynamodb: Iterable[int] = (),
        item_overrides: Mapping[int, Mapping[str, Any]] | None = None,
    ) -> None:
        """Write `rows` to both stores by the default mapping, except the keys dropped."""

    def put_items(self, items: Sequence[Mapping[str, Any]]) -> None:
        """Put wire-format items into the DynamoDB table as they are."""

    def store(self, sql_rows: list[dict[str, Any]], items: Sequence[Mapping[str, Any]]) -> None:
        """Exactly these rows in SQL and these wire-format items in DynamoDB."""

    def reconfigure(self, **sections: dict[str, Any]) -> Settings:
        """The same stores with other settings (e.g. another `[mapping]`); they become `settings`."""

    def without_pending_index(self) -> None:
        """The DynamoDB table as another team might have made it: no pending index."""

    def remove_attributes(
        self, rows: Sequence[Mapping[str, Any]], removals: Mapping[int, Sequence[str]]
    ) -> None:
        """Take attributes off seeded items (`item_overrides` can only add or replace)."""

    def context(
        self, settings: Settings | None = None
    ) -> AbstractAsyncContextManager[CheckContext]:
        """What a check runs against, over this backend's stores."""


class Services:
    """The real PostgreSQL and DynamoDB-API server of `tests/conftest.py`."""

    name = "services"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def reconfigure(self, **sections: dict[str, Any]) -> Settings:
        self.settings = make_settings(
            self.settings.postgres.dsn.get_secret_value(),
            self.settings.dynamodb.endpoint_url or "",
            **sections,
        )
        return self.settings

    def store(self, sql_rows: list[dict[str, Any]], items: Sequence[Mapping[str, Any]]) -> None:
        async def go() -> None:
            await run_setup(self.settings)
            await load(self.settings, DEFAULT_COLUMNS, sql_rows, items)

        anyio.run(go)

    def without_pending_index(self) -> None:
        bare = self.settings.table_mapping()
        bare = replace(bare, pending_index=None)

        async def go() -> None:
            async with dynamo_client(self.settings) as client:
                await client.create_table(
                    **dynamodb_table_definition(bare, self.settings.dynamodb.table)
                )

        anyio.run(go)

    def seed(
        self,
        rows: list[dict[str, Any]],
        *,
        drop_from_sql: Iterable[int] = (),
        drop_from_dynamodb: Iterable[int] = (),
        item_overrides: Mapping[int, Mapping[str, Any]] | None = None,
    ) -> None:
        seed(
            self.settings,
            rows,
            drop_from_sql=drop_from_sql,
            drop_from_dynamodb=drop_from_dynamodb,
            item_overrides=item_overrides,
        )

    def put_items(self, items: Sequence[Mapping[str, Any]]) -> None:
        async def go() -> None:
            async with dynamo_client(self.settings) as client:
                await put_items(client, self.settings.dynamodb.table, items)

        anyio.run(go)

    def remove_attributes(
        self, rows: Sequence[Mapping[str, Any]], removals: Mapping[int, Sequence[str]]
    ) -> None:
        mapping = self.settings.table_mapping()
        by_key = {row["log_id"]: row for row in rows}

        async def go() -> None:
            async with dynamo_client(self.settings) as client:
                for key, names in removals.items():
                    item = wire_item(by_key[key], mapping)
                    await client.update_item(
                        TableName=self.settings.dynamodb.table,
                        Key={"PK": item["PK"], "SK": item["SK"]},
                        UpdateExpression="REMOVE " + ", ".join(f"#a{i}" for i in range(len(names))),
                        ExpressionAttributeNames={f"#a{i}": n for i, n in enumerate(names)},
                    )

        anyio.run(go)

    def context(
        self, settings: Settings | None = None
    ) -> AbstractAsyncContextManager[CheckContext]:
        return open_context(settings or self.settings)


class Memory:
    """`MemoryWorld`: the same data in Python structures; nothing listens on a port."""

    name = "memory"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.world = MemoryWorld()

    def reconfigure(self, **sections: dict[str, Any]) -> Settings:
        self.settings = make_settings(*NOWHERE, **sections)
        return self.settings

    def store(self, sql_rows: list[dict[str, Any]], items: Sequence[Mapping[str, Any]]) -> None:
        self.world.rows = [dict(r) for r in sql_rows]
        self.world.items.clear()
        self.put_items(items)

    def without_pending_index(self) -> None:
        self.world.indexes = []

    def seed(
        self,
        rows: list[dict[str, Any]],
        *,
        drop_from_sql: Iterable[int] = (),
        drop_from_dynamodb: Iterable[int] = (),
        item_overrides: Mapping[int, Mapping[str, Any]] | None = None,
    ) -> None:
        not_sql, not_dynamo = set(drop_from_sql), set(drop_from_dynamodb)
        overrides = item_overrides or {}
        mapping = self.settings.table_mapping()
        self.world.rows += [dict(r) for r in rows if r["log_id"] not in not_sql]
        for row in rows:
            if row["log_id"] not in not_dynamo:
                item = wire_item(row, mapping) | dict(overrides.get(row["log_id"], {}))
                self.world.put_item(mapping, decode_item(item))

    def put_items(self, items: Sequence[Mapping[str, Any]]) -> None:
        mapping = self.settings.table_mapping()
        for item in items:
            self.world.put_item(mapping, decode_item(item))

    def remove_attributes(
        self, rows: Sequence[Mapping[str, Any]], removals: Mapping[int, Sequence[str]]
    ) -> None:
        mapping = self.settings.table_mapping()
        by_key = {row["log_id"]: row for row in rows}
        for key, names in removals.items():
            item = wire_item(by_key[key], mapping)
            stored = self.world.items[(item["PK"]["S"], item["SK"]["S"])]
            for name in names:
                stored.pop(name, None)

    def context(
        self, settings: Settings | None = None
    ) -> AbstractAsyncContextManager[CheckContext]:
        return open_memory_context(settings or self.settings, self.world)

    def open_context(
        self, settings: Settings, *, migrate: bool = True
    ) -> AbstractAsyncContextManager[CheckContext]:
        """Stands in for `monitor.runtime.open_context`, so the CLI checks this world."""
        return open_memory_context(settings, self.world)


def make_settings(dsn: str, endpoint: str, **sections: dict[str, Any]) -> Settings:
    data: dict[str, Any] = {
        "postgres": {"dsn": dsn, "statement_timeout": "10s", "connect_timeout": "3s"},
        # 30 s: the in-process moto is slow on a loaded machine (see scenario.write_config).
        "dynamodb": {"endpoint_url": endpoint, "request_timeout": "30s"},
    }
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return settings_from_dict(data)
