"""The dual writer: the seed's `TransactionalHybridLogService`, built so that it loses nothing.

CONTRACT §7, in order, each step idempotent by transaction id and safe to retry:

1. SQL insert as `Pending` with a new transaction id, in one transaction;
2. DynamoDB conditional put as `Pending` (`attribute_not_exists`), pending-index attributes set;
3. mark `Committed` in SQL, then in DynamoDB (removing the pending-index attributes); with
   `commit_marks = "concurrent"` both marks at once (`_mark_both`: one round trip less).

When step 2 fails for good the writer compensates exactly once, in one place (`_compensate`): the
SQL row becomes `Compensated`, or is deleted with `compensation = "delete"` (SEED-REVIEW rows 1 and
3). A failure in step 3 never compensates and never deletes (SEED-REVIEW row 2): the record stays
`Pending` on the side not yet marked, for `orphans` to find and `repair` to finish.

Which stores are written follows the phase: `sql_only` writes SQL as `Committed`, `dynamo_only`
writes DynamoDB as `Committed`; the two middle phases run the protocol.
"""

from __future__ import annotations

import enum
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

import anyio

from monitor.core.mapping import StatusValues, TableMapping
from monitor.core.phases import Phase
from monitor.errors import MonitorError, StoreUnavailable
from monitor.migration.phase import DEFAULT_PHASE, FixedPhase, PhaseSource
from monitor.stores.ports import SourceWrites, TargetWrites
from monitor.writer.items import default_item
from monitor.writer.results import (
    Committed,
    Compensated,
    DuplicateRecord,
    LeftPending,
    Step,
    WriteResult,
)

log = logging.getLogger(__name__)

TRANSACTION_COLUMN = "transaction_id"
TRANSACTION_ATTRIBUTE = "TransactionId"

T = TypeVar("T")


#: The store ports the writer writes through (`monitor.stores.ports`).
SqlWrites = SourceWrites
DynamoWrites = TargetWrites


class Checkpoint(enum.StrEnum):
    """Points between steps where a test or the generator may make the writer "die"."""

    AFTER_SQL_INSERT = "after_sql_insert"
    AFTER_DYNAMODB_PUT = "after_dynamodb_put"


#: Called at each checkpoint with the row being written; raising `WriterCrashed` simulates a
#: process that dies there (nothing after it runs: no compensation, no commit marking).
CrashHook = Callable[[Checkpoint, Mapping[str, Any]], None]


class WriterCrashed(BaseException):
    """The writer "died" at a checkpoint. A BaseException, like the process exit it stands for,
    so that no handler of the writer can mistake it for a store error and compensate."""

    def __init__(self, checkpoint: Checkpoint) -> None:
        self.checkpoint = checkpoint
        super().__init__(f"writer crashed at {checkpoint}")


class DualWriter:
    """Write records through the protocol. Concurrency is the caller's (or `write_many`'s)."""

    def __init__(
        self,
        sql: SqlWrites,
        dynamo: DynamoWrites,
        mapping: TableMapping,
        *,
        phase: PhaseSource | None = None,
        compensation: Literal["soft", "delete"] = "soft",
        commit_marks: Literal["sequential", "concurrent"] = "sequential",
        sql_retries: int = 3,
        retry_delay: float = 0.05,
        crash: CrashHook | None = None,
        transaction_ids: Callable[[], str] = lambda: str(uuid.uuid4()),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.sql = sql
        self.dynamo = dynamo
        self.mapping = mapping
        self.statuses: StatusValues = mapping.status_values
        self.phase = phase or FixedPhase(DEFAULT_PHASE)
        self.compensation = compensation
        self.commit_marks = commit_marks
        self.sql_retries = sql_retries
        self.retry_delay = retry_delay
        self.crash = crash
        self.transaction_ids = transaction_ids
        self.clock = clock

    async def write(self, record: Mapping[str, Any]) -> WriteResult:
        """Write one record (its columns, without status or transaction id). Raises
        `DuplicateRecord` when its key is taken, or the store error when the first write of the
        phase cannot be made (then nothing was written)."""
        phase = await self.phase.current()
        transaction_id = self.transaction_ids()
        row = {
            **record,
            TRANSACTION_COLUMN: transaction_id,
            self.mapping.status_column: self.statuses.pending,
            "updated_at": self.clock(),
        }
        if phase is Phase.SQL_ONLY:
            return await self._write_sql_only(row, transaction_id)
        if phase is Phase.DYNAMO_ONLY:
            return await self._write_dynamodb_only(row, transaction_id)
        return await self._dual_write(row, transaction_id)

    async def write_many(
        self, records: Sequence[Mapping[str, Any]], concurrency: int
    ) -> list[WriteResult]:
        """Write records with up to `concurrency` in flight; results in the order given."""
        results: list[WriteResult | None] = [None] * len(records)
        limiter = anyio.CapacityLimiter(concurrency)

        async def one(index: int) -> None:
            async with limiter:
                results[index] = await self.write(records[index])

        async with anyio.create_task_group() as group:
            for index in range(len(records)):
                group.start_soon(one, index)
        return [r for r in results if r is not None]

    # --- the protocol --------------------------------------------------------------------

    async def _dual_write(self, row: dict[str, Any], tx: str) -> WriteResult:
        key = row[self.mapping.key_column]
        pending, committed = self.statuses.pending, self.statuses.committed
        holder = await self._sql(lambda: self.sql.insert_pending(row, TRANSACTION_COLUMN))
        if holder is not None and holder != tx:
            raise DuplicateRecord(key, "PostgreSQL")
        self._checkpoint(Checkpoint.AFTER_SQL_INSERT, row)

        location = self.dynamo.item_location(row)
        try:
            owner = await self.dynamo.put_new(
                default_item(row, self.mapping), TRANSACTION_ATTRIBUTE
            )
        except MonitorError as exc:
            return await self._compensate(row, tx, location, reason=str(exc))
        if owner is not None and owner != tx:
            return await self._compensate(
                row, tx, location, reason="DynamoDB holds this key under another transaction"
            )
        self._checkpoint(Checkpoint.AFTER_DYNAMODB_PUT, row)

        if self.commit_marks == "concurrent":
            return await self._mark_both(key, tx, location)
        try:
            marked = await self._sql(
                lambda: self.sql.set_status(key, TRANSACTION_COLUMN, tx, committed, [pending])
            )
        except MonitorError as exc:
            return self._left(key, tx, Step.SQL_COMMIT, str(exc))
        if not marked:
            return self._left(key, tx, Step.SQL_COMMIT, "the SQL row is no longer pending")
        try:
            marked = await self.dynamo.set_status(
                location, TRANSACTION_ATTRIBUTE, tx, committed, [pending]
            )
        except MonitorError as exc:
            return self._left(key, tx, Step.DYNAMODB_COMMIT, str(exc))
        if not marked:
            return self._left(key, tx, Step.DYNAMODB_COMMIT, "the item is no longer pending")
        return Committed(key, tx)

    async def _mark_both(self, key: Any, tx: str, location: tuple[str, str]) -> WriteResult:
        """Both commit marks at once (`commit_marks = "concurrent"`): one round trip less.

        Safe because both writes have landed: from here on nothing compensates, whichever mark
        fails leaves its side `Pending` (the other may already be `Committed`), and each mark is
        idempotent by transaction id, so `repair` finishes it (`align_status`).
        """
        pending, committed = self.statuses.pending, self.statuses.committed
        outcome: dict[Step, bool | MonitorError] = {}

        async def mark_sql() -> None:
            try:
                outcome[Step.SQL_COMMIT] = await self._sql(
                    lambda: self.sql.set_status(key, TRANSACTION_COLUMN, tx, committed, [pending])
                )
            except MonitorError as exc:
                outcome[Step.SQL_COMMIT] = exc

        async def mark_dynamodb() -> None:
            try:
                outcome[Step.DYNAMODB_COMMIT] = await self.dynamo.set_status(
                    location, TRANSACTION_ATTRIBUTE, tx, committed, [pending]
                )
            except MonitorError as exc:
                outcome[Step.DYNAMODB_COMMIT] = exc

        async with anyio.create_task_group() as group:
            group.start_soon(mark_sql)
            group.start_soon(mark_dynamodb)
        for step, what in (
            (Step.SQL_COMMIT, "the SQL row is no longer pending"),
            (Step.DYNAMODB_COMMIT, "the item is no longer pending"),
        ):
            done = outcome[step]
            if isinstance(done, MonitorError):
                return self._left(key, tx, step, str(done))
            if not done:
                return self._left(key, tx, step, what)
        return Committed(key, tx)

    async def _compensate(
        self, row: Mapping[str, Any], tx: str, location: tuple[str, str], *, reason: str
    ) -> WriteResult:
        """The one compensation of a transaction whose DynamoDB write failed for good."""
        key = row[self.mapping.key_column]
        pending, compensated = self.statuses.pending, self.statuses.compensated
        deleted = self.compensation == "delete"
        try:
            if deleted:
                done = await self._sql(lambda: self.sql.delete_pending(key, TRANSACTION_COLUMN, tx))
            else:
                done = await self._sql(
                    lambda: self.sql.set_status(key, TRANSACTION_COLUMN, tx, compensated, [pending])
                )
        except MonitorError as exc:
            return self._left(key, tx, Step.COMPENSATE, f"{reason}; compensation failed: {exc}")
        if not done:
            return self._left(key, tx, Step.COMPENSATE, "the SQL row is no longer pending")
        # A put whose answer was lost may have landed: mark that item too. The condition on the
        # transaction id makes this a no-op when there is no such item (nothing is created).
        try:
            await self.dynamo.set_status(
                location, TRANSACTION_ATTRIBUTE, tx, compensated, [pending]
            )
        except MonitorError as exc:
            log.warning("dual write %s: could not mark a possible DynamoDB item: %s", tx, exc)
        log.info("dual write %s compensated: %s", tx, reason)
        return Compensated(key, tx, reason, deleted=deleted)

    async def _write_sql_only(self, row: dict[str, Any], tx: str) -> WriteResult:
        key = row[self.mapping.key_column]
        row[self.mapping.status_column] = self.statuses.committed
        holder = await self._sql(lambda: self.sql.insert_pending(row, TRANSACTION_COLUMN))
        if holder is not None and holder != tx:
            raise DuplicateRecord(key, "PostgreSQL")
        return Committed(key, tx)

    async def _write_dynamodb_only(self, row: dict[str, Any], tx: str) -> WriteResult:
        key = row[self.mapping.key_column]
        row[self.mapping.status_column] = self.statuses.committed
        owner = await self.dynamo.put_new(default_item(row, self.mapping), TRANSACTION_ATTRIBUTE)
        if owner is not None and owner != tx:
            raise DuplicateRecord(key, "DynamoDB")
        return Committed(key, tx)

    # --- helpers -------------------------------------------------------------------------

    def _checkpoint(self, point: Checkpoint, row: Mapping[str, Any]) -> None:
        if self.crash is not None:
            self.crash(point, row)

    def _left(self, key: Any, tx: str, step: Step, reason: str) -> LeftPending:
        log.warning("dual write %s left pending at %s: %s", tx, step, reason)
        return LeftPending(key, tx, step, reason)

    async def _sql(self, call: Callable[[], Awaitable[T]]) -> T:
        """A SQL step, retried on transient failures (each step is idempotent)."""
        for attempt in range(self.sql_retries):
            try:
                return await call()
            except StoreUnavailable:
                if attempt + 1 == self.sql_retries:
                    raise
            await anyio.sleep(self.retry_delay * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover
