"""Writes to the mapped table: the dual writer's (the `SourceWrites` port: idempotent by
transaction id) and repair's (the `SourceRepairs` port: every write conditional)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, cast

import asyncpg

from monitor.stores.postgres.driver import quote_ident, translate_errors
from monitor.stores.postgres.table import SqlTable


class WriterWrites(SqlTable):
    """The pending insert, the status marks and the hard compensation of one transaction."""

    async def insert_pending(self, row: Mapping[str, Any], transaction_column: str) -> str | None:
        """Insert `row` in one transaction unless its key exists; the existing row's transaction
        id when it does (None: inserted). A retry of an insert that did commit finds its own id."""
        columns = list(row)
        names = ", ".join(quote_ident(c) for c in columns)
        values = ", ".join(f"${i + 1}" for i in range(len(columns)))
        insert = (
            f"INSERT INTO {self._table} ({names}) VALUES ({values})"
            f" ON CONFLICT ({self._key}) DO NOTHING RETURNING 1"
        )
        existing = (
            f"SELECT {quote_ident(transaction_column)} FROM {self._table} WHERE {self._key} = $1"
        )
        async with translate_errors("inserting a pending row"), self.pool.acquire() as conn:
            if await conn.fetchval(insert, *(row[c] for c in columns)) is not None:
                return None
            holder = await conn.fetchval(existing, row[self.mapping.key_column])
        return "" if holder is None else str(holder)

    async def set_status(
        self,
        key: Any,
        transaction_column: str,
        transaction_id: str,
        status: str,
        expected: Sequence[str],
    ) -> bool:
        """Move the row of this transaction to `status` if it is in one of `expected` (or there
        already, so a retry is a no-op). False when no row of this transaction qualifies."""
        sql = (
            f"UPDATE {self._table} SET {self._status} = $3, updated_at = now()"
            f" WHERE {self._key} = $1 AND {quote_ident(transaction_column)} = $2"
            f" AND {self._status} = ANY($4::text[]) RETURNING 1"
        )
        async with translate_errors("updating a write status"):
            done = await self.pool.fetchval(
                sql, key, transaction_id, status, list({*expected, status})
            )
        return done is not None

    async def delete_pending(self, key: Any, transaction_column: str, transaction_id: str) -> bool:
        """Hard compensation: delete the pending row of this transaction. True when no row of the
        transaction is left (a retry after a delete that went through is also True)."""
        tx = quote_ident(transaction_column)
        delete = (
            f"DELETE FROM {self._table} WHERE {self._key} = $1 AND {tx} = $2"
            f" AND {self._status} = $3 RETURNING 1"
        )
        left = f"SELECT 1 FROM {self._table} WHERE {self._key} = $1 AND {tx} = $2"
        pending = self.mapping.status_values.pending
        async with translate_errors("deleting a pending row"), self.pool.acquire() as conn:
            if await conn.fetchval(delete, key, transaction_id, pending) is not None:
                return True
            return await conn.fetchval(left, key, transaction_id) is None


class RepairWrites(SqlTable):
    """Whole rows to copy, and a status change that holds only while the row is as repair saw it."""

    async def whole_rows(self, keys: Sequence[Any]) -> Sequence[Mapping[str, Any]]:
        """Every column of the rows with these keys (repair copies them to DynamoDB)."""
        sql = f"SELECT * FROM {self._table} WHERE {self._key} = ANY($1)"
        async with translate_errors("reading rows to repair"):
            try:
                rows = await self.pool.fetch(sql, list(keys))
            except asyncpg.DataError:
                return []
        return cast(Sequence[Mapping[str, Any]], rows)

    async def conditional_status(
        self,
        key: Any,
        status: str,
        *,
        seen_status: str | None,
        seen_updated_at: datetime | None,
        updated_at_column: str | None,
    ) -> bool:
        """Set the row's status only if it still has the status (and `updated_at`) repair saw;
        False (nothing written) when it changed meanwhile."""
        sets = f"{self._status} = $2"
        where = f"{self._key} = $1 AND {self._status} IS NOT DISTINCT FROM $3"
        params: list[Any] = [key, status, seen_status]
        if updated_at_column:
            column = quote_ident(updated_at_column)
            sets += f", {column} = now()"
            where += f" AND {column} IS NOT DISTINCT FROM $4"
            params.append(seen_updated_at)
        sql = f"UPDATE {self._table} SET {sets} WHERE {where} RETURNING 1"
        async with translate_errors("repairing a write status"):
            done = await self.pool.fetchval(sql, *params)
        return done is not None
