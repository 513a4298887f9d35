"""The current migration phase, read from `<schema>.phase_history` (CONTRACT §4b).

The one reader of the phase: the dual writer, the gates, repair and the daemon all call it.
`StatePhase` caches the answer for a few seconds so that a write costs no extra round trip;
a rollback is followed within that time. Without the table (no monitor has created its schema
in this database yet) the phase is `dual_write`: a writer is only deployed to dual write.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from monitor.core.phases import Phase
from monitor.stores.postgres import quote_ident, translate_errors

#: The phase when the monitor's schema does not exist in the writer's database.
DEFAULT_PHASE = Phase.DUAL_WRITE


class PhaseSource(Protocol):
    async def current(self) -> Phase: ...


class FixedPhase:
    """A phase that never changes (tests, benchmarks, an application that pins it)."""

    def __init__(self, phase: Phase = DEFAULT_PHASE) -> None:
        self.phase = phase

    async def current(self) -> Phase:
        return self.phase


async def current_phase(
    conn: asyncpg.Pool | PoolConnectionProxy[asyncpg.Record], schema: str
) -> Phase:
    """The latest recorded phase; `DEFAULT_PHASE` when the history table does not exist."""
    table = f"{quote_ident(schema)}.phase_history"
    async with translate_errors("reading the migration phase"):
        if not await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", table):
            return DEFAULT_PHASE
        latest = await conn.fetchval(f"SELECT to_phase FROM {table} ORDER BY id DESC LIMIT 1")
    # An empty history cannot come from the migration (it records sql_only); read it as such.
    return Phase.SQL_ONLY if latest is None else Phase(str(latest))


class StatePhase:
    """The recorded phase, cached for `ttl` seconds of `clock`."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        schema: str,
        *,
        ttl: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pool = pool
        self._schema = schema
        self._ttl = ttl
        self._clock = clock
        self._cached: tuple[float, Phase] | None = None
        #: Round trips made (the cache's tests count them).
        self.reads = 0

    async def current(self) -> Phase:
        now = self._clock()
        if self._cached is not None and now - self._cached[0] < self._ttl:
            return self._cached[1]
        self.reads += 1
        phase = await current_phase(self._pool, self._schema)
        self._cached = (now, phase)
        return phase
