"""PostgreSQL adapter (asyncpg): narrow, index-friendly reads of the mapped table.

Identifiers come from config, are validated there and quoted here; values are always bound
parameters. Every statement runs under `statement_timeout`. For a slice only the columns that
build key, status and sort key are read — never whole rows.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, cast

import anyio
import asyncpg
from asyncpg.pool import PoolConnectionProxy

from monitor.config import PostgresSettings
from monitor.core.mapping import KeyKind, TableMapping, is_sql_identifier
from monitor.core.sampling import SqlSample, keep_probability, pick_rows
from monitor.core.sqlnames import quote_literal
from monitor.errors import StoreError, StoreUnavailable

log = logging.getLogger(__name__)

STORE = "PostgreSQL"

#: Driver exceptions that mean "the server is not there or went away": transient.
TRANSIENT_EXCEPTIONS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.CannotConnectNowError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.InterfaceError,
    asyncpg.TooManyConnectionsError,
    asyncpg.AdminShutdownError,
)


def quote_ident(name: str) -> str:
    """Quote a validated identifier, or `schema.table`; refuse anything else."""
    parts = name.split(".")
    if not 1 <= len(parts) <= 2 or not all(is_sql_identifier(p) for p in parts):
        raise ValueError(f"unsafe SQL identifier {name!r}")
    return ".".join('"' + p + '"' for p in parts)


_NUMBER_TYPES = frozenset({"smallint", "integer", "bigint", "numeric"})


def key_kind_of(type_name: str) -> KeyKind | None:
    """The key kind of a PostgreSQL column type (`format_type` text); None for other types."""
    if type_name in _NUMBER_TYPES:
        return KeyKind.NUMBER
    if type_name == "text" or type_name.startswith(("character", "varchar")):
        return KeyKind.TEXT
    return None


async def execute_one(conn: asyncpg.Connection | PoolConnectionProxy, sql: str) -> None:
    """Run one DDL statement through the extended protocol, which refuses a second statement.

    `Connection.execute` without arguments uses the simple protocol, where `a; b` runs both: a
    value that ever escaped its literal could then append a statement of its own.
    """
    statement = await conn.prepare(sql)
    await statement.fetch()


@asynccontextmanager
async def translate_errors(what: str) -> AsyncIterator[None]:
    """Turn driver exceptions into the monitor's error tree, with a message that says what next."""
    try:
        yield
    except asyncpg.QueryCanceledError:
        raise StoreUnavailable(STORE, f"{what}: statement timed out (statement_timeout)") from None
    except (asyncpg.UndefinedTableError, asyncpg.UndefinedColumnError) as exc:
        raise StoreError(
            STORE, f"{what}: {exc.args[0] if exc.args else exc}; check [mapping] in config.toml"
        ) from None
    except asyncpg.InvalidPasswordError:
        raise StoreError(
            STORE, "authentication failed; check the DSN's user and password"
        ) from None
    except asyncpg.InvalidCatalogNameError as exc:
        raise StoreError(STORE, f"{exc.args[0] if exc.args else exc}") from None
    except TimeoutError:
        raise StoreUnavailable(STORE, f"{what}: no answer in time (TimeoutError)") from None
    except TRANSIENT_EXCEPTIONS as exc:
        raise StoreUnavailable(STORE, f"{what}: {type(exc).__name__}: {exc}") from None
    except asyncpg.PostgresError as exc:
        raise StoreError(STORE, f"{what}: {type(exc).__name__}: {exc}") from None


#: A graceful close waits for connections to be released; a hung server must not hold it.
CLOSE_TIMEOUT = 5.0


async def close_pool(pool: asyncpg.Pool) -> None:
    """Close gracefully within CLOSE_TIMEOUT, else terminate; never raise.

    Runs in a `finally`: an error here would replace the one that caused the close (a hung
    server's statement timeout would turn into a bare TimeoutError from `close`).
    """
    with anyio.move_on_after(CLOSE_TIMEOUT, shield=True) as scope:
        try:
            await pool.close()
        except Exception as exc:  # the connection is gone either way; say so in one line
            log.warning("closing the PostgreSQL pool failed (%s); terminated", type(exc).__name__)
            pool.terminate()
            return
    if scope.cancelled_caught:
        log.warning("closing the PostgreSQL pool took over %.0fs; terminated", CLOSE_TIMEOUT)
        pool.terminate()


@dataclass(frozen=True, slots=True)
class SampleQueries:
    """The sampler's statements (see `monitor.checks.sampling` for how the draw works)."""

    #: $1 start, $2 end -> count
    count: str
    #: $1 start, $2 end, $3 keep-probability -> the kept records' timestamps
    draw: str
    #: $1 timestamps, $2 start, $3 end -> rows at those timestamps
    at: str
    #: $1 start, $2 end -> every row of the window (only used when it is small)
    every: str


def sample_queries(mapping: TableMapping, columns: Sequence[str]) -> SampleQueries:
    """The sampler's statements: identifiers quoted, every value a bound parameter."""
    table = quote_ident(mapping.sql_table)
    ts = quote_ident(mapping.timestamp_column)
    select = ", ".join(quote_ident(c) for c in dict.fromkeys(columns))
    window = f"{ts} >= $1 AND {ts} < $2"
    return SampleQueries(
        count=f"SELECT count(*) FROM {table} WHERE {window}",
        # random() is volatile: evaluated once per row of the index range, never sorted on.
        draw=f"SELECT {ts} FROM {table} WHERE {window} AND random() < $3",
        at=(
            f"SELECT {select} FROM {table}"
            f" WHERE {ts} = ANY($1::timestamptz[]) AND {ts} >= $2 AND {ts} < $3"
        ),
        every=f"SELECT {select} FROM {table} WHERE {window}",
    )


def _rows(records: Sequence[Any]) -> list[Mapping[str, Any]]:
    # asyncpg's Record reads like a Mapping (`row[name]`, `.get`).
    return cast(list[Mapping[str, Any]], list(records))


class PostgresStore:
    """Narrow reads of the mapped SQL table. Construct with `PostgresStore.open`."""

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
                command_timeout=settings.statement_timeout.total_seconds() + 5,
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

    def _partition_filter(self, first_param: int) -> str:
        return " AND ".join(
            f"{column} = ${first_param + i}" for i, column in enumerate(self._partition)
        )

    async def partition_counts(
        self, start: datetime, end: datetime
    ) -> list[tuple[tuple[str, ...], int]]:
        """Records per partition value in `[start, end)`, pushed down as one GROUP BY."""
        columns = ", ".join(self._partition)
        select = f"{columns}, count(*)" if columns else "count(*)"
        group = f" GROUP BY {columns}" if columns else ""
        sql = (
            f"SELECT {select} FROM {self._table} WHERE {self._ts} >= $1 AND {self._ts} < $2{group}"
        )
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
            f" WHERE {self._ts} >= $1 AND {self._ts} < $2 GROUP BY {lead}bucket"
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
        sql = (
            f"SELECT count(*) FROM {self._table}"
            f" WHERE {self._ts} >= $1 AND {self._ts} < $2 AND ({nulls})"
        )
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
        n = len(self._partition)
        where = self._partition_filter(1)
        where = f"{where} AND " if where else ""
        sql = (
            f"SELECT percentile_disc(${n + 3}::float8[]) WITHIN GROUP (ORDER BY {self._ts})"
            f" FROM {self._table} WHERE {where}{self._ts} >= ${n + 1} AND {self._ts} < ${n + 2}"
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
        n = len(self._partition)
        where = self._partition_filter(1)
        where = f"{where} AND " if where else ""
        sql = (
            f"SELECT {self._key}, {self._status} FROM {self._table}"
            f" WHERE {where}{self._ts} >= ${n + 1} AND {self._ts} < ${n + 2}"
        )
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
            f" WHERE {self._status} = {pending} AND {self._ts} >= $1 AND {self._ts} < $2"
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
            f" WHERE {self._ts} >= $1 AND {self._ts} < $2 GROUP BY {self._status}"
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

    async def sample_window(
        self,
        start: datetime,
        end: datetime,
        size: int,
        columns: Sequence[str],
        *,
        rng: random.Random,
        seed: float | None = None,
    ) -> SqlSample:
        """A uniform sample of the window: count, Bernoulli draw of timestamps, rows by timestamp.

        One connection for the whole draw, so `setseed` applies to the `random()` that follows.
        """
        queries = sample_queries(self.mapping, columns)
        async with translate_errors("sampling the window"), self.pool.acquire() as conn:
            population = int(await conn.fetchval(queries.count, start, end) or 0)
            if population <= size:
                rows = _rows(await conn.fetch(queries.every, start, end))
                if len(rows) > size:  # records arrived since the count
                    rows = rng.sample(rows, size)
                return SqlSample(rows, population, "all", 1.0)
            rate = keep_probability(population, size)
            if seed is not None:
                await conn.execute("SELECT setseed($1)", seed)
            kept = sorted(row[0] for row in await conn.fetch(queries.draw, start, end, rate))
            chosen = Counter(rng.sample(kept, min(size, len(kept))))
            rows = _rows(await conn.fetch(queries.at, sorted(chosen), start, end)) if chosen else []
        m = self.mapping
        picked = pick_rows(rows, chosen, m.timestamp_column, m.key_column, rng)
        return SqlSample(picked, population, "bernoulli", rate)

    # --- the dual writer's side (monitor.writer): idempotent by transaction id ------------

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

    # --- repair's side (monitor.repair): every write conditional ---------------------------

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
