"""Alert state in the monitor's schema: rule state, failed runs, silences, the outbox.

Everything an evaluation changes (rule states, failure counts, queued notifications) is written
in one transaction under one advisory lock, so a crash never leaves a rule fired without its
message queued, and two replicas overlapping during a leader handover take turns instead of
firing twice. A delivery is recorded with `mark_sent` in the same way.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import cast

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from monitor.core.rules import AlertState, Muting, Notification, RuleState, Silence, mark_sent
from monitor.stores.alert_codec import (
    notification_from_json,
    notification_to_json,
    observation_from_json,
    observation_to_json,
)
from monitor.stores.postgres import quote_ident, translate_errors

#: Serialises alert evaluations and delivery records across processes (any unique constant).
_ALERT_LOCK = 0x6477_6D6F_6E01

_RULE_COLUMNS = (
    "state, breach_streak, healthy_streak, streak_since, firing_since, last_sent_at,"
    " last_emitted_at, message_ref, unannounced, last_observation"
)
_WAITING = "delivered_at IS NULL AND superseded_at IS NULL"


def _waiting(alias: str) -> str:
    return f"{alias}.delivered_at IS NULL AND {alias}.superseded_at IS NULL"


@dataclass(frozen=True, slots=True)
class StoredSilence:
    id: int
    silence: Silence
    created_at: datetime
    removed_at: datetime | None = None
    removed_by: str | None = None


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    notification: Notification | None
    #: Set when the stored document cannot be read back (it is then set aside, not retried).
    unreadable: str | None
    created_at: datetime
    attempts: int


@dataclass(frozen=True, slots=True)
class OutboxStatus:
    """For /status and the logs: what is waiting, since when, and why."""

    waiting: int
    oldest: datetime | None
    next_attempt_at: datetime | None
    last_error: str | None


class AlertStore:
    def __init__(self, pool: asyncpg.Pool, schema: str) -> None:
        self.pool = pool
        self._s = quote_ident(schema)

    @asynccontextmanager
    async def evaluation(self) -> AsyncIterator[Evaluation]:
        """One transaction holding the alert lock: read state, decide, write, queue."""
        async with (
            translate_errors("updating alert state"),
            self.pool.acquire() as conn,
            conn.transaction(),
        ):
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _ALERT_LOCK)
            yield Evaluation(conn, self._s)

    # --- rule state (read-only views) ---------------------------------------------------------

    async def states(self) -> dict[str, RuleState]:
        async with translate_errors("reading alert state"), self.pool.acquire() as conn:
            return await Evaluation(conn, self._s).states(None)

    # --- silences -------------------------------------------------------------------------------

    async def add_silence(self, silence: Silence) -> StoredSilence:
        async with translate_errors("adding a silence"):
            row = await self.pool.fetchrow(
                f"INSERT INTO {self._s}.alert_silences"
                " (rule, starts_at, ends_at, reason, created_by) VALUES ($1, $2, $3, $4, $5)"
                " RETURNING id, created_at",
                silence.rule,
                silence.starts_at,
                silence.ends_at,
                silence.reason,
                silence.created_by,
            )
        assert row is not None
        return StoredSilence(int(row["id"]), silence, row["created_at"])

    async def silences(self, now: datetime, *, include_past: bool = False) -> list[StoredSilence]:
        """Active and future silences (with `include_past`, also expired and removed ones)."""
        where = "" if include_past else " WHERE removed_at IS NULL AND ends_at > $1"
        async with translate_errors("reading silences"):
            rows = await self.pool.fetch(
                f"SELECT * FROM {self._s}.alert_silences{where} ORDER BY starts_at, id",
                *(() if include_past else (now,)),
            )
        return [_stored_silence(row) for row in rows]

    async def remove_silence(self, silence_id: int, now: datetime, removed_by: str) -> bool:
        """End a silence now; False when no such silence is still in force or ahead."""
        async with translate_errors("removing a silence"):
            row = await self.pool.fetchrow(
                f"UPDATE {self._s}.alert_silences SET removed_at = $2, removed_by = $3"
                " WHERE id = $1 AND removed_at IS NULL AND ends_at > $2 RETURNING id",
                silence_id,
                now,
                removed_by,
            )
        return row is not None

    # --- outbox ---------------------------------------------------------------------------------

    async def claim_due(self, now: datetime, lease_until: datetime, limit: int) -> list[OutboxRow]:
        """The oldest waiting row of each rule that is due and not leased elsewhere; leased now.

        Only a rule's oldest waiting row is ever claimed, so its firing, repeats and resolved
        go out in order.
        """
        async with translate_errors("reading the alert outbox"):
            rows = await self.pool.fetch(
                f"""
                WITH due AS (
                    SELECT o.id FROM {self._s}.alert_outbox o
                    WHERE {_waiting("o")}
                      AND o.next_attempt_at <= $1
                      AND (o.claimed_until IS NULL OR o.claimed_until <= $1)
                      AND NOT EXISTS (
                          SELECT 1 FROM {self._s}.alert_outbox p
                          WHERE p.rule = o.rule AND p.id < o.id
                            AND {_waiting("p")})
                    ORDER BY o.id LIMIT $3
                    FOR UPDATE SKIP LOCKED
                )
                UPDATE {self._s}.alert_outbox AS t
                SET claimed_until = $2, attempts = t.attempts + 1
                FROM due WHERE t.id = due.id
                RETURNING t.id, t.notification, t.created_at, t.attempts
                """,
                now,
                lease_until,
                limit,
            )
        claimed = []
        for row in sorted(rows, key=lambda r: int(r["id"])):
            note: Notification | None = None
            problem: str | None = None
            try:
                note = notification_from_json(json.loads(row["notification"]))
            except (ValueError, KeyError, TypeError) as exc:
                problem = f"unreadable notification ({type(exc).__name__})"
            claimed.append(
                OutboxRow(int(row["id"]), note, problem, row["created_at"], int(row["attempts"]))
            )
        return claimed

    async def incident_ref(self, rule: str, firing_since: datetime) -> str | None:
        """The delivered firing message's ref for this incident, if it has one."""
        async with translate_errors("reading the alert outbox"):
            value = await self.pool.fetchval(
                f"SELECT message_ref FROM {self._s}.alert_outbox WHERE rule = $1"
                " AND firing_since = $2 AND kind = 'firing' AND delivered_at IS NOT NULL"
                " ORDER BY id LIMIT 1",
                rule,
                firing_since,
            )
        return None if value is None else str(value)

    async def record_delivered(
        self, row: OutboxRow, now: datetime, message_ref: str | None
    ) -> None:
        """The row went out: mark it, and record the delivery in the rule's state."""
        async with self.evaluation() as tx:
            await tx.conn.execute(
                f"UPDATE {self._s}.alert_outbox SET delivered_at = $2, message_ref = $3,"
                " claimed_until = NULL, last_error = NULL WHERE id = $1",
                row.id,
                now,
                message_ref,
            )
            if row.notification is None:
                return
            rule = row.notification.rule
            states = await tx.states([rule])
            before = states.get(rule, RuleState())
            after = mark_sent(before, now, message_ref, sent=row.notification)
            if after != before:
                await tx.save_state(rule, after, now)

    async def record_failed(self, row: OutboxRow, error: str, next_attempt_at: datetime) -> None:
        async with translate_errors("updating the alert outbox"):
            await self.pool.execute(
                f"UPDATE {self._s}.alert_outbox SET claimed_until = NULL, last_error = $2,"
                " next_attempt_at = $3 WHERE id = $1",
                row.id,
                error,
                next_attempt_at,
            )

    async def release(self, row: OutboxRow) -> None:
        """Undo a claim that was not attempted: the row waits as it did before."""
        async with translate_errors("updating the alert outbox"):
            await self.pool.execute(
                f"UPDATE {self._s}.alert_outbox SET claimed_until = NULL,"
                " attempts = greatest(attempts - 1, 0) WHERE id = $1",
                row.id,
            )

    async def next_due(self) -> datetime | None:
        """When the earliest row that may be claimed next (a rule's oldest waiting) is due."""
        async with translate_errors("reading the alert outbox"):
            value = await self.pool.fetchval(
                f"SELECT min(greatest(o.next_attempt_at, coalesce(o.claimed_until,"
                f" o.next_attempt_at))) FROM {self._s}.alert_outbox o WHERE {_waiting('o')}"
                f" AND NOT EXISTS (SELECT 1 FROM {self._s}.alert_outbox p"
                f" WHERE p.rule = o.rule AND p.id < o.id AND {_waiting('p')})"
            )
        return value if isinstance(value, datetime) else None

    async def set_aside(self, row: OutboxRow, now: datetime, reason: str) -> None:
        """A row that can never be sent (unreadable): out of the way, kept for inspection."""
        async with translate_errors("updating the alert outbox"):
            await self.pool.execute(
                f"UPDATE {self._s}.alert_outbox SET superseded_at = $2, claimed_until = NULL,"
                " last_error = $3 WHERE id = $1",
                row.id,
                now,
                reason,
            )

    async def status(self) -> OutboxStatus:
        async with translate_errors("reading the alert outbox"):
            row = await self.pool.fetchrow(
                f"SELECT count(*) AS waiting, min(created_at) AS oldest,"
                f" min(next_attempt_at) AS next_at,"
                f" (SELECT last_error FROM {self._s}.alert_outbox"
                f"  WHERE {_WAITING} AND last_error IS NOT NULL ORDER BY id DESC LIMIT 1) AS err"
                f" FROM {self._s}.alert_outbox WHERE {_WAITING}"
            )
        assert row is not None
        return OutboxStatus(int(row["waiting"]), row["oldest"], row["next_at"], row["err"])

    async def delivered(self) -> list[tuple[str, str, str | None]]:
        """(rule, kind, message_ref) of every delivered row, oldest first (tests, forensics)."""
        async with translate_errors("reading the alert outbox"):
            rows = await self.pool.fetch(
                f"SELECT rule, kind, message_ref FROM {self._s}.alert_outbox"
                " WHERE delivered_at IS NOT NULL ORDER BY delivered_at, id"
            )
        return [(r["rule"], r["kind"], r["message_ref"]) for r in rows]


class Evaluation:
    """Reads and writes inside `AlertStore.evaluation()`'s transaction."""

    def __init__(self, conn: PoolConnectionProxy[asyncpg.Record], schema: str) -> None:
        self.conn = conn
        self._s = schema

    async def states(self, rules: Iterable[str] | None) -> dict[str, RuleState]:
        """The stored state of `rules` (all when None); a rule never seen is absent."""
        sql = f"SELECT rule, {_RULE_COLUMNS} FROM {self._s}.alert_rules"
        rows = await (
            self.conn.fetch(sql)
            if rules is None
            else self.conn.fetch(sql + " WHERE rule = ANY($1::text[])", list(rules))
        )
        return {row["rule"]: _rule_state(row) for row in rows}

    async def save_state(self, rule: str, state: RuleState, now: datetime) -> None:
        obs = state.last_observation
        await self.conn.execute(
            f"INSERT INTO {self._s}.alert_rules (rule, {_RULE_COLUMNS}, updated_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12)"
            " ON CONFLICT (rule) DO UPDATE SET state = $2, breach_streak = $3,"
            " healthy_streak = $4, streak_since = $5, firing_since = $6, last_sent_at = $7,"
            " last_emitted_at = $8, message_ref = $9, unannounced = $10,"
            " last_observation = $11::jsonb, updated_at = $12",
            rule,
            state.state,
            state.breach_streak,
            state.healthy_streak,
            state.streak_since,
            state.firing_since,
            state.last_sent_at,
            state.last_emitted_at,
            state.message_ref,
            state.unannounced,
            None if obs is None else json.dumps(observation_to_json(obs)),
            now,
        )

    async def count_failure(self, check: str, *, failed: bool, now: datetime) -> int:
        """The check's failed runs in a row after this run (0 when it succeeded)."""
        value = await self.conn.fetchval(
            f"INSERT INTO {self._s}.alert_check_failures (check_name, failures, updated_at)"
            " VALUES ($1, $2, $3) ON CONFLICT (check_name) DO UPDATE SET"
            " failures = CASE WHEN $2 = 0 THEN 0"
            f" ELSE {self._s}.alert_check_failures.failures + 1 END, updated_at = $3"
            " RETURNING failures",
            check,
            1 if failed else 0,
            now,
        )
        return int(value)

    async def active_silences(self, now: datetime) -> list[Silence]:
        rows = await self.conn.fetch(
            f"SELECT * FROM {self._s}.alert_silences"
            " WHERE removed_at IS NULL AND starts_at <= $1 AND ends_at > $1",
            now,
        )
        return [_stored_silence(row).silence for row in rows]

    async def enqueue(self, note: Notification, now: datetime) -> int:
        """Queue a notification; a newer repeat or the resolved replaces a repeat still waiting."""
        new_id = int(
            await self.conn.fetchval(
                f"INSERT INTO {self._s}.alert_outbox"
                " (rule, kind, firing_since, notification, created_at, next_attempt_at)"
                " VALUES ($1, $2, $3, $4::jsonb, $5, $5) RETURNING id",
                note.rule,
                note.kind,
                note.firing_since,
                json.dumps(notification_to_json(note)),
                now,
            )
        )
        if note.kind in ("repeat", "resolved"):
            # A stale "still firing" is noise once a newer figure (or the end) is known. A row
            # being sent right now (leased) is left to finish.
            await self.conn.execute(
                f"UPDATE {self._s}.alert_outbox SET superseded_at = $3, superseded_by = $4"
                f" WHERE rule = $1 AND firing_since = $2 AND kind = 'repeat' AND {_WAITING}"
                " AND id <> $4 AND (claimed_until IS NULL OR claimed_until <= $3)",
                note.rule,
                note.firing_since,
                now,
                new_id,
            )
        return new_id


def _rule_state(row: asyncpg.Record) -> RuleState:
    observation = row["last_observation"]
    return RuleState(
        state=cast(AlertState, row["state"]),
        breach_streak=int(row["breach_streak"]),
        healthy_streak=int(row["healthy_streak"]),
        streak_since=row["streak_since"],
        firing_since=row["firing_since"],
        last_sent_at=row["last_sent_at"],
        last_emitted_at=row["last_emitted_at"],
        message_ref=row["message_ref"],
        unannounced=cast("Muting | None", row["unannounced"]),
        last_observation=None
        if observation is None
        else observation_from_json(json.loads(observation)),
    )


def _stored_silence(row: asyncpg.Record) -> StoredSilence:
    return StoredSilence(
        id=int(row["id"]),
        silence=Silence(
            rule=row["rule"],
            starts_at=row["starts_at"],
            ends_at=row["ends_at"],
            reason=row["reason"],
            created_by=row["created_by"],
        ),
        created_at=row["created_at"],
        removed_at=row["removed_at"],
        removed_by=row["removed_by"],
    )
