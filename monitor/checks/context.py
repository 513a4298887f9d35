"""Opens what a check needs, once: the PostgreSQL pool, the DynamoDB client, the state schema."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from monitor.checks.sampling import SampleCache
from monitor.config import Settings
from monitor.errors import StoreError
from monitor.stores.dynamodb import DynamoStore
from monitor.stores.postgres import PostgresStore
from monitor.stores.state import StateStore

log = logging.getLogger(__name__)


@dataclass
class CheckContext:
    settings: Settings
    sql: PostgresStore
    dynamo: DynamoStore
    #: None when the monitor's schema cannot be created (e.g. a read-only database user).
    state: StateStore | None
    warnings: list[str] = field(default_factory=list)
    #: Set by `check all` so `quality` and `sample` read one sample; None elsewhere (the daemon's
    #: runs each have their own window, so holding a sample there would only cost memory).
    samples: SampleCache | None = None


@asynccontextmanager
async def open_context(settings: Settings, *, migrate: bool = True) -> AsyncIterator[CheckContext]:
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
        yield CheckContext(settings, sql, dynamo, state, warnings)
