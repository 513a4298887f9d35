"""The stream verifier's state in the monitor's schema (tables created by `state.MIGRATIONS`).

`stream_positions`: per stream (a DynamoDB stream ARN, or `postgres:<slot>`) and shard, the end
of the verified prefix, so a restart or a new leader resumes without a gap. `stream_findings`:
the (record, kind) pairs already reported, so a re-read change is never reported twice; a
record verified clean again is forgotten, so a later break is reported anew.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from monitor.model import KeyValue
from monitor.stores.postgres import quote_ident, translate_errors


@dataclass(frozen=True, slots=True)
class SqlChange:
    """A SQL change read from the slot, waiting for its grace (`stream_sql_changes`)."""

    key: KeyValue
    changed_at: datetime
    lsn: str
    #: A deleted row, whole (REPLICA IDENTITY FULL), as column -> text; None otherwise.
    deleted_row: Mapping[str, str | None] | None = None


@dataclass(frozen=True, slots=True)
class SavedPosition:
    shard: str
    sequence: str | None
    finished: bool
    #: The time of the change at `sequence` (where a gap would start if the stream trimmed it).
    changed_at: datetime | None


def key_json(key: KeyValue) -> str:
    """A record key as JSON text; an integer stays exact (jsonb numbers are arbitrary)."""
    return json.dumps(key)


class StreamState:
    def __init__(self, pool: asyncpg.Pool, schema: str) -> None:
        self.pool = pool
        self.schema = quote_ident(schema)

    async def positions(self, stream: str) -> list[SavedPosition]:
        sql = (
            f"SELECT shard, sequence, finished, changed_at FROM {self.schema}.stream_positions"
            " WHERE stream = $1"
        )
        async with translate_errors("reading the stream positions"):
            rows = await self.pool.fetch(sql, stream)
        return [SavedPosition(r[0], r[1], bool(r[2]), r[3]) for r in rows]

    async def save_positions(self, stream: str, positions: Iterable[SavedPosition]) -> None:
        rows = [(stream, p.shard, p.sequence, p.finished, p.changed_at) for p in positions]
        if not rows:
            return
        sql = (
            f"INSERT INTO {self.schema}.stream_positions"
            " (stream, shard, sequence, finished, changed_at) VALUES ($1, $2, $3, $4, $5)"
            " ON CONFLICT (stream, shard) DO UPDATE SET sequence = excluded.sequence,"
            " finished = excluded.finished, changed_at = excluded.changed_at, updated_at = now()"
        )
        async with translate_errors("saving the stream positions"):
            await self.pool.executemany(sql, rows)

    async def previous_stream(self, stream: str) -> tuple[str, datetime | None] | None:
        """The table's stream read before `stream` (a DynamoDB stream ARN: the same table's
        ARN up to `/stream/`), and the newest change checkpointed there; None if none."""
        table, marker, _ = stream.partition("/stream/")
        if not marker:
            return None
        sql = (
            f"SELECT stream, max(changed_at) FROM {self.schema}.stream_positions"
            " WHERE left(stream, length($1)) = $1 AND stream <> $2"
            " GROUP BY stream ORDER BY max(updated_at) DESC LIMIT 1"
        )
        async with translate_errors("reading the stream positions"):
            row = await self.pool.fetchrow(sql, table + marker, stream)
        return None if row is None else (str(row[0]), row[1])

    async def forget_stream(self, stream: str) -> None:
        sql = f"DELETE FROM {self.schema}.stream_positions WHERE stream = $1"
        async with translate_errors("clearing the stream positions"):
            await self.pool.execute(sql, stream)

    async def first_reports(
        self, found: Sequence[tuple[KeyValue, str, datetime, datetime]]
    ) -> set[tuple[str, str]]:
        """Record (key, kind, changed_at, found_at) findings; the (key JSON, kind) pairs that
        were not reported before (the others are repeats: re-read or still broken)."""
        if not found:
            return set()
        sql = (
            f"INSERT INTO {self.schema}.stream_findings (record_key, kind, changed_at, found_at)"
            " SELECT * FROM unnest($1::jsonb[], $2::text[], $3::timestamptz[], $4::timestamptz[])"
            " ON CONFLICT (record_key, kind) DO NOTHING RETURNING record_key::text, kind"
        )
        keys = [key_json(k) for k, _, _, _ in found]
        async with translate_errors("recording stream findings"):
            rows = await self.pool.fetch(
                sql, keys, [f[1] for f in found], [f[2] for f in found], [f[3] for f in found]
            )
        return {(_canonical(r[0]), str(r[1])) for r in rows}

    async def forget_findings(self, keys: Sequence[KeyValue]) -> None:
        """Records verified clean: a later break of theirs is a new finding."""
        if not keys:
            return
        sql = f"DELETE FROM {self.schema}.stream_findings WHERE record_key = ANY($1::jsonb[])"
        async with translate_errors("clearing stream findings"):
            await self.pool.execute(sql, [key_json(k) for k in keys])

    # --- SQL changes (from the logical slot) waiting for their grace ----------------------

    async def queue_sql_changes(self, changes: Sequence[SqlChange]) -> None:
        """SQL changes to judge once their grace is over; a record keeps its newest only."""
        if not changes:
            return
        sql = (
            f"INSERT INTO {self.schema}.stream_sql_changes AS c"
            " (record_key, changed_at, lsn, deleted_row) SELECT * FROM"
            " unnest($1::jsonb[], $2::timestamptz[], $3::text[]::pg_lsn[], $4::jsonb[])"
            " ON CONFLICT (record_key) DO UPDATE SET changed_at = excluded.changed_at,"
            " lsn = excluded.lsn, deleted_row = excluded.deleted_row WHERE excluded.lsn > c.lsn"
        )
        newest: dict[str, SqlChange] = {}
        for change in changes:  # one row per key in a statement (ON CONFLICT needs it)
            newest[key_json(change.key)] = change
        rows = list(newest.values())
        async with translate_errors("queueing SQL changes"):
            await self.pool.execute(
                sql,
                list(newest),
                [c.changed_at for c in rows],
                [c.lsn for c in rows],
                [None if c.deleted_row is None else json.dumps(c.deleted_row) for c in rows],
            )

    async def due_sql_changes(self, horizon: datetime, limit: int) -> list[SqlChange]:
        sql = (
            "SELECT record_key::text, changed_at, lsn::text, deleted_row::text"
            f" FROM {self.schema}.stream_sql_changes"
            " WHERE changed_at <= $1 ORDER BY changed_at LIMIT $2"
        )
        async with translate_errors("reading due SQL changes"):
            rows = await self.pool.fetch(sql, horizon, limit)
        return [
            SqlChange(json.loads(r[0]), r[1], str(r[2]), None if r[3] is None else json.loads(r[3]))
            for r in rows
        ]

    async def typed_rows(
        self, table: str, rows: Sequence[Mapping[str, str | None]]
    ) -> list[dict[str, Any]]:
        """Rows given as column -> text (as the slot sends them) typed by PostgreSQL itself,
        as `table`'s row type (json_populate_record): what the item's key templates need."""
        if not rows:
            return []
        sql = (
            f"SELECT r.* FROM unnest($1::json[]) AS j(v),"
            f" json_populate_record(NULL::{quote_ident(table)}, j.v) AS r"
        )
        async with translate_errors("reading deleted rows"):
            found = await self.pool.fetch(sql, [json.dumps(dict(r)) for r in rows])
        return [dict(r) for r in found]

    async def sql_changes_done(self, done: Sequence[tuple[KeyValue, str]]) -> None:
        """Forget judged changes, unless a newer change of the record has arrived since."""
        if not done:
            return
        sql = (
            f"DELETE FROM {self.schema}.stream_sql_changes c USING"
            " unnest($1::jsonb[], $2::text[]::pg_lsn[]) AS d(record_key, lsn)"
            " WHERE c.record_key = d.record_key AND c.lsn = d.lsn"
        )
        async with translate_errors("forgetting judged SQL changes"):
            await self.pool.execute(sql, [key_json(k) for k, _ in done], [lsn for _, lsn in done])

    async def sql_changes_waiting(self) -> tuple[int, datetime | None]:
        sql = f"SELECT count(*), min(changed_at) FROM {self.schema}.stream_sql_changes"
        async with translate_errors("counting waiting SQL changes"):
            row = await self.pool.fetchrow(sql)
        return (0, None) if row is None else (int(row[0]), row[1])


def _canonical(text: str) -> str:
    """jsonb's text of a key, as `key_json` writes it (a JSON string may be re-escaped)."""
    return key_json(json.loads(text)) if text.startswith('"') else text


__all__ = ["SavedPosition", "SqlChange", "StreamState", "key_json"]
