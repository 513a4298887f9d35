"""The SQL direction: each committed SQL change, from the logical slot, verified against DynamoDB.

A SQL change whose DynamoDB counterpart never arrives (the writer died after its SQL insert) has
no DynamoDB stream record at all: only this direction can see it. Changes are read from the slot
(`pgoutput`), their keys written to `stream_sql_changes` (the newest change per record), and only
then is the slot moved on: a crash re-reads, never loses. Once a change is older than `grace`,
its row is read again (one `= ANY` per batch) and its item by BatchGetItem, within the read
budget, and the two are judged like a stream record. A deleted SQL row reaches the slot whole
only with REPLICA IDENTITY FULL (`[stream] replica_identity_full`): then its item is read where
the row's last content puts it, and an item left behind is a finding; otherwise the slot sends
only its key, and the deletion is left to the DynamoDB direction and the interval checks. The slot's retained WAL is watched: above
`max_retained_wal_mb` a warning, always a metric.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import anyio

from monitor.checks.sampling import with_counterparts
from monitor.config import Settings, field_specs
from monitor.core.mapping import KeyKind, TableMapping
from monitor.model import Finding, FindingKind, KeyValue
from monitor.stores.dynamodb import DynamoStore
from monitor.stores.logical import LogicalSlot
from monitor.stores.postgres import PostgresStore
from monitor.stores.stream_state import SqlChange, StreamState
from monitor.stream.dynamo import NOT_YET, Clock, utc_now
from monitor.stream.findings import FindingReporter, StreamFinding
from monitor.stream.judge import judge_item
from monitor.stream.metrics import StreamMetrics
from monitor.stream.pgoutput import DecodeError, Decoder, RowChange, decode_all
from monitor.stream.report import StreamTally
from monitor.stream.verifier import compared_columns, rows_by_key

log = logging.getLogger(__name__)

#: How often the slot's retained WAL is measured.
WAL_WATCH_INTERVAL = 30.0
MEGABYTE = 1024 * 1024


def key_of(mapping: TableMapping, change: RowChange) -> KeyValue | None:
    text = change.values.get(mapping.key_column)
    if text is None:
        return None
    if mapping.key_kind is KeyKind.TEXT:
        return text
    try:
        return int(text)
    except ValueError:
        return None if mapping.key_kind is KeyKind.NUMBER else text


def key_of_row(mapping: TableMapping, row: Mapping[str, Any]) -> object:
    """A typed row's record key, as `rows_by_key` names it."""
    return row.get(mapping.key_column)


def is_watched(mapping: TableMapping, change: RowChange) -> bool:
    table = mapping.sql_table
    return change.relation.qualified == table if "." in table else change.relation.name == table


class SqlChangeVerifier:
    def __init__(
        self,
        settings: Settings,
        sql: PostgresStore,
        dynamo: DynamoStore,
        state: StreamState,
        reporter: FindingReporter,
        metrics: StreamMetrics | None,
        *,
        clock: Clock = utc_now,
        tally: StreamTally | None = None,
    ) -> None:
        self.tally = tally
        self.settings = settings
        self.config = settings.stream
        self.sql = sql
        self.dynamo = dynamo
        self.mapping = sql.mapping
        self.state = state
        self.reporter = reporter
        self.metrics = metrics
        self.clock = clock
        self.slot = LogicalSlot(sql.pool, self.config.slot, self.config.publication)
        self.specs = field_specs(settings.mapping.fields, "mapping.fields")
        self.columns = compared_columns(settings, sql.mapping)
        self.read_through: datetime = NOT_YET
        self.changes_read = 0
        self.verified = 0
        self.findings = 0
        self.retained_wal: int | None = None
        self.started_at = clock()
        self.waiting = 0
        self._oldest: datetime | None = None
        self._decoder = Decoder()

    async def run(self) -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(self._consume)
            group.start_soon(self._verify)
            group.start_soon(self._watch_wal)

    def lag_seconds(self) -> float:
        # Nothing read yet: behind by the time since the start.
        through = self.started_at if self.read_through == NOT_YET else self.read_through
        if self._oldest is not None:
            through = min(through, self._oldest)
        return max(0.0, (self.clock() - through).total_seconds())

    # --- the slot -> stream_sql_changes ------------------------------------------------------

    async def _consume(self) -> None:
        limit = self.config.batch_size
        while True:
            asked_at = self.clock()
            messages = await self.slot.peek(limit)
            if messages:
                await self._queue(messages)
                await self.slot.advance(messages[-1][0])
            if len(messages) < limit:
                self.read_through = asked_at
                await anyio.sleep(self.config.poll_interval.total_seconds())

    async def _queue(self, messages: Sequence[tuple[str, bytes]]) -> None:
        try:
            changes = decode_all(messages, self._decoder)
        except DecodeError as exc:
            # Moving on would lose changes: stop here, loudly; the daemon retries.
            log.error("stream.slot_undecodable", extra={"reason": str(exc)})
            raise
        queued: list[SqlChange] = []
        for change in changes:
            if not is_watched(self.mapping, change):
                continue
            if change.operation == "delete" and not change.whole:
                continue  # only its key: where its item is cannot be told (docs/stream.md)
            key = key_of(self.mapping, change)
            if key is None:
                log.warning("stream.sql_change_without_key", extra={"lsn": change.lsn})
                continue
            deleted = change.values if change.operation == "delete" else None
            queued.append(SqlChange(key, change.committed_at, change.lsn, deleted))
        await self.state.queue_sql_changes(queued)
        self.changes_read += len(queued)
        if changes:
            self.read_through = max(self.read_through, changes[-1].committed_at)

    # --- stream_sql_changes -> findings ------------------------------------------------------

    async def _verify(self) -> None:
        grace = self.config.grace
        tick = min(0.5, grace.total_seconds() / 4)
        while True:
            now = self.clock()
            horizon = min(now, self.read_through) - grace
            due = await self.state.due_sql_changes(horizon, self.config.batch_size)
            if due:
                await self._judge(due, now)
            self.waiting, self._oldest = await self.state.sql_changes_waiting()
            if self.metrics is not None:
                self.metrics.record_lag("postgres", self.lag_seconds())
            if len(due) < self.config.batch_size:
                await anyio.sleep(tick)

    async def _judge(self, due: Sequence[SqlChange], now: datetime) -> None:
        rows = await rows_by_key(self.sql, [c.key for c in due], self.columns)
        present = [rows[str(c.key)] for c in due if str(c.key) in rows]
        # A row deleted (and not written again) is judged by its last content: its item must
        # be gone too, or abandoned.
        gone = await self.state.typed_rows(
            self.mapping.sql_table,
            [c.deleted_row for c in due if c.deleted_row is not None and str(c.key) not in rows],
        )
        projection = (
            self.mapping.key_attribute,
            self.mapping.status_attribute,
            *(s.attribute for s in self.specs),
        )
        paired = {
            str(s.key): s
            for s in await with_counterparts(
                self.dynamo, self.mapping, [*present, *gone], projection
            )
        }
        deleted = {str(key_of_row(self.mapping, row)) for row in gone}
        found: list[StreamFinding] = []
        clean: list[KeyValue] = []
        for change in due:
            key, changed_at = change.key, change.changed_at
            sampled = paired.get(str(key))
            if sampled is None:
                continue  # the row is gone since: its item's own stream record judges it
            record = sampled.record
            if record is None or record.pk is None or record.sk is None:
                finding = Finding(
                    FindingKind.INVALID_DATA,
                    key,
                    field=self.mapping.partition_key,
                    detail=sampled.problem or "the row has no DynamoDB key",
                )
                found.append(StreamFinding(finding, changed_at, now, "postgres"))
                continue
            row = None if str(key) in deleted else sampled.row
            findings = judge_item(
                self.mapping, self.specs, key, record.pk, record.sk, sampled.item, row
            )
            if not findings:
                clean.append(key)
            found += [StreamFinding(f, changed_at, now, "postgres") for f in findings]
        # Reported and forgotten together: a cancellation between the two would have the next
        # leader judge these changes again.
        with anyio.CancelScope(shield=True):
            await self.reporter.report(found, clean)
            await self.state.sql_changes_done([(c.key, c.lsn) for c in due])
        bad = len({f.finding.key for f in found})
        self.verified += len(due)
        self.findings += bad
        if self.metrics is not None:
            self.metrics.record_verified("postgres", len(due) - bad, bad)
        if self.tally is not None:
            self.tally.add("postgres", len(due), bad)

    # --- the slot's retained WAL -------------------------------------------------------------

    async def _watch_wal(self) -> None:
        limit = self.config.max_retained_wal_mb * MEGABYTE
        over = False
        while True:
            slot = await self.slot.state()
            if not slot.exists:
                log.error("stream.slot_missing", extra={"slot": self.config.slot})
            else:
                self.retained_wal = slot.retained_wal
                if self.metrics is not None:
                    self.metrics.record_retained_wal(self.config.slot, slot.retained_wal)
                if slot.retained_wal > limit and not over:
                    log.warning(
                        "stream.slot_retaining_wal",
                        extra={
                            "slot": self.config.slot,
                            "retained_mb": round(slot.retained_wal / MEGABYTE, 1),
                            "limit_mb": self.config.max_retained_wal_mb,
                            "hint": "the slot is not consumed fast enough (or not at all): the"
                            " WAL it retains fills the disk; see the runbook",
                        },
                    )
                over = slot.retained_wal > limit
            await anyio.sleep(WAL_WATCH_INTERVAL)

    def status_json(self) -> dict[str, object]:
        return {
            "slot": self.config.slot,
            "changes_read": self.changes_read,
            "waiting": self.waiting,
            "verified": self.verified,
            "records_with_findings": self.findings,
            "retained_wal_bytes": self.retained_wal,
            "lag_s": self.lag_seconds(),
        }
