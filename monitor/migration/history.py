"""Recording phase changes in `<schema>.phase_history`: gates step forward, rollback steps back.

Every change names where it came from, who made it and the evidence that allowed it. A change is
recorded only if the phase is still the one it started from (two operators racing, or a gate
that passed against a phase someone rolled back meanwhile, get an error instead of a skipped step).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import asyncpg

from monitor.core.phases import Phase
from monitor.errors import UsageError
from monitor.migration.phase import PhaseChange, current_phase, history_table, phase_change
from monitor.stores.postgres import translate_errors

#: Serialises phase changes across processes (any constant unique to this table).
_PHASE_LOCK = 0x6477_6D70_6801


class PhaseConflict(UsageError):
    """The phase is not the one a change starts from; nothing was recorded."""


async def phase_history(pool: asyncpg.Pool, schema: str) -> list[PhaseChange]:
    """Every recorded change, oldest first."""
    async with translate_errors("reading the phase history"):
        rows = await pool.fetch(
            f"SELECT from_phase, to_phase, at, changed_by, evidence FROM {history_table(schema)}"
            " ORDER BY id"
        )
    return [phase_change(row) for row in rows]


async def record_change(
    pool: asyncpg.Pool,
    schema: str,
    *,
    expected: Phase,
    to: Phase,
    by: str,
    evidence: Mapping[str, Any],
) -> PhaseChange:
    """Record `expected -> to` if the phase is still `expected`; raises PhaseConflict if not."""
    async with (
        translate_errors("recording a phase change"),
        pool.acquire() as conn,
        conn.transaction(),
    ):
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _PHASE_LOCK)
        now = await current_phase(conn, schema)
        if now is not expected:
            raise PhaseConflict(
                f"the phase is {now}, not {expected}: nothing recorded (run `phase show`)"
            )
        row = await conn.fetchrow(
            f"INSERT INTO {history_table(schema)} (from_phase, to_phase, changed_by, evidence)"
            " VALUES ($1, $2, $3, $4::jsonb) RETURNING at",
            str(expected),
            str(to),
            by,
            json.dumps(dict(evidence), default=str),
        )
    assert row is not None
    return PhaseChange(expected, to, row[0], by, evidence)


async def rollback(pool: asyncpg.Pool, schema: str, *, by: str, reason: str) -> PhaseChange:
    """One recorded step back; never past `sql_only`."""
    now = await current_phase(pool, schema)
    previous = now.previous
    if previous is None:
        raise UsageError(f"the phase is {now}: there is no earlier phase to roll back to")
    evidence: dict[str, Any] = {"rollback": True, "reason": reason}
    if now is Phase.DYNAMO_ONLY:
        # SQL writes resume now; what was written to DynamoDB alone meanwhile is the gap.
        evidence["sql_gap_since"] = await _last_entered(pool, schema, now)
    return await record_change(pool, schema, expected=now, to=previous, by=by, evidence=evidence)


async def _last_entered(pool: asyncpg.Pool, schema: str, phase: Phase) -> str | None:
    async with translate_errors("reading the phase history"):
        at = await pool.fetchval(
            f"SELECT max(at) FROM {history_table(schema)} WHERE to_phase = $1", str(phase)
        )
    return None if at is None else at.isoformat().replace("+00:00", "Z")


async def start_development_phase(pool: asyncpg.Pool, schema: str) -> PhaseChange | None:
    """`setup` created both default tables itself: a development setup starts dual writing."""
    if await current_phase(pool, schema) is not Phase.SQL_ONLY:
        return None
    return await record_change(
        pool,
        schema,
        expected=Phase.SQL_ONLY,
        to=Phase.DUAL_WRITE,
        by="setup",
        evidence={"reason": "setup created both default tables (a development setup)"},
    )
