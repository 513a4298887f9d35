"""Opens what a run needs, once: the PostgreSQL pool, the DynamoDB client, the state schema.

The one place (with `setup` and the alert commands) where the concrete adapters are chosen. The
checks see a `CheckContext` (their ports); repair, the gates and preflight, which also read the
monitor's schema and the catalog, get the `StoreContext` with the adapters themselves.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from monitor.checks.context import CheckContext
from monitor.config import Settings
from monitor.errors import StoreError
from monitor.stores.dynamodb import DynamoStore
from monitor.stores.memory import MemorySource, MemoryTarget, MemoryWorld
from monitor.stores.postgres import PostgresStore
from monitor.stores.state import StateStore


@dataclass
class StoreContext(CheckContext):
    """A `CheckContext` over the real adapters (what `open_context` opens)."""

    sql: PostgresStore
    dynamo: DynamoStore
    state: StateStore | None


@asynccontextmanager
async def open_context(settings: Settings, *, migrate: bool = True) -> AsyncIterator[StoreContext]:
    mapping = settings.table_mapping()
    async with (
        PostgresStore.open(settings.postgres, mapping) as sql,
        # The SQL side learns the key column's type; DynamoDB judges item keys by it.
        DynamoStore.open(settings.dynamodb, sql.mapping) as dynamo,
    ):
        state: StateStore | None = StateStore(sql.pool, settings.postgres.state_schema)
        warnings: list[str] = []
        if migrate and state is not None:
            try:
                await state.migrate()
            except StoreError as exc:
                # Checks still run; only the discovery cache and alert state are unavailable.
                warnings.append(f"monitor schema unavailable, running without it: {exc}")
                state = None
        yield StoreContext(settings, sql, dynamo, state, warnings)


@asynccontextmanager
async def open_memory_context(
    settings: Settings, world: MemoryWorld
) -> AsyncIterator[CheckContext]:
    """The same context over in-memory stores (fast check tests; nothing is persisted)."""
    sql = MemorySource(world, settings.table_mapping())
    dynamo = MemoryTarget(world, settings.dynamodb, sql.mapping)
    yield CheckContext(settings, sql, dynamo, world.state)
