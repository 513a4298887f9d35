"""The monitor's own schema in PostgreSQL (ARCHITECTURE decision 6).

The only place the monitor writes without repair being enabled. Created by `setup` and at daemon
start; each migration runs once, in order, recorded in `schema_version`, under an advisory lock
so two replicas starting together do not race.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime

import asyncpg

from monitor.stores.postgres import quote_ident, translate_errors

#: Each entry runs once, in order. Append; never edit a migration that has shipped.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE {schema}.discovered_partitions (
        partition_key text PRIMARY KEY,
        partition_values jsonb NOT NULL,
        first_seen timestamptz NOT NULL DEFAULT now(),
        last_seen timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE {schema}.discovery_runs (
        id bigserial PRIMARY KEY,
        finished_at timestamptz NOT NULL DEFAULT now(),
        partition_keys integer NOT NULL,
        read_units double precision NOT NULL
    );
    """,
)

#: Any constant unique to this schema's migrations; keeps concurrent starts from racing.
_MIGRATION_LOCK = 0x6477_6D6F_6E00


class StateStore:
    def __init__(self, pool: asyncpg.Pool, schema: str) -> None:
        self.pool = pool
        self.schema = quote_ident(schema)

    async def migrate(self) -> int:
        """Create the schema and run pending migrations; returns how many ran (0 the 2nd time)."""
        async with (
            translate_errors("creating the monitor schema"),
            self.pool.acquire() as conn,
            conn.transaction(),
        ):
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
            await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {self.schema}")
            await conn.execute(
                f"CREATE TABLE IF NOT EXISTS {self.schema}.schema_version"
                " (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = await conn.fetchval(
                f"SELECT coalesce(max(version), 0) FROM {self.schema}.schema_version"
            )
            for version, sql in enumerate(MIGRATIONS, start=1):
                if version <= done:
                    continue
                await conn.execute(sql.format(schema=self.schema))
                await conn.execute(
                    f"INSERT INTO {self.schema}.schema_version (version) VALUES ($1)", version
                )
            return len(MIGRATIONS) - int(done)

    # --- discovery cache ------------------------------------------------------------------

    async def remembered_partitions(self) -> list[tuple[str, ...]]:
        async with translate_errors("reading the discovery cache"):
            rows = await self.pool.fetch(
                f"SELECT partition_values FROM {self.schema}.discovered_partitions"
            )
        return [tuple(json.loads(row[0])) for row in rows]

    async def remember_partitions(self, found: Iterable[tuple[str, Sequence[str]]]) -> None:
        records = [(pk, json.dumps(list(values))) for pk, values in found]
        if not records:
            return
        async with translate_errors("writing the discovery cache"):
            await self.pool.executemany(
                f"INSERT INTO {self.schema}.discovered_partitions (partition_key, partition_values)"
                " VALUES ($1, $2::jsonb) ON CONFLICT (partition_key)"
                " DO UPDATE SET last_seen = now()",
                records,
            )

    async def last_discovery(self) -> datetime | None:
        async with translate_errors("reading the discovery cache"):
            value = await self.pool.fetchval(
                f"SELECT max(finished_at) FROM {self.schema}.discovery_runs"
            )
        return value if isinstance(value, datetime) else None

    async def record_discovery(self, partition_keys: int, read_units: float) -> None:
        async with translate_errors("writing the discovery cache"):
            await self.pool.execute(
                f"INSERT INTO {self.schema}.discovery_runs (partition_keys, read_units)"
                " VALUES ($1, $2)",
                partition_keys,
                read_units,
            )
