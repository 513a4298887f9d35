"""PostgreSQL adapter (asyncpg): narrow, index-friendly reads of the mapped table.

Identifiers come from config, are validated there and quoted here; values are always bound
parameters. Every statement runs under `statement_timeout`. `PostgresStore` is the mapped table
with every port it serves, one module per job:

- `driver`: identifiers, error translation, one statement at a time, the pool's close;
- `table`: the quoted names of the mapped table, the key column's type from the catalog;
- `reads`: the checks' reads (`SourceStore`); `sampling`: the sampler's draw;
- `writes`: the dual writer's (`SourceWrites`) and repair's (`SourceRepairs`) writes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from monitor.config import PostgresSettings
from monitor.core.mapping import TableMapping
from monitor.stores.postgres import driver
from monitor.stores.postgres.driver import (
    CLOSE_TIMEOUT,
    STORE,
    TRANSIENT_EXCEPTIONS,
    close_pool,
    execute_one,
    key_fits_int64,
    key_kind_of,
    quote_ident,
    translate_errors,
)
from monitor.stores.postgres.reads import SourceReads
from monitor.stores.postgres.sampling import SampleQueries, SampleReads, sample_queries
from monitor.stores.postgres.writes import RepairWrites, WriterWrites

__all__ = [
    "CLOSE_TIMEOUT",
    "STORE",
    "TRANSIENT_EXCEPTIONS",
    "PostgresStore",
    "SampleQueries",
    "close_pool",
    "execute_one",
    "key_fits_int64",
    "key_kind_of",
    "quote_ident",
    "sample_queries",
    "translate_errors",
]


class PostgresStore(SourceReads, SampleReads, WriterWrites, RepairWrites):
    """Narrow reads of the mapped SQL table. Construct with `PostgresStore.open`."""

    @classmethod
    @asynccontextmanager
    async def open(
        cls, settings: PostgresSettings, mapping: TableMapping
    ) -> AsyncIterator[PostgresStore]:
        timeout_ms = int(settings.statement_timeout.total_seconds() * 1000)
        async with translate_errors(f"cannot connect to {settings.servers}"):
            pool = await asyncpg.create_pool(
                settings.dsn.get_secret_value(),
                min_size=1,
                max_size=settings.pool_size,
                timeout=settings.connect_timeout.total_seconds(),
                command_timeout=settings.statement_timeout.total_seconds() + driver.COMMAND_GRACE,
                server_settings={
                    "statement_timeout": str(timeout_ms),
                    "application_name": "dualwrite-monitor",
                },
            )
        try:
            store = cls(pool, mapping)
            await store.learn_key_kind()
            yield store
        finally:
            await close_pool(pool)
