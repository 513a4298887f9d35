"""Where the writer writes and reads: the migration phase (CONTRACT §4b, ARCHITECTURE decision 7).

The phase is a shared fact in the monitor's schema (`dualwrite_monitor.phase_history`, written by
the gates). `StatePhase` reads its latest entry, cached for a few seconds so that a write costs no
extra round trip; without that table (no gate has ever run) the phase is `dual_write`.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from typing import Protocol

import asyncpg

from monitor.stores.postgres import quote_ident, translate_errors


class Phase(enum.StrEnum):
    SQL_ONLY = "sql_only"
    DUAL_WRITE = "dual_write"
    DYNAMO_READS = "dynamo_reads"
    DYNAMO_ONLY = "dynamo_only"

    @property
    def writes_sql(self) -> bool:
        return self is not Phase.DYNAMO_ONLY

    @property
    def writes_dynamodb(self) -> bool:
        return self is not Phase.SQL_ONLY

    @property
    def reads_dynamodb(self) -> bool:
        return self in (Phase.DYNAMO_READS, Phase.DYNAMO_ONLY)


DEFAULT_PHASE = Phase.DUAL_WRITE


class PhaseSource(Protocol):
    async def current(self) -> Phase: ...


class FixedPhase:
    """A phase that never changes (tests, benchmarks, an application that pins it)."""

    def __init__(self, phase: Phase = DEFAULT_PHASE) -> None:
        self.phase = phase

    async def current(self) -> Phase:
        return self.phase


class StatePhase:
    """The latest phase recorded in `<schema>.phase_history`, cached for `ttl` seconds."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        schema: str,
        *,
        ttl: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pool = pool
        self._table = f"{quote_ident(schema)}.phase_history"
        self._regclass = f"{schema}.phase_history"
        self._ttl = ttl
        self._clock = clock
        self._cached: tuple[float, Phase] | None = None
        self.reads = 0

    async def current(self) -> Phase:
        now = self._clock()
        if self._cached is not None and now - self._cached[0] < self._ttl:
            return self._cached[1]
        phase = await self._read()
        self._cached = (now, phase)
        return phase

    async def _read(self) -> Phase:
        self.reads += 1
        async with translate_errors("reading the migration phase"), self._pool.acquire() as conn:
            if not await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", self._regclass):
                return DEFAULT_PHASE
            latest = await conn.fetchval(
                f"SELECT to_phase FROM {self._table} ORDER BY at DESC LIMIT 1"
            )
        return DEFAULT_PHASE if latest is None else Phase(str(latest))
