"""The mapped SQL table behind one pool: its quoted identifiers, and what the catalog says."""

from __future__ import annotations

from dataclasses import replace

import asyncpg

from monitor.core.mapping import TableMapping
from monitor.stores.postgres.driver import key_kind_of, quote_ident, translate_errors


class SqlTable:
    """The pool and the mapping, with every identifier a statement needs validated and quoted."""

    def __init__(self, pool: asyncpg.Pool, mapping: TableMapping) -> None:
        self.pool = pool
        self.mapping = mapping
        m = mapping
        self._table = quote_ident(m.sql_table)
        self._key = quote_ident(m.key_column)
        self._ts = quote_ident(m.timestamp_column)
        self._status = quote_ident(m.status_column)
        self._partition = [quote_ident(c) for c in m.partition_columns]
        self._row_columns = ", ".join(quote_ident(c) for c in m.row_columns)

    async def learn_key_kind(self) -> None:
        """Read the key column's type from the catalog into `mapping.key_kind`.

        An item whose key attribute has the other DynamoDB type is then `invalid_data`, not a
        key that can never match (and not a comparison of text with numbers). Unknown while the
        table does not exist yet (before `setup`).
        """
        sql = (
            "SELECT format_type(atttypid, NULL) FROM pg_attribute"
            " WHERE attrelid = to_regclass($1) AND attname = $2 AND NOT attisdropped"
        )
        async with translate_errors("reading the key column's type"):
            type_name = await self.pool.fetchval(sql, self._table, self.mapping.key_column)
        if type_name is not None:
            self.mapping = replace(self.mapping, key_kind=key_kind_of(str(type_name)))

    def _in_range(self, first_param: int = 1) -> str:
        """`ts >= $first AND ts < $first+1`: the window's half-open time range."""
        return f"{self._ts} >= ${first_param} AND {self._ts} < ${first_param + 1}"

    def _slice_where(self) -> tuple[str, int]:
        """One partition's part of a time range: `p1 = $1 AND … AND <in range>`, the
        partition values bound first, then start and end; with the next free parameter."""
        n = len(self._partition)
        equal = [f"{column} = ${1 + i}" for i, column in enumerate(self._partition)]
        return " AND ".join([*equal, self._in_range(n + 1)]), n + 3
