"""Delivers queued notifications; keeps and retries what cannot be sent yet.

A notification stays in the outbox (the monitor's schema) until it is delivered or superseded
(a newer repeat, or the resolved, replaces a repeat still waiting). A failure — 429, 5xx, a
timeout, an outage — sets the row's next attempt with doubling waits capped at `max_backoff`,
or later when Slack asked for it (`Retry-After`), and pauses the whole pass until then: when
Slack is down, one probe per backoff is enough. Each rule's rows go out in order, so a firing
delayed by an outage still precedes its resolved, which then edits it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import anyio

from monitor.alerts.messages import render_notification
from monitor.alerts.notifier import Delivery, Notifier
from monitor.errors import AlertDeliveryError, MonitorError
from monitor.stores.alert_state import AlertStore, OutboxRow

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


def retry_delay(
    attempts: int, first: timedelta, cap: timedelta, retry_after: float | None = None
) -> timedelta:
    """Wait after the `attempts`-th failure: `first` doubling, capped; a Retry-After wins."""
    exponent = min(max(attempts - 1, 0), 30)
    delay = min(cap, first * (1 << exponent))
    if retry_after is not None:
        delay = max(delay, timedelta(seconds=retry_after))
    return delay


@dataclass(slots=True)
class OutboxPass:
    """What one `deliver_due` did."""

    sent: int = 0
    failed: int = 0
    #: Nothing was tried: an earlier failure paused delivery until `paused_until`.
    paused: bool = False


class Outbox:
    #: The first retry's wait; each failure doubles it up to `max_backoff`.
    FIRST_BACKOFF = timedelta(seconds=10)

    def __init__(
        self,
        store: AlertStore,
        notifier: Notifier,
        *,
        runbook_url: str,
        clock: Callable[[], datetime] = utc_now,
        first_backoff: timedelta = FIRST_BACKOFF,
        max_backoff: timedelta = timedelta(minutes=5),
        lease: timedelta = timedelta(minutes=2),
        poll: timedelta = timedelta(seconds=30),
        batch: int = 20,
    ) -> None:
        if first_backoff <= timedelta(0) or max_backoff < first_backoff:
            raise ValueError("backoff must be positive and max_backoff >= first_backoff")
        self._store = store
        self._notifier = notifier
        self._runbook = runbook_url
        self._clock = clock
        self._first = first_backoff
        self._max = max_backoff
        self._lease = lease
        self._poll = poll
        self._batch = batch
        self._event: anyio.Event | None = None
        #: After a failure nothing is tried before this (in memory: a restart probes at once).
        self.paused_until: datetime | None = None

    @property
    def notifier(self) -> Notifier:
        return self._notifier

    def wake(self) -> None:
        """Something was queued: deliver now rather than at the next poll."""
        if self._event is not None:
            self._event.set()

    def backoff(self, attempts: int, retry_after: float | None = None) -> timedelta:
        return retry_delay(attempts, self._first, self._max, retry_after)

    async def deliver_due(self, now: datetime | None = None) -> OutboxPass:
        """Send every row that is due at `now`, in order per rule, until one fails."""
        now = self._clock() if now is None else now
        done = OutboxPass()
        if self.paused_until is not None and now < self.paused_until:
            done.paused = True
            return done
        self.paused_until = None
        while rows := await self._store.claim_due(now, now + self._lease, self._batch):
            for index, row in enumerate(rows):
                if row.notification is None:
                    log.error("alert outbox row %d set aside: %s", row.id, row.unreadable)
                    await self._store.set_aside(row, now, row.unreadable or "unreadable")
                    continue
                try:
                    ref = await self._send(row, now)
                except AlertDeliveryError as exc:
                    await self._failed(row, exc, now)
                    # Not attempted: back in the queue as they were, behind the pause.
                    for untried in rows[index + 1 :]:
                        await self._store.release(untried)
                    done.failed += 1
                    return done
                await self._store.record_delivered(row, now, ref)
                done.sent += 1
        return done

    async def run(self) -> None:
        """Deliver in the background until cancelled. Never raises for Slack or PostgreSQL."""
        while True:
            event = self._event = anyio.Event()
            delay = await self._pass()
            with anyio.move_on_after(delay):
                await event.wait()

    async def _pass(self) -> float:
        """One delivery pass; the seconds to wait before the next."""
        try:
            await self.deliver_due()
            next_due = await self._store.next_due()
        except MonitorError as exc:
            log.warning(
                "alert outbox unavailable, retrying in %ss: %s", self._poll.total_seconds(), exc
            )
            return self._poll.total_seconds()
        wake_at = next_due
        if wake_at is not None and self.paused_until is not None:
            wake_at = max(wake_at, self.paused_until)
        if wake_at is None:
            return self._poll.total_seconds()
        # At least a second: a row due now but locked by another replica must not spin us.
        seconds = (wake_at - self._clock()).total_seconds()
        return min(max(seconds, 1.0), self._poll.total_seconds())

    async def _send(self, row: OutboxRow, now: datetime) -> str | None:
        note = row.notification
        assert note is not None
        ref = None
        if note.kind != "firing":
            # The firing may have been delivered after this was queued: ask the outbox.
            ref = note.reply_to or await self._store.incident_ref(note.rule, note.firing_since)
        message = render_notification(
            note, at=row.created_at, runbook_url=self._runbook, sent_at=now
        )
        return await self._notifier.send(Delivery(note.kind, message, ref))

    async def _failed(self, row: OutboxRow, exc: AlertDeliveryError, now: datetime) -> None:
        delay = self.backoff(row.attempts, exc.retry_after)
        self.paused_until = now + delay
        await self._store.record_failed(row, exc.reason, now + delay)
        note = row.notification
        level = logging.ERROR if exc.permanent else logging.WARNING
        log.log(
            level,
            "alert %s %s not delivered (attempt %d), next try in %ss: %s",
            note.rule if note else "?",
            note.kind if note else "?",
            row.attempts,
            int(delay.total_seconds()),
            exc.reason,
        )
