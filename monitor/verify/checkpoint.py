"""Verification runs and their finished windows, in the monitor's schema (CONTRACT §9).

A run is identified by its kind and range: an unfinished run of the same range is resumed, a
finished one never is. Each window is written once, in one statement, with its figures and
findings, only after it was wholly reconciled: a process killed mid-window leaves no trace of
that window, and the next run reads it again — never skipped, never counted twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from monitor.model import Window
from monitor.stores.postgres import translate_errors
from monitor.stores.state import StateStore
from monitor.verify.plan import VerifyPlan
from monitor.verify.results import WindowResult, finding_to_json

#: The run of `dualwrite-monitor verify`; the daemon's rolling cycle has its own kind.
COMMAND = "command"


@dataclass(frozen=True, slots=True)
class VerifyRun:
    id: int
    plan: VerifyPlan
    #: Started without `--until`: a later run without it, from the same start, resumes it.
    open_ended: bool
    started_at: datetime


class Checkpoints:
    def __init__(self, state: StateStore) -> None:
        self.pool = state.pool
        self.schema = state.schema

    async def open_run(self, kind: str, plan: VerifyPlan, *, open_ended: bool) -> VerifyRun:
        """The unfinished run of this range (resumed with the plan it started with), or a new
        one. Safe when several workers start together: one row wins, all of them use it."""
        for _ in range(3):
            found = await self._unfinished(kind, plan, open_ended)
            if found is not None:
                return found
            async with translate_errors("starting a verification run"):
                await self.pool.execute(
                    f"INSERT INTO {self.schema}.verify_runs"
                    " (kind, range_start, range_end, open_ended, window_seconds, shard_windows)"
                    " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                    kind,
                    plan.start,
                    plan.end,
                    open_ended,
                    plan.window.total_seconds(),
                    plan.shard_windows,
                )
        raise RuntimeError("a verification run could neither be found nor created")

    async def _unfinished(self, kind: str, plan: VerifyPlan, open_ended: bool) -> VerifyRun | None:
        where = "kind = $1 AND range_start = $2 AND finished_at IS NULL"
        params: list[Any] = [kind, plan.start]
        if open_ended:
            where += " AND open_ended"
        else:
            where += " AND range_end = $3"
            params.append(plan.end)
        async with translate_errors("reading verification runs"):
            row = await self.pool.fetchrow(
                "SELECT id, range_start, range_end, open_ended, window_seconds, shard_windows,"
                f" started_at FROM {self.schema}.verify_runs WHERE {where}"
                " ORDER BY id LIMIT 1",
                *params,
            )
        if row is None:
            return None
        stored = VerifyPlan(row[1], row[2], timedelta(seconds=row[4]), row[5])
        return VerifyRun(row[0], stored, row[3], row[6])

    async def done_starts(self, run_id: int) -> set[datetime]:
        async with translate_errors("reading the verification checkpoint"):
            rows = await self.pool.fetch(
                f"SELECT window_start FROM {self.schema}.verify_windows WHERE run_id = $1",
                run_id,
            )
        return {row[0] for row in rows}

    async def results(self, run_id: int) -> list[tuple[WindowResult, str, datetime]]:
        """Every finished window of the run, in order, with who did it and when."""
        async with translate_errors("reading the verification checkpoint"):
            rows = await self.pool.fetch(
                "SELECT window_start, window_end, tally, findings, done_by, done_at"
                f" FROM {self.schema}.verify_windows WHERE run_id = $1 ORDER BY window_start",
                run_id,
            )
        return [
            (
                WindowResult.from_json(Window(r[0], r[1]), json.loads(r[2]), json.loads(r[3])),
                r[4],
                r[5],
            )
            for r in rows
        ]

    async def save_window(self, run_id: int, result: WindowResult, worker: str) -> bool:
        """Record a finished window; False when it was already recorded (by another worker
        whose lock was lost): the first record stands, nothing is counted twice."""
        async with translate_errors("writing the verification checkpoint"):
            status = await self.pool.execute(
                f"INSERT INTO {self.schema}.verify_windows"
                " (run_id, window_start, window_end, tally, findings, done_by)"
                " VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, $6) ON CONFLICT DO NOTHING",
                run_id,
                result.window.start,
                result.window.end,
                json.dumps(result.tally_json()),
                json.dumps([finding_to_json(f) for f in result.findings]),
                worker,
            )
        return str(status).endswith(" 1")

    async def finish(self, run_id: int) -> None:
        """Mark the run finished (idempotent): the same range next time is a new run."""
        async with translate_errors("finishing the verification run"):
            await self.pool.execute(
                f"UPDATE {self.schema}.verify_runs SET finished_at = now()"
                " WHERE id = $1 AND finished_at IS NULL",
                run_id,
            )
