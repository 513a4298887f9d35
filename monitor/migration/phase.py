"""The current migration phase, read from `<schema>.phase_history` (CONTRACT §4b).

The phase is the last recorded change's (`latest_change`; `history` records them). The one
reader of the phase: the dual writer, the gates, repair and the daemon all call it.
`StatePhase` caches the answer for a few seconds so that a write costs no extra round trip;
a rollback is followed within that time. Without the table (no monitor has created its schema
in this database yet) the phase is `dual_write`: a writer is only deployed to dual write.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from monitor.core.phases import Phase
from monitor.stores.postgres import quote_ident, translate_errors

#: The phase when the monitor's schema does not exist in the writer's database.
DEFAULT_PHASE = Phase.DUAL_WRITE
#: Where the phase is read: the pool, or a transaction's connection.
Connection: TypeAlias = "asyncpg.Pool | PoolConnectionProxy[asyncpg.Record]"


class PhaseSource(Protocol):
    async def current(self) -> Phase: ...


class FixedPhase:
    """A phase that never changes (tests, benchmarks, an application that pins it)."""

    def __init__(self, phase: Phase = DEFAULT_PHASE) -> None:
        self.phase = phase

    async def current(self) -> Phase:
        return self.phase


@dataclass(frozen=True, slots=True)
class PhaseChange:
    from_phase: Phase | None
    to_phase: Phase
    at: datetime
    by: str
    evidence: Mapping[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {
            "from": None if self.from_phase is None else str(self.from_phase),
            "to": str(self.to_phase),
            "at": self.at.isoformat().replace("+00:00", "Z"),
            "by": self.by,
            "evidence": dict(self.evidence),
        }


def phase_change(row: asyncpg.Record) -> PhaseChange:
    """A `phase_history` row (from_phase, to_phase, at, changed_by, evidence) as a change."""
    return PhaseChange(
        from_phase=None if row[0] is None else Phase(row[0]),
        to_phase=Phase(row[1]),
        at=row[2],
        by=row[3],
        evidence=json.loads(row[4]),
    )


def history_table(schema: str) -> str:
    return f"{quote_ident(schema)}.phase_history"


#: What the history says: whether its table exists, and its last change.
_History = tuple[bool, PhaseChange | None]


async def _latest(conn: Connection, schema: str, doing: str) -> _History:
    table = history_table(schema)
    async with translate_errors(doing):
        if not await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", table):
            return False, None
        row = await conn.fetchrow(
            f"SELECT from_phase, to_phase, at, changed_by, evidence FROM {table}"
            " ORDER BY id DESC LIMIT 1"
        )
    return True, None if row is None else phase_change(row)


async def latest_change(conn: Connection, schema: str) -> PhaseChange | None:
    """The last recorded change (the current phase and since when); None before any."""
    return (await _latest(conn, schema, "reading the phase history"))[1]


async def current_phase(conn: Connection, schema: str) -> Phase:
    """The latest recorded phase; `DEFAULT_PHASE` when the history table does not exist.

    `conn` is the pool, or the connection of a transaction that is about to record a change.
    """
    exists, latest = await _latest(conn, schema, "reading the migration phase")
    if not exists:
        return DEFAULT_PHASE
    # An empty history cannot come from the migration (it records sql_only); read it as such.
    return Phase.SQL_ONLY if latest is None else latest.to_phase


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
