"""The driver's edge: identifiers quoted, driver errors translated, one statement at a time,
the pool closed within a deadline. Every PostgreSQL module of the monitor builds on these."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import asyncpg
from asyncpg.pool import PoolConnectionProxy

from monitor.core.mapping import KeyKind, is_sql_identifier
from monitor.errors import StoreError, StoreUnavailable

#: The adapter's logger, as before the adapter was split into modules.
log = logging.getLogger("monitor.stores.postgres")

STORE = "PostgreSQL"

#: Driver exceptions that mean "the server is not there or went away": transient. A backend
#: terminated mid-query can leave asyncpg's protocol mid-operation, so the connection's next
#: query raises InternalClientError ("cannot switch to state …"): the same outage.
TRANSIENT_EXCEPTIONS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.CannotConnectNowError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    asyncpg.TooManyConnectionsError,
    asyncpg.AdminShutdownError,
)


def quote_ident(name: str) -> str:
    """Quote a validated identifier, or `schema.table`; refuse anything else."""
    parts = name.split(".")
    if not 1 <= len(parts) <= 2 or not all(is_sql_identifier(p) for p in parts):
        raise ValueError(f"unsafe SQL identifier {name!r}")
    return ".".join('"' + p + '"' for p in parts)


#: Integer column types: every value fits in 64 bits.
_INT64_TYPES = frozenset({"smallint", "integer", "bigint"})
_NUMBER_TYPES = _INT64_TYPES | {"numeric"}


def key_fits_int64(type_name: str | None) -> bool:
    """Whether every value of a column of this type (`format_type` text) fits in 64 bits."""
    return type_name in _INT64_TYPES


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


#: How long the client waits past `statement_timeout` before it gives up on a statement: the
#: server cancels it first; a hung server, whose cancel never comes, is a TimeoutError.
COMMAND_GRACE = 5.0

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
