"""Reading the DynamoDB table's stream: every shard, in lineage order, into the `ChangeBuffer`.

Each readable shard (no parent, or its parent finished or trimmed away) gets a reader task.
A reader starts after its checkpoint (or at `start_at` on a stream never read before; a shard
born while running is read from its start), follows `NextShardIterator`, and waits
`poll_interval` when it is caught up. It renews its iterator before the 15-minute expiry and
after an `ExpiredIteratorException`, from the last record it read. A checkpoint older than the
stream's retention (`TrimmedDataAccessException`) is a gap: said loudly, handed to `on_gap`
(interval checks cover it), and reading resumes at the oldest record the stream holds. A closed
shard read to its end is finished; its children become readable.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import anyio

from monitor.config import StreamSettings
from monitor.core.mapping import TableMapping
from monitor.model import Window
from monitor.stores.streams import (
    STORE,
    DynamoStreams,
    IteratorExpired,
    Shard,
    StreamEnded,
    StreamShape,
    StreamTrimmed,
)
from monitor.stream.buffer import ChangeBuffer
from monitor.stream.changes import UnreadableRecord, change_from_record
from monitor.stream.positions import readable_shards

log = logging.getLogger(__name__)

#: Iterators expire 15 minutes after they are handed out; renew a little before.
ITERATOR_LIFETIME = 14 * 60.0
#: A reader waits while this many changes wait for their grace (the verifier is behind).
MAX_WAITING = 200_000
#: How often the shard list is read again (splits happen a few times a day per shard).
DESCRIBE_INTERVAL = 10.0

#: A shard not read yet: nothing is known to be read (far enough from datetime.min to subtract).
NOT_YET = datetime(1970, 1, 1, tzinfo=UTC)

Clock = Callable[[], datetime]
GapHandler = Callable[[Window, str], Awaitable[None]]


def utc_now() -> datetime:
    return datetime.now(UTC)


def _ended(shape: StreamShape, finished: set[str], reading: set[str]) -> bool:
    """A disabled stream whose every shard (all closed by the disabling) is read to its end."""
    return (
        shape.status == "DISABLED"
        and not reading
        and all(s.shard_id in finished for s in shape.shards)
    )


@dataclass(slots=True)
class ShardStart:
    """Where a shard's reading begins."""

    after: str | None
    #: Without `after`: "trim_horizon" or "latest".
    start_at: str
    #: The checkpoint's change time (a gap starts there if the stream trimmed past it).
    checkpoint_at: datetime | None = None


class StreamReader:
    def __init__(
        self,
        streams: DynamoStreams,
        arn: str,
        mapping: TableMapping,
        settings: StreamSettings,
        buffer: ChangeBuffer,
        *,
        finished: set[str],
        fresh: bool,
        on_gap: GapHandler,
        clock: Clock = utc_now,
    ) -> None:
        self.streams = streams
        self.arn = arn
        self.mapping = mapping
        self.settings = settings
        self.buffer = buffer
        self.finished = finished
        #: No position was ever saved for this stream: `start_at` applies.
        self.fresh = fresh
        self.on_gap = on_gap
        self.clock = clock
        #: Per shard being read: every change made before this time has been read.
        self.safe_until: dict[str, datetime] = {}
        self.reading: set[str] = set()
        self.unreadable = 0
        self.records_read = 0
        self._changed = anyio.Event()

    def read_through(self) -> datetime:
        """Every change made before this time has been read (now, when no shard is open)."""
        return min(self.safe_until.values(), default=self.clock())

    async def run(self) -> None:
        """Describe the stream now and then; start a reader for each readable shard."""
        async with anyio.create_task_group() as group:
            while True:
                shape = await self.streams.describe(self.arn)
                parents = {s.shard_id: s.parent_id for s in shape.shards}
                by_id = {s.shard_id: s for s in shape.shards}
                for shard_id in readable_shards(parents, self.finished, self.reading):
                    start = self._start(by_id[shard_id])
                    if start is None:
                        self.finished.add(shard_id)
                        continue
                    self.reading.add(shard_id)
                    self.safe_until[shard_id] = NOT_YET
                    group.start_soon(self._read, by_id[shard_id], start)
                if _ended(shape, self.finished, self.reading):
                    await self._drained()
                    raise StreamEnded(
                        STORE,
                        f"{self.arn} was disabled; every change it held is verified. The"
                        " verifier follows the table's next stream once it is enabled again",
                    )
                self._changed = anyio.Event()
                with anyio.move_on_after(DESCRIBE_INTERVAL):
                    await self._changed.wait()

    async def _drained(self) -> None:
        """Until the verifier has judged every change read (the last ones wait for grace).
        An empty buffer is not enough: the last batch may be out of it, still being judged."""
        while len(self.buffer) or self.buffer.positions.unjudged:  # noqa: ASYNC110 - drained
            await anyio.sleep(self.settings.poll_interval.total_seconds())

    def _start(self, shard: Shard) -> ShardStart | None:
        positions = self.buffer.positions
        if shard.shard_id in positions.shards():
            after = positions.checkpoint(shard.shard_id)
            return ShardStart(after, "trim_horizon", positions.checkpoint_at(shard.shard_id))
        if self.fresh and self.settings.start_at == "latest":
            # The first start reads new changes only: a closed shard holds none.
            return None if shard.ending_sequence is not None else ShardStart(None, "latest")
        return ShardStart(None, "trim_horizon")

    async def _read(self, shard: Shard, start: ShardStart) -> None:
        shard_id = shard.shard_id
        try:
            await self._follow(shard_id, start)
        finally:
            self.reading.discard(shard_id)
            self.safe_until.pop(shard_id, None)
        self.finished.add(shard_id)
        log.info("stream.shard_finished", extra={"shard": shard_id})
        self._changed.set()

    async def _iterator(self, shard_id: str, start: ShardStart) -> str:
        try:
            return await self.streams.iterator(self.arn, shard_id, start.after, start.start_at)
        except StreamTrimmed:
            if start.after is None:
                raise
        # The checkpoint is older than the stream's retention: the changes between it and the
        # oldest record left are lost to the stream. Said loudly; interval checks cover it.
        iterator = await self.streams.iterator(self.arn, shard_id, None, "trim_horizon")
        page = await self.streams.records(iterator, 1)
        first = page.records[0] if page.records else None
        gap_end = self.clock()
        if first is not None:
            with contextlib.suppress(UnreadableRecord):
                gap_end = change_from_record(self.mapping, shard_id, first).changed_at
        gap_start = start.checkpoint_at or gap_end
        log.error(
            "stream.behind_retention",
            extra={
                "shard": shard_id,
                "gap_start": gap_start.isoformat(),
                "gap_end": gap_end.isoformat(),
                "hint": "the stream trimmed changes the monitor had not read; interval checks"
                " cover the gap",
            },
        )
        await self.on_gap(Window(min(gap_start, gap_end), gap_end), shard_id)
        return await self.streams.iterator(self.arn, shard_id, None, "trim_horizon")

    async def _follow(self, shard_id: str, start: ShardStart) -> None:
        iterator: str | None = await self._iterator(shard_id, start)
        issued = time.monotonic()
        last = start.after
        limit = self.settings.records_per_call
        while iterator is not None:
            while len(self.buffer) >= MAX_WAITING:  # noqa: ASYNC110 - the verifier drains it
                await anyio.sleep(self.settings.poll_interval.total_seconds())
            if time.monotonic() - issued > ITERATOR_LIFETIME:
                iterator = await self._renew(shard_id, last, start)
                issued = time.monotonic()
            asked_at = self.clock()
            try:
                page = await self.streams.records(iterator, limit)
            except IteratorExpired:
                log.info("stream.iterator_expired", extra={"shard": shard_id})
                iterator = await self._renew(shard_id, last, start)
                issued = time.monotonic()
                continue
            received_at = self.clock()  # every change in the page was made before this
            newest: datetime | None = None
            for record in page.records:
                try:
                    change = change_from_record(self.mapping, shard_id, record, received_at)
                except UnreadableRecord as exc:
                    self.unreadable += 1
                    log.warning(
                        "stream.unreadable_record", extra={"shard": shard_id, "reason": str(exc)}
                    )
                    continue
                self.buffer.add(change)
                self.records_read += 1
                last = change.position.sequence
                newest = change.changed_at
            iterator = page.next_iterator
            if len(page.records) < limit:
                self.safe_until[shard_id] = asked_at
                if iterator is not None:
                    await anyio.sleep(self.settings.poll_interval.total_seconds())
            elif newest is not None:
                self.safe_until[shard_id] = newest

    async def _renew(self, shard_id: str, last: str | None, start: ShardStart) -> str:
        """A fresh iterator just after the last record read (or where reading began)."""
        if last is None:
            return await self._iterator(shard_id, start)
        return await self._iterator(
            shard_id,
            ShardStart(last, "trim_horizon", self.buffer.positions.checkpoint_at(shard_id)),
        )
