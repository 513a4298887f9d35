"""The repair audit trail in `<schema>.repair_audit` (CONTRACT §4b, §8).

One row per action of a plan: inserted as `started`, with what the record looked like, before
the first write; completed with the result and the state after it. A run of the same plan after
a crash finds its `started` rows and completes them instead of adding new ones, and skips the
actions already `applied`. Statuses and digests only: no record data.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg

from monitor.model import KeyValue
from monitor.stores.postgres import quote_ident, translate_errors


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    action: str
    key: KeyValue
    result: str


class RepairAudit:
    def __init__(self, pool: asyncpg.Pool, schema: str, key_column: str, by: str) -> None:
        self.pool = pool
        self.table = f"{quote_ident(schema)}.repair_audit"
        self.key_column = key_column
        self.by = by

    def _key(self, key: KeyValue) -> str:
        return json.dumps({self.key_column: key})

    async def entries(self, plan_id: str) -> dict[tuple[str, KeyValue], AuditEntry]:
        """The latest row of each (action, key) of this plan."""
        async with translate_errors("reading the repair audit"):
            rows = await self.pool.fetch(
                f"SELECT id, action, record_key, result FROM {self.table}"
                " WHERE plan_id = $1 ORDER BY id",
                plan_id,
            )
        found: dict[tuple[str, KeyValue], AuditEntry] = {}
        for row in rows:
            key = json.loads(row[2])[self.key_column]
            found[(row[1], key)] = AuditEntry(row[0], row[1], key, row[3])
        return found

    async def start(
        self, plan_id: str, action: str, key: KeyValue, finding: str, before: Mapping[str, Any]
    ) -> int:
        async with translate_errors("writing the repair audit"):
            value = await self.pool.fetchval(
                f"INSERT INTO {self.table}"
                " (plan_id, action, record_key, finding, before, result, changed_by)"
                " VALUES ($1, $2, $3::jsonb, $4, $5::jsonb, 'started', $6) RETURNING id",
                plan_id,
                action,
                self._key(key),
                finding,
                json.dumps(dict(before)),
                self.by,
            )
        return int(value)

    async def finish(self, entry_id: int, result: str, after: Mapping[str, Any]) -> None:
        async with translate_errors("writing the repair audit"):
            await self.pool.execute(
                f"UPDATE {self.table} SET result = $2, after = $3::jsonb, finished_at = now()"
                " WHERE id = $1",
                entry_id,
                result,
                json.dumps(dict(after)),
            )

    async def rows(self) -> list[dict[str, Any]]:
        """Every audit row, oldest first (tests and `repair` reviewers read them)."""
        async with translate_errors("reading the repair audit"):
            rows = await self.pool.fetch(
                f"SELECT plan_id, action, record_key, finding, before, after, result, at,"
                f" changed_by FROM {self.table} ORDER BY id"
            )
        return [
            {
                "plan": r[0],
                "action": r[1],
                "key": json.loads(r[2]),
                "finding": r[3],
                "before": None if r[4] is None else json.loads(r[4]),
                "after": None if r[5] is None else json.loads(r[5]),
                "result": r[6],
                "at": r[7],
                "by": r[8],
            }
            for r in rows
        ]
