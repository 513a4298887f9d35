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

from monitor.stores.ports import DiscoveryCursor
from monitor.stores.postgres import execute_one, quote_ident, translate_errors

#: Each entry runs once, in order, one statement at a time (never a multi-statement string).
#: Append; never edit a migration that has shipped.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """
        CREATE TABLE {schema}.discovered_partitions (
            partition_key text PRIMARY KEY,
            partition_values jsonb NOT NULL,
            first_seen timestamptz NOT NULL DEFAULT now(),
            last_seen timestamptz NOT NULL DEFAULT now()
        )
        """,
        """
        CREATE TABLE {schema}.discovery_runs (
            id bigserial PRIMARY KEY,
            finished_at timestamptz NOT NULL DEFAULT now(),
            partition_keys integer NOT NULL,
            read_units double precision NOT NULL
        )
        """,
    ),
    # Alerts (monitor/stores/alert_state.py): rule state, failed runs in a row, silences, outbox.
    (
        """
        CREATE TABLE {schema}.alert_rules (
            rule text PRIMARY KEY,
            state text NOT NULL,
            breach_streak integer NOT NULL,
            healthy_streak integer NOT NULL,
            streak_since timestamptz,
            firing_since timestamptz,
            last_sent_at timestamptz,
            last_emitted_at timestamptz,
            message_ref text,
            unannounced text,
            last_observation jsonb,
            updated_at timestamptz NOT NULL
        )
        """,
        """
        CREATE TABLE {schema}.alert_check_failures (
            check_name text PRIMARY KEY,
            failures integer NOT NULL,
            updated_at timestamptz NOT NULL
        )
        """,
        """
        CREATE TABLE {schema}.alert_silences (
            id bigserial PRIMARY KEY,
            rule text NOT NULL,
            starts_at timestamptz NOT NULL,
            ends_at timestamptz NOT NULL,
            reason text NOT NULL,
            created_by text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            removed_at timestamptz,
            removed_by text,
            CHECK (ends_at > starts_at)
        )
        """,
        """
        CREATE TABLE {schema}.alert_outbox (
            id bigserial PRIMARY KEY,
            rule text NOT NULL,
            kind text NOT NULL,
            firing_since timestamptz NOT NULL,
            notification jsonb NOT NULL,
            created_at timestamptz NOT NULL,
            attempts integer NOT NULL DEFAULT 0,
            next_attempt_at timestamptz NOT NULL,
            claimed_until timestamptz,
            last_error text,
            delivered_at timestamptz,
            message_ref text,
            superseded_at timestamptz,
            superseded_by bigint
        )
        """,
        """
        CREATE INDEX alert_outbox_waiting ON {schema}.alert_outbox (rule, id)
            WHERE delivered_at IS NULL AND superseded_at IS NULL
        """,
    ),
    # Discovery Scan cursors: a pass over a large table is spread over many runs.
    (
        """
        CREATE TABLE {schema}.discovery_cursor (
            segment integer PRIMARY KEY,
            total_segments integer NOT NULL,
            last_key jsonb,
            done boolean NOT NULL DEFAULT false,
            pass_started_at timestamptz NOT NULL
        )
        """,
    ),
    # The migration phase and its history (monitor/migration/phase.py), CONTRACT §4b. A new
    # schema starts at sql_only; `setup` moves a development setup it created on to dual_write.
    (
        """
        CREATE TABLE {schema}.phase_history (
            id bigserial PRIMARY KEY,
            from_phase text,
            to_phase text NOT NULL
            CHECK (to_phase IN ('sql_only', 'dual_write', 'dynamo_reads', 'dynamo_only')),
            at timestamptz NOT NULL DEFAULT now(),
            changed_by text NOT NULL,
            evidence jsonb NOT NULL DEFAULT '{{}}'::jsonb
        )
        """,
        """
        INSERT INTO {schema}.phase_history (from_phase, to_phase, changed_by, evidence)
            VALUES (NULL, 'sql_only', 'schema', '{{"reason": "the monitor schema was created"}}')
        """,
    ),
    # Repair actions, one row per action of a plan, written before it runs and completed after
    # (monitor/repair/audit.py), CONTRACT §8.
    (
        """
        CREATE TABLE {schema}.repair_audit (
            id bigserial PRIMARY KEY,
            plan_id text NOT NULL,
            action text NOT NULL,
            record_key jsonb NOT NULL,
            finding text,
            before jsonb,
            after jsonb,
            result text NOT NULL,
            at timestamptz NOT NULL DEFAULT now(),
            finished_at timestamptz,
            changed_by text NOT NULL
        )
        """,
        """
        CREATE INDEX repair_audit_by_plan ON {schema}.repair_audit (plan_id, action, record_key)
        """,
    ),
    # Whole-history verification (monitor/verify/checkpoint.py), CONTRACT §9: a run is its
    # range; each window reconciled is one row, written once, with what it found.
    (
        """
        CREATE TABLE {schema}.verify_runs (
            id bigserial PRIMARY KEY,
            kind text NOT NULL,
            range_start timestamptz NOT NULL,
            range_end timestamptz NOT NULL,
            open_ended boolean NOT NULL,
            window_seconds double precision NOT NULL,
            shard_windows integer NOT NULL,
            started_at timestamptz NOT NULL DEFAULT now(),
            finished_at timestamptz
        )
        """,
        """
        CREATE UNIQUE INDEX verify_runs_open ON {schema}.verify_runs
            (kind, range_start, range_end) WHERE finished_at IS NULL
        """,
        """
        CREATE UNIQUE INDEX verify_runs_open_ended ON {schema}.verify_runs
            (kind, range_start) WHERE finished_at IS NULL AND open_ended
        """,
        """
        CREATE TABLE {schema}.verify_windows (
            run_id bigint NOT NULL REFERENCES {schema}.verify_runs (id) ON DELETE CASCADE,
            window_start timestamptz NOT NULL,
            window_end timestamptz NOT NULL,
            tally jsonb NOT NULL,
            findings jsonb NOT NULL,
            done_at timestamptz NOT NULL DEFAULT now(),
            done_by text NOT NULL,
            PRIMARY KEY (run_id, window_start)
        )
        """,
    ),
    # Continuous verification (monitor/stores/stream_state.py, CONTRACT §10): each shard's (and
    # the slot's) verified position, the findings already reported, the SQL changes waiting.
    (
        """
        CREATE TABLE {schema}.stream_positions (
            stream text NOT NULL,
            shard text NOT NULL,
            sequence text,
            finished boolean NOT NULL DEFAULT false,
            changed_at timestamptz,
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (stream, shard)
        )
        """,
        """
        CREATE TABLE {schema}.stream_findings (
            record_key jsonb NOT NULL,
            kind text NOT NULL,
            changed_at timestamptz NOT NULL,
            found_at timestamptz NOT NULL,
            PRIMARY KEY (record_key, kind)
        )
        """,
        """
        CREATE TABLE {schema}.stream_sql_changes (
            record_key jsonb PRIMARY KEY,
            changed_at timestamptz NOT NULL,
            lsn pg_lsn NOT NULL
        )
        """,
    ),
    # The SQL changes waiting for their grace are taken oldest first.
    (
        """
        CREATE INDEX stream_sql_changes_by_age ON {schema}.stream_sql_changes (changed_at)
        """,
    ),
    # A deleted row, whole (REPLICA IDENTITY FULL), as column -> text: where its item is.
    (
        """
        ALTER TABLE {schema}.stream_sql_changes ADD COLUMN deleted_row jsonb
        """,
    ),
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
            await execute_one(conn, f"CREATE SCHEMA IF NOT EXISTS {self.schema}")
            await execute_one(
                conn,
                f"CREATE TABLE IF NOT EXISTS {self.schema}.schema_version"
                " (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
            )
            done = await conn.fetchval(
                f"SELECT coalesce(max(version), 0) FROM {self.schema}.schema_version"
            )
            for version, statements in enumerate(MIGRATIONS, start=1):
                if version <= done:
                    continue
                for statement in statements:
                    await execute_one(conn, statement.format(schema=self.schema))
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

    async def discovery_cursors(self) -> list[DiscoveryCursor]:
        """The segments of the discovery pass in progress (empty: no pass in progress)."""
        async with translate_errors("reading the discovery cursor"):
            rows = await self.pool.fetch(
                f"SELECT segment, total_segments, last_key, done, pass_started_at"
                f" FROM {self.schema}.discovery_cursor ORDER BY segment"
            )
        return [
            DiscoveryCursor(
                segment=row[0],
                total_segments=row[1],
                last_key=None if row[2] is None else json.loads(row[2]),
                done=row[3],
                pass_started_at=row[4],
            )
            for row in rows
        ]

    async def save_cursor(self, cursor: DiscoveryCursor) -> None:
        async with translate_errors("writing the discovery cursor"):
            await self.pool.execute(
                f"INSERT INTO {self.schema}.discovery_cursor"
                " (segment, total_segments, last_key, done, pass_started_at)"
                " VALUES ($1, $2, $3::jsonb, $4, $5) ON CONFLICT (segment) DO UPDATE SET"
                " total_segments = $2, last_key = $3::jsonb, done = $4, pass_started_at = $5",
                cursor.segment,
                cursor.total_segments,
                None if cursor.last_key is None else json.dumps(cursor.last_key),
                cursor.done,
                cursor.pass_started_at,
            )

    async def finish_discovery_pass(
        self, partition_keys: int, read_units: float, finished_at: datetime
    ) -> None:
        """Record a complete pass and clear its cursors, atomically."""
        async with (
            translate_errors("writing the discovery cache"),
            self.pool.acquire() as conn,
            conn.transaction(),
        ):
            await conn.execute(f"DELETE FROM {self.schema}.discovery_cursor")
            await conn.execute(
                f"INSERT INTO {self.schema}.discovery_runs"
                " (partition_keys, read_units, finished_at) VALUES ($1, $2, $3)",
                partition_keys,
                read_units,
                finished_at,
            )
