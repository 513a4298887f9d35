"""The stream verifier as one long-running task of the daemon (while this replica leads).

Three loops share one `ChangeBuffer`: the reader (every shard into the buffer), the verifier
(due changes judged in batches) and the checkpointer (each shard's judged prefix written to
`stream_positions` every `checkpoint_interval`, and once more when the task stops). A store
that fails ends the task with the store's error; the daemon starts it again.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import anyio

from monitor.config import Settings
from monitor.errors import StoreError, StoreUnavailable
from monitor.model import CheckReport, Window
from monitor.report import iso
from monitor.stores.lock import LockSessionLost, advisory_key, exclusive
from monitor.stores.stream_state import SavedPosition, StreamState
from monitor.stores.streams import DynamoStreams
from monitor.stream.buffer import ChangeBuffer
from monitor.stream.dynamo import NOT_YET, Clock, StreamReader, utc_now
from monitor.stream.findings import FindingReporter
from monitor.stream.metrics import StreamMetrics
from monitor.stream.positions import Positions
from monitor.stream.postgres import SqlChangeVerifier
from monitor.stream.report import StreamTally, stream_report
from monitor.stream.table import stream_arn
from monitor.stream.verifier import DynamoChangeVerifier

if TYPE_CHECKING:
    from monitor.runtime import StoreContext

log = logging.getLogger(__name__)

#: A final checkpoint at shutdown gets this long.
FINAL_CHECKPOINT = 5.0

ContextGetter = Callable[[], Awaitable["StoreContext"]]
GapHandler = Callable[[Window, str], Awaitable[None]]


async def no_gap_handler(window: Window, shard: str) -> None:
    return None


class StreamService:
    def __init__(
        self,
        settings: Settings,
        context: ContextGetter,
        metrics: StreamMetrics | None = None,
        *,
        on_gap: GapHandler = no_gap_handler,
        clock: Clock = utc_now,
        wrap_client: Callable[[Any], Any] | None = None,
    ) -> None:
        self.settings = settings
        self._context = context
        self.metrics = metrics
        self.on_gap = on_gap
        self.clock = clock
        #: Tests put faults between the stream adapter and its client (as AWS would raise them).
        self.wrap_client = wrap_client
        self.reporter: FindingReporter | None = None
        self.reader: StreamReader | None = None
        self.verifier: DynamoChangeVerifier | None = None
        self.sql_side: SqlChangeVerifier | None = None
        self.buffer: ChangeBuffer | None = None
        self.arn: str | None = None
        self.error: str | None = None
        self.gaps: list[dict[str, str]] = []
        self.started_at: datetime | None = None
        self.tally = StreamTally()
        self._reported_at = clock()

    def take_report(self) -> CheckReport:
        """The figures since the last report (the daemon delivers it like a check run's)."""
        now = self.clock()
        start, self._reported_at = self._reported_at, now
        return stream_report(self.settings, self.tally.take(), start, now, self.lag_seconds())

    @property
    def grace(self) -> timedelta:
        return self.settings.stream.grace

    async def run(self) -> None:
        """Verify until cancelled, holding the stream's lease (see `lease`) throughout."""
        context = await self._context()
        async with self.lease():
            await self._run(context)

    @asynccontextmanager
    async def lease(self) -> AsyncIterator[None]:
        """The stream's own advisory lock, held from reading the checkpoints to writing the
        last one. A new leader waits here until the old one has written its final checkpoint,
        so a handover neither re-verifies nor skips a change (and two daemons without leader
        election never read one stream at once)."""
        settings = self.settings
        key = advisory_key(
            f"dualwrite-monitor:stream:{settings.postgres.state_schema}:{settings.dynamodb.table}"
        )
        try:
            async with exclusive(
                settings.postgres.dsn.get_secret_value(),
                key,
                connect_timeout=settings.postgres.connect_timeout.total_seconds(),
                retry_every=settings.stream.poll_interval.total_seconds(),
                what="stream",
            ):
                yield
        except LockSessionLost as exc:
            raise StoreUnavailable("PostgreSQL", f"the stream's lease: {exc}") from None

    async def _run(self, context: StoreContext) -> None:
        settings = self.settings
        state = StreamState(context.sql.pool, settings.postgres.state_schema)
        if self.reporter is None:
            self.reporter = FindingReporter(
                state,
                self.metrics,
                settings.mapping.key_column,
                settings.stream.status_findings,
                self.tally,
            )
        arn = stream_arn(await context.dynamo.describe(), settings.dynamodb.table)
        saved = await state.positions(arn)
        fresh = not saved and not await self._replaced(state, arn)
        positions = Positions(
            {p.shard: (p.sequence, p.changed_at) for p in saved if not p.finished}
        )
        buffer = ChangeBuffer(positions)
        async with DynamoStreams.open(settings.dynamodb, retry=context.dynamo.retry) as streams:
            if self.wrap_client is not None:
                streams.client = self.wrap_client(streams.client)
            reader = StreamReader(
                streams,
                arn,
                context.sql.mapping,
                settings.stream,
                buffer,
                finished={p.shard for p in saved if p.finished},
                fresh=fresh,
                on_gap=self._gap,
                clock=self.clock,
            )
            verifier = DynamoChangeVerifier(
                settings, context.sql, buffer, self.reporter, self.metrics, self.tally
            )
            sql_side = None
            if settings.stream.postgres:
                sql_side = SqlChangeVerifier(
                    settings,
                    context.sql,
                    context.dynamo.for_run(),
                    state,
                    self.reporter,
                    self.metrics,
                    clock=self.clock,
                    tally=self.tally,
                )
            self.sql_side = sql_side
            self.arn, self.buffer, self.reader, self.verifier = arn, buffer, reader, verifier
            self.started_at = self.clock()
            log.info("stream.started", extra={"stream": arn, "resumed_shards": len(saved)})
            try:
                async with anyio.create_task_group() as group:
                    group.start_soon(reader.run)
                    group.start_soon(self._verify, reader, verifier, buffer)
                    group.start_soon(self._checkpoints, state, arn, reader, positions)
                    if sql_side is not None:
                        group.start_soon(sql_side.run)
            finally:
                with anyio.move_on_after(FINAL_CHECKPOINT, shield=True):
                    try:
                        await self.save(state, arn, reader, positions)
                    except StoreError as exc:
                        log.warning("stream.checkpoint_failed", extra={"error": str(exc)})

    async def _replaced(self, state: StreamState, arn: str) -> bool:
        """Whether `arn` replaces a stream read before (the stream was disabled, then enabled
        again): then it is read from its start, and the changes made while the table had no
        stream, lost to any stream, are a gap for the interval checks."""
        previous = await state.previous_stream(arn)
        if previous is None:
            return False
        old, last_change = previous
        now = self.clock()
        start = min(last_change or now, now)
        log.error(
            "stream.replaced",
            extra={
                "stream": arn,
                "previous": old,
                "gap_start": iso(start),
                "gap_end": iso(now),
                "hint": "the table's stream was disabled and enabled again; changes made"
                " between are in no stream: interval checks cover the gap",
            },
        )
        await self._gap(Window(start, now), old)
        return True

    async def _gap(self, window: Window, shard: str) -> None:
        self.gaps.append({"shard": shard, "start": iso(window.start), "end": iso(window.end)})
        await self.on_gap(window, shard)

    def lag_seconds(self) -> float | None:
        """now - the time up to which every change has been read and judged."""
        if self.reader is None or self.buffer is None:
            return None
        now = self.clock()
        through = self.reader.read_through()
        if through == NOT_YET and self.started_at is not None:
            through = self.started_at  # nothing read yet: behind by the time since the start
        oldest = self.buffer.oldest()
        if oldest is not None:
            through = min(through, oldest)
        return max(0.0, (now - through).total_seconds())

    async def _verify(
        self, reader: StreamReader, verifier: DynamoChangeVerifier, buffer: ChangeBuffer
    ) -> None:
        tick = min(0.5, self.grace.total_seconds() / 4)
        while True:
            now = self.clock()
            horizon = min(now, reader.read_through()) - self.grace
            judged = await verifier.verify_due(horizon, now)
            lag = self.lag_seconds()
            if self.metrics is not None and lag is not None:
                self.metrics.record_lag("dynamodb", lag)
            if judged < self.settings.stream.batch_size:
                await anyio.sleep(tick)

    async def _checkpoints(
        self, state: StreamState, arn: str, reader: StreamReader, positions: Positions
    ) -> None:
        while True:
            await anyio.sleep(self.settings.stream.checkpoint_interval.total_seconds())
            await self.save(state, arn, reader, positions)

    async def save(
        self, state: StreamState, arn: str, reader: StreamReader, positions: Positions
    ) -> None:
        rows = [
            SavedPosition(
                shard,
                positions.checkpoint(shard),
                shard in reader.finished and positions.drained(shard),
                positions.checkpoint_at(shard),
            )
            for shard in positions.shards()
        ]
        # A shard finished without a record read (a closed shard on a first start at latest).
        rows += [
            SavedPosition(shard, None, True, None)
            for shard in reader.finished
            if shard not in positions.shards()
        ]
        await state.save_positions(arn, rows)

    def status_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "enabled": True,
            "stream": self.arn,
            "started_at": None if self.started_at is None else iso(self.started_at),
            "grace_s": self.grace.total_seconds(),
            "lag_s": self.lag_seconds(),
            "error": self.error,
            "gaps": list(self.gaps[-10:]),
        }
        if self.reader is not None:
            out["shards_reading"] = sorted(self.reader.reading)
            out["records_read"] = self.reader.records_read
        if self.buffer is not None:
            out["waiting"] = len(self.buffer)
        if self.verifier is not None:
            out["verified"] = self.verifier.verified
            out["records_with_findings"] = self.verifier.findings
        if self.sql_side is not None:
            out["postgres"] = self.sql_side.status_json()
        if self.reporter is not None:
            out |= self.reporter.status_json()
        return out
