"""The leader's advisory lock on PostgreSQL: one dedicated, non-pooled connection per replica.

A pooled connection would drop the lock when it goes back to the pool. The session carries TCP
keepalives, so the server notices a vanished replica and frees its lock; closing the session
frees it at once. Every driver failure becomes `LockSessionLost` with a one-line reason.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import anyio
import asyncpg

log = logging.getLogger(__name__)

#: Applied by the server to the lock's session: a dead peer is detected within ~25 s.
KEEPALIVES = {
    "tcp_keepalives_idle": "10",
    "tcp_keepalives_interval": "5",
    "tcp_keepalives_count": "3",
    "tcp_user_timeout": "20000",
    "application_name": "dualwrite-monitor-leader",
}
_HELD = """
SELECT EXISTS (
    SELECT 1 FROM pg_locks
    WHERE locktype = 'advisory' AND granted AND pid = pg_backend_pid() AND objsubid = 1
      AND ((classid::bigint << 32) | objid::bigint) = $1
)
"""
#: What "cannot reach PostgreSQL" looks like from asyncpg. A backend terminated while a query
#: is on its way sometimes leaves the protocol mid-operation: the next query then raises
#: InternalClientError ("cannot switch to state …") instead of a connection error.
_UNREACHABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
)


def advisory_key(name: str) -> int:
    """The advisory lock named `name`, as a positive 63-bit key (stable across releases)."""
    digest = hashlib.sha256(name.encode()).digest()
    return int.from_bytes(digest[:8], "big") & 0x7FFF_FFFF_FFFF_FFFF


class LockSessionLost(Exception):
    """The lock's connection could not be opened, or failed: whether we hold it is unknown."""


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "PostgreSQL did not answer within a heartbeat"
    return f"cannot reach PostgreSQL ({type(exc).__name__})"


@contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except _UNREACHABLE as exc:
        raise LockSessionLost(_describe(exc)) from None


class AdvisoryLockSession:
    """`pg_try_advisory_lock` and a check that it is still held, on one connection."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    @classmethod
    @asynccontextmanager
    async def connect(
        cls, dsn: str, *, connect_timeout: float
    ) -> AsyncIterator[AdvisoryLockSession]:
        """Open the session; closing it (also on cancellation) frees any lock it holds."""
        with _translated():
            conn = await asyncpg.connect(dsn, timeout=connect_timeout, server_settings=KEEPALIVES)
        try:
            yield cls(conn)
        finally:
            await _close(conn)

    async def try_acquire(self, key: int, *, answer_within: float) -> bool:
        with _translated():
            return bool(
                await self._conn.fetchval(
                    "SELECT pg_try_advisory_lock($1)", key, timeout=answer_within
                )
            )

    async def release(self, key: int, *, answer_within: float) -> None:
        """Free the lock on `key` now (closing the session frees every lock it holds)."""
        with _translated():
            await self._conn.fetchval("SELECT pg_advisory_unlock($1)", key, timeout=answer_within)

    async def holds(self, key: int, *, answer_within: float) -> bool:
        """Whether this session's lock on `key` is still granted (in `pg_locks`)."""
        with _translated():
            return bool(await self._conn.fetchval(_HELD, key, timeout=answer_within))


async def _close(conn: asyncpg.Connection) -> None:
    """Close the lock's connection (which frees the lock), bounded even when cancelled."""
    with anyio.move_on_after(2, shield=True):
        try:
            await conn.close(timeout=2)
            return
        except _UNREACHABLE:
            pass
    conn.terminate()


@asynccontextmanager
async def exclusive(
    dsn: str, key: int, *, connect_timeout: float, retry_every: float, what: str
) -> AsyncIterator[None]:
    """Hold the advisory lock `key` for the block, waiting (retrying) while another session
    holds it; leaving the block (also on cancellation) closes the session, which frees it."""
    async with AdvisoryLockSession.connect(dsn, connect_timeout=connect_timeout) as session:
        said = False
        while not await session.try_acquire(key, answer_within=connect_timeout):
            if not said:
                log.info("lock.waiting", extra={"lock": what})
                said = True
            await anyio.sleep(retry_every)
        yield
