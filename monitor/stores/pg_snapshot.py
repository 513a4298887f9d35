"""PostgreSQL adapter: the mapped table's keys, as of one consistent snapshot, to CSV files.

One connection opens a REPEATABLE READ, READ ONLY transaction and exports its snapshot
(`pg_export_snapshot`); each stream opens its own transaction on that same snapshot (`SET
TRANSACTION SNAPSHOT`) and COPYs one range of the table's pages to its own file, so the files
together are the table at one instant however long the copy takes. Each row is `key, status,
pk, sk` and, when fields are compared, one value per field computed in SQL: the md5 of its
canonical text (`column::text`), or its time in epoch microseconds. The partition and sort keys are rendered
in SQL from the key templates, so the Spark job needs no template logic; for DuckDB, which
renders them itself (`render_keys=False`), each row is `key, status`, the templates' other
columns (the timestamp in epoch microseconds, any other as `column::text`), then the fields:
`to_char` and the longer rows cost PostgreSQL and the COPY client about half of the COPY.

Identifiers are validated and quoted; every value (bounds, template literals, time formats) is
a bound parameter.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import anyio
import asyncpg

from monitor.config import PostgresSettings
from monitor.core.mapping import (
    KeyKind,
    KeyTemplate,
    Placeholder,
    TableMapping,
)
from monitor.core.sqlnames import quote_literal
from monitor.core.timefmt import translate_time_format
from monitor.errors import StoreError
from monitor.stores.postgres import (
    STORE,
    key_fits_int64,
    key_kind_of,
    quote_ident,
    translate_errors,
)

#: strftime directive -> to_char pattern (the directives a key template may use).
_TO_CHAR = {"%Y": "YYYY", "%m": "MM", "%d": "DD", "%H": "HH24", "%M": "MI", "%S": "SS", "%f": "US"}
_SNAPSHOT_ID = re.compile(r"[0-9A-F]+-[0-9A-F]+(-[0-9]+)?")

#: How a field's value is exported: the md5 of its text, or a time in epoch microseconds.
FieldValue = Literal["md5", "epoch_us"]


@dataclass(frozen=True, slots=True)
class ExportedField:
    column: str
    value: FieldValue


@dataclass(frozen=True, slots=True)
class Snapshot:
    files: tuple[Path, ...]
    snapshot_id: str
    key_kind: KeyKind
    #: The CSV columns, in order.
    columns: tuple[str, ...]
    #: With `render_keys=False`: (CSV column, template column) of each raw template column.
    raw_keys: tuple[tuple[str, str], ...] = ()


def raw_key_columns(mapping: TableMapping) -> list[str]:
    """The template columns a snapshot without rendered keys exports (the key is already in)."""
    columns = [*mapping.partition_template.columns, *mapping.sort_template.columns]
    return [c for c in dict.fromkeys(columns) if c != mapping.key_column]


def raw_key_sql(mapping: TableMapping, column: str) -> str:
    """The timestamp column in epoch microseconds (exact from PostgreSQL 14), others as text."""
    if column == mapping.timestamp_column:
        return f"(extract(epoch FROM {quote_ident(column)}) * 1000000)::bigint"
    return f"{quote_ident(column)}::text"


def to_char_format(fmt: str) -> str:
    """A strftime format of key-template directives as a to_char format (literals quoted)."""
    return translate_time_format(
        fmt, _TO_CHAR, lambda c: '"' + c.replace("\\", "\\\\").replace('"', '\\"') + '"'
    )


class _Params:
    """Collects bound parameters, handing out their `$n` placeholders."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def bind(self, value: Any, cast: str = "") -> str:
        self.values.append(value)
        return f"${len(self.values)}{cast}"


def template_sql(template: KeyTemplate, params: _Params) -> str:
    """A SQL expression rendering `template` from a row; NULL when a column is NULL."""
    pieces: list[str] = []
    for part in template.parts:
        if isinstance(part, str):
            pieces.append(params.bind(part, "::text"))
        elif isinstance(part, Placeholder) and part.time_format is not None:
            fmt = params.bind(to_char_format(part.time_format), "::text")
            pieces.append(f"to_char({quote_ident(part.column)}, {fmt})")
        else:
            pieces.append(f"{quote_ident(part.column)}::text")
    return "(" + " || ".join(pieces) + ")"


def field_sql(item: ExportedField) -> str:
    column = quote_ident(item.column)
    if item.value == "epoch_us":
        return f"(extract(epoch FROM {column}) * 1000000)::bigint"
    return f"md5({column}::text)"


def snapshot_query(
    mapping: TableMapping,
    fields: Sequence[ExportedField],
    start: datetime | None,
    end: datetime,
    blocks: BlockRange | None,
    *,
    render_keys: bool = True,
) -> tuple[str, list[Any]]:
    """The snapshot's SELECT of `[start, end)` (`blocks`: one stream's pages of the table)."""
    params = _Params()
    table = quote_ident(mapping.sql_table)
    key, ts = quote_ident(mapping.key_column), quote_ident(mapping.timestamp_column)
    status = quote_ident(mapping.status_column)
    keys = (
        [
            template_sql(mapping.partition_template, params),
            template_sql(mapping.sort_template, params),
        ]
        if render_keys
        else [raw_key_sql(mapping, c) for c in raw_key_columns(mapping)]
    )
    select = [key, status, *keys, *(field_sql(f) for f in fields)]
    where = [f"{ts} < {params.bind(end)}"]
    if start is not None:
        where.append(f"{ts} >= {params.bind(start)}")
    if blocks is not None:
        first, stop = blocks
        if first > 0:
            where.append(f"ctid >= {params.bind((first, 0), '::tid')}")
        if stop is not None:
            where.append(f"ctid < {params.bind((stop, 0), '::tid')}")
    sql = f"SELECT {', '.join(select)} FROM {table} WHERE {' AND '.join(where)}"
    return sql, params.values


#: Pages [first, stop) of a table; stop None: to its end, whatever its size by then.
BlockRange = tuple[int, int | None]


def split_blocks(pages: int, streams: int) -> list[BlockRange]:
    """A table's pages cut into `streams` ranges that cover it exactly, from page 0 to its end.

    Each stream's COPY reads its own pages (a TID range scan): each tuple is on one page, so
    the streams together read every row once, and no stream reads the whole table (a key
    range was an index scan of its half)."""
    streams = max(1, min(streams, pages))
    edges = [pages * i // streams for i in range(streams)]
    return [(a, b) for a, b in zip(edges, edges[1:], strict=False)] + [(edges[-1], None)]


async def table_pages(conn: asyncpg.Connection, table: str) -> int:
    """How many pages `table` (a quoted identifier) has now: what `split_blocks` cuts up."""
    pages = await conn.fetchval(
        "SELECT pg_relation_size($1::regclass) / current_setting('block_size')::int", table
    )
    return int(pages or 0)


async def _begin(conn: asyncpg.Connection, copy_timeout: timedelta) -> None:
    await conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    # A whole-table COPY outlives the interactive statement_timeout by design; it has its own.
    await conn.execute(f"SET LOCAL statement_timeout = {int(copy_timeout.total_seconds() * 1000)}")
    await conn.execute("SET LOCAL TimeZone = 'UTC'")


@asynccontextmanager
async def _connection(settings: PostgresSettings) -> AsyncIterator[asyncpg.Connection]:
    async with translate_errors(f"cannot connect to {settings.servers}"):
        conn = await asyncpg.connect(
            settings.dsn.get_secret_value(),
            timeout=settings.connect_timeout.total_seconds(),
            server_settings={"application_name": "dualwrite-monitor verify"},
        )
    try:
        yield conn
    finally:
        with anyio.move_on_after(5, shield=True):
            await conn.close()


async def _key_type(conn: asyncpg.Connection, mapping: TableMapping) -> str | None:
    value = await conn.fetchval(
        "SELECT format_type(atttypid, NULL) FROM pg_attribute"
        " WHERE attrelid = to_regclass($1) AND attname = $2 AND NOT attisdropped",
        quote_ident(mapping.sql_table),
        mapping.key_column,
    )
    return None if value is None else str(value)


@dataclass(frozen=True, slots=True)
class KeyColumn:
    kind: KeyKind
    #: Whether every value the column can hold fits in 64 bits (DuckDB's BIGINT).
    int64: bool


async def key_column_of_table(settings: PostgresSettings, mapping: TableMapping) -> KeyColumn:
    """The key column's kind, from the catalog; a missing table or column is a StoreError."""
    async with _connection(settings) as conn, translate_errors("reading the key column's type"):
        type_name = await _key_type(conn, mapping)
    return KeyColumn(_kind(type_name, mapping), key_fits_int64(type_name))


def _kind(type_name: str | None, mapping: TableMapping) -> KeyKind:
    if type_name is None:
        raise StoreError(
            STORE, f"table {mapping.sql_table} or its column {mapping.key_column} does not exist"
        )
    kind = key_kind_of(type_name)
    if kind is None:
        raise StoreError(STORE, f"{mapping.key_column} is {type_name}, not a number or text")
    return kind


#: What the COPY's client gathers before one write to its file.
_WRITE_BYTES = 4 << 20


async def _copy_to_file(
    conn: asyncpg.Connection, sql: str, args: Sequence[Any], path: Path
) -> None:
    """COPY `sql` as CSV into `path`, written in blocks of `_WRITE_BYTES` from a thread.

    Given a path, asyncpg hands every buffer it receives to a thread of its own, one hop per
    network read; gathered, the COPY of 1M rows took 1.5 s of wall time instead of 2.1-2.8
    beside DuckDB's read of the export (`bench/verify_export.py`)."""
    pending = bytearray()
    async with await anyio.open_file(path, "wb") as out:

        async def gather(data: bytes) -> None:
            pending.extend(data)
            if len(pending) >= _WRITE_BYTES:
                await out.write(bytes(pending))
                pending.clear()

        await conn.copy_from_query(sql, *args, output=gather, format="csv")
        await out.write(bytes(pending))


async def export_snapshot(
    settings: PostgresSettings,
    mapping: TableMapping,
    out_dir: Path,
    *,
    start: datetime | None,
    end: datetime,
    fields: Sequence[ExportedField] = (),
    streams: int = 2,
    copy_timeout: timedelta = timedelta(hours=6),
    progress: Callable[[int, int], None] | None = None,
    render_keys: bool = True,
) -> Snapshot:
    """COPY the rows of `[start, end)` to `out_dir/sql-NNN.csv`, `streams` files at once."""
    await anyio.Path(out_dir).mkdir(parents=True, exist_ok=True)
    table = quote_ident(mapping.sql_table)
    async with _connection(settings) as lead:
        async with translate_errors("opening the snapshot"):
            await _begin(lead, copy_timeout)
            snapshot_id = str(await lead.fetchval("SELECT pg_export_snapshot()"))
            type_name = await _key_type(lead, mapping)
        kind = _kind(type_name, mapping)
        if not _SNAPSHOT_ID.fullmatch(snapshot_id):
            raise StoreError(STORE, f"unexpected snapshot id {snapshot_id!r}")
        ranges: list[BlockRange | None] = [None]
        if streams > 1:
            async with translate_errors("reading the table's size"):
                pages = await table_pages(lead, table)
            if pages:
                ranges = list(split_blocks(pages, streams))
        files = tuple(out_dir / f"sql-{i:03d}.csv" for i in range(len(ranges)))
        done = 0

        async def copy(index: int, blocks: BlockRange | None) -> None:
            nonlocal done
            sql, args = snapshot_query(mapping, fields, start, end, blocks, render_keys=render_keys)
            async with _connection(settings) as conn, translate_errors("copying the snapshot"):
                await _begin(conn, copy_timeout)
                await conn.execute(f"SET TRANSACTION SNAPSHOT {quote_literal(snapshot_id)}")
                await _copy_to_file(conn, sql, args, files[index])
                await conn.execute("COMMIT")
            done += 1
            if progress is not None:
                progress(done, len(ranges))

        async with anyio.create_task_group() as group:
            for index, blocks in enumerate(ranges):
                group.start_soon(copy, index, blocks)
        async with translate_errors("closing the snapshot"):
            await lead.execute("COMMIT")
    values = tuple(f"f_{i}" for i in range(len(fields)))
    if render_keys:
        return Snapshot(files, snapshot_id, kind, ("key", "status", "pk", "sk", *values))
    raw = tuple((f"t_{i}", c) for i, c in enumerate(raw_key_columns(mapping)))
    return Snapshot(files, snapshot_id, kind, ("key", "status", *(c for c, _ in raw), *values), raw)
