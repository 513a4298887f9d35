"""The checks' reads of the mapped table (the `SourceStore` port): narrow, index-friendly,
aggregates pushed down. For a slice only the columns that build key, status and sort key are
read, never whole rows."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

import asyncpg

from monitor.core.sqlnames import quote_literal
from monitor.stores.postgres.driver import quote_ident, translate_errors
from monitor.stores.postgres.table import SqlTable


class SourceReads(SqlTable):
    """Counts, checksums, slices, pending rows and rows by key."""

    async def partition_counts(
        self, start: datetime, end: datetime
    ) -> list[tuple[tuple[str, ...], int]]:
        """Records per partition value in `[start, end)`, pushed down as one GROUP BY."""
        columns = ", ".join(self._partition)
        select = f"{columns}, count(*)" if columns else "count(*)"
        group = f" GROUP BY {columns}" if columns else ""
        sql = f"SELECT {select} FROM {self._table} WHERE {self._in_range()}{group}"
        async with translate_errors("counting the window"):
            rows = await self.pool.fetch(sql, start, end)
        width = len(self._partition)
        return [
            (tuple("" if v is None else str(v) for v in tuple(row)[:width]), int(row[width]))
            for row in rows
            if all(v is not None for v in tuple(row)[:width])
        ]

    async def bucket_checksums(
        self, start: datetime, end: datetime, edges: Sequence[datetime]
    ) -> list[tuple[tuple[str, ...], int, int, int]]:
        """(partition value, bucket, rows, checksum) over `[start, end)`: one aggregate query.

        Bucket `i` (1-based) holds the rows in `[edges[i-1], edges[i])`, the last one up to
        `end`. The checksum is the exact sum of each row's (key, status) hash, computed as
        `monitor.core.checksum.key_status_hash` computes it for a DynamoDB item, so an
        unchanged bucket costs PostgreSQL this one query and no key read.
        """
        columns = ", ".join(self._partition)
        lead = f"{columns}, " if columns else ""
        key = f"{self._key}::text"
        hashed_text = f"length({key})::text || ':' || {key} || coalesce({self._status}::text, '')"
        hashed = f"('x' || substr(md5({hashed_text}), 1, 16))::bit(64)::bigint"
        sql = (
            f"SELECT {lead}width_bucket({self._ts}, $3::timestamptz[]) AS bucket, count(*),"
            f" sum({hashed}) FROM {self._table}"
            f" WHERE {self._in_range()} GROUP BY {lead}bucket"
        )
        async with translate_errors("checksumming the window"):
            rows = await self.pool.fetch(sql, start, end, list(edges))
        width = len(self._partition)
        return [
            (
                tuple(str(v) for v in tuple(row)[:width]),
                int(row[width]),
                int(row[width + 1]),
                int(row[width + 2] or 0),
            )
            for row in rows
            if all(v is not None for v in tuple(row)[:width])
        ]

    async def null_partition_count(self, start: datetime, end: datetime) -> int:
        """Rows whose partition columns are NULL: they cannot have a DynamoDB key at all."""
        if not self._partition:
            return 0
        nulls = " OR ".join(f"{c} IS NULL" for c in self._partition)
        sql = f"SELECT count(*) FROM {self._table} WHERE {self._in_range()} AND ({nulls})"
        async with translate_errors("counting rows without a partition value"):
            value = await self.pool.fetchval(sql, start, end)
        return int(value or 0)

    async def cut_points(
        self, partition: Sequence[str], start: datetime, end: datetime, pieces: int
    ) -> list[datetime]:
        """Timestamps that cut one partition's range into `pieces` slices of similar size."""
        if pieces <= 1:
            return []
        fractions = [i / pieces for i in range(1, pieces)]
        where, fractions_param = self._slice_where()
        sql = (
            f"SELECT percentile_disc(${fractions_param}::float8[])"
            f" WITHIN GROUP (ORDER BY {self._ts}) FROM {self._table} WHERE {where}"
        )
        async with translate_errors("planning slices"):
            cuts = await self.pool.fetchval(sql, *partition, start, end, fractions)
        return sorted({c for c in (cuts or ()) if c is not None and start < c < end})

    async def slice_key_status(
        self, partition: Sequence[str], start: datetime, end: datetime
    ) -> list[tuple[Any, str | None]]:
        """(key, status) of one slice: the narrowest read, an index range scan on (partition, ts).

        The sort-key columns are fetched afterwards, by key, only for the few records a finding
        names (`rows_by_keys`).
        """
        where, _ = self._slice_where()
        sql = f"SELECT {self._key}, {self._status} FROM {self._table} WHERE {where}"
        async with translate_errors("reading a slice"):
            rows = await self.pool.fetch(sql, *partition, start, end)
        return [(row[0], row[1]) for row in rows]

    async def fetch_rows(
        self, columns: Sequence[str], where_sql: str, *params: Any
    ) -> Sequence[Mapping[str, Any]]:
        """For checks building their own narrow query: quoted columns, bound parameters."""
        select = ", ".join(quote_ident(c) for c in columns)
        sql = f"SELECT {select} FROM {self._table} WHERE {where_sql}"
        async with translate_errors("reading rows"):
            rows = await self.pool.fetch(sql, *params)
        return cast(Sequence[Mapping[str, Any]], rows)

    def pending_query(
        self,
        start: datetime,
        end: datetime,
        *,
        after: tuple[datetime, Any] | None = None,
        limit: int | None = None,
    ) -> tuple[str, tuple[Any, ...]]:
        """The statement `pending_rows` (and each `pending_batches` page) runs, with its
        parameters (tests EXPLAIN it). `after` is the (timestamp, key) the previous page ended on.
        """
        # The pending value is a literal, quoted as in setup's DDL: the planner can use the
        # partial index `<table>_dwm_pending ... WHERE status = '<pending>'` only when the
        # query's predicate is that same constant, never a bound parameter.
        pending = quote_literal(self.mapping.status_values.pending)
        sql = (
            f"SELECT {self._row_columns} FROM {self._table}"
            f" WHERE {self._status} = {pending} AND {self._in_range()}"
        )
        params: tuple[Any, ...] = (start, end)
        if after is not None:
            # Keyset pagination: the plain `ts >= $3` keeps the scan on the index.
            sql += f" AND {self._ts} >= $3 AND ({self._ts}, {self._key}) > ($3, $4)"
            params += after
        if limit is not None:
            sql += f" ORDER BY {self._ts}, {self._key} LIMIT {int(limit)}"
        return sql, params

    async def pending_rows(self, start: datetime, end: datetime) -> Sequence[Mapping[str, Any]]:
        """Key, status and key-template columns of the pending rows in `[start, end)`.

        Costs what is pending, not the window: the partial index on the pending status.
        """
        sql, params = self.pending_query(start, end)
        async with translate_errors("reading pending rows"):
            rows = await self.pool.fetch(sql, *params)
        return cast(Sequence[Mapping[str, Any]], rows)

    async def pending_batches(
        self, start: datetime, end: datetime, size: int
    ) -> AsyncIterator[Sequence[Mapping[str, Any]]]:
        """`pending_rows`, at most `size` rows at a time in (timestamp, key) order, so that a
        window with a million pending rows is held a page at a time, never whole."""
        after: tuple[datetime, Any] | None = None
        ts, key = self.mapping.timestamp_column, self.mapping.key_column
        while True:
            sql, params = self.pending_query(start, end, after=after, limit=size)
            async with translate_errors("reading pending rows"):
                rows = await self.pool.fetch(sql, *params)
            if rows:
                yield cast(Sequence[Mapping[str, Any]], rows)
            if len(rows) < size:
                return
            after = (rows[-1][ts], rows[-1][key])

    async def status_counts(self, start: datetime, end: datetime) -> dict[str | None, int]:
        """Rows per write status in `[start, end)`, pushed down as one GROUP BY."""
        sql = (
            f"SELECT {self._status}, count(*) FROM {self._table}"
            f" WHERE {self._in_range()} GROUP BY {self._status}"
        )
        async with translate_errors("counting the window by status"):
            rows = await self.pool.fetch(sql, start, end)
        return {None if row[0] is None else str(row[0]): int(row[1]) for row in rows}

    async def rows_by_keys(self, keys: Sequence[Any]) -> Sequence[Mapping[str, Any]] | None:
        """Key, status and key-template columns of the rows with these keys: one `= ANY($1)`.

        Pass keys of one type. None when the key column cannot hold them (text keys for a
        bigint column, an integer beyond its range): then no row can have them.
        """
        sql = f"SELECT {self._row_columns} FROM {self._table} WHERE {self._key} = ANY($1)"
        async with translate_errors("reading rows by key"):
            try:
                rows = await self.pool.fetch(sql, list(keys))
            except asyncpg.DataError:
                return None
        return cast(Sequence[Mapping[str, Any]], rows)

    async def rows_with_columns(
        self, keys: Sequence[Any], columns: Sequence[str]
    ) -> Sequence[Mapping[str, Any]] | None:
        """`columns` of the rows with these keys: one `= ANY($1)`. None as for `rows_by_keys`."""
        select = ", ".join(quote_ident(c) for c in dict.fromkeys(columns))
        sql = f"SELECT {select} FROM {self._table} WHERE {self._key} = ANY($1)"
        async with translate_errors("reading changed rows by key"):
            try:
                rows = await self.pool.fetch(sql, list(keys))
            except asyncpg.DataError:
                return None
        return cast(Sequence[Mapping[str, Any]], rows)

    async def table_columns(self) -> frozenset[str]:
        """The mapped table's column names, from a prepared `SELECT * … LIMIT 0` (reads no row)."""
        async with translate_errors("reading the table's columns"), self.pool.acquire() as conn:
            statement = await conn.prepare(f"SELECT * FROM {self._table} LIMIT 0")
            return frozenset(attribute.name for attribute in statement.get_attributes())
