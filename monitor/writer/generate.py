"""`dualwrite-monitor generate`: realistic traffic through the dual writer, with known faults.

Records are scheduled at `--rate` per second for `--duration` and written concurrently (at most
`[writer] concurrency` in flight). Each record draws at most one fault (`FaultPicker`), which is
injected at a real seam: the DynamoDB client (`FaultyClient`), the writer's checkpoints
(`crash_hook`), a stray writer that puts an item around the protocol (`dynamodb_only`), or a
delete after the write (`lost_item`). The truth file receives one JSON line per injected fault as
its write completes, then a summary line, also when stopped early.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import anyio

from monitor.config import Settings
from monitor.core.figures import Figures
from monitor.core.item import Attribute
from monitor.core.stats import percentile
from monitor.errors import MonitorError
from monitor.migration.phase import StatePhase
from monitor.model import KeyValue
from monitor.stores.dynamodb import DynamoStore, RetryPolicy
from monitor.stores.faulty import SLOW_SECONDS, FaultyClient
from monitor.stores.postgres import PostgresStore
from monitor.writer.dual import TRANSACTION_ATTRIBUTE, DualWriter, WriterCrashed
from monitor.writer.faults import EXPECT, Fault, FaultPicker, FaultProfile
from monitor.writer.inject import client_fault, crash_hook, location_of
from monitor.writer.items import default_item
from monitor.writer.records import RecordFactory
from monitor.writer.results import Committed, Compensated, LeftPending, WriteResult

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class GenerateOptions:
    rate: float
    duration: timedelta
    profile: FaultProfile
    seed: int = 1
    truth: Path | None = None
    #: The first record key; None: derived from the clock, so that runs never collide.
    first_key: int | None = None
    #: Write all rate x duration records even when the stores are slower than the rate (tests);
    #: by default the run stops on time and reports the rate it achieved.
    every_record: bool = False
    #: Seconds a `slow_write` fault's put is held back (tests shorten it, and the grace with it).
    slow_write: float = SLOW_SECONDS


@dataclass(frozen=True, slots=True)
class TruthEntry:
    fault: Fault
    key: KeyValue
    result: str

    @property
    def expect(self) -> str | None:
        kind = EXPECT[self.fault]
        return None if kind is None else str(kind)


@dataclass(frozen=True, slots=True, kw_only=True)
class WriteLatency(Figures):
    """The writer's latency percentiles in milliseconds (None before the first write)."""

    p50: float | None
    p99: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class GenerateFigures(Figures):
    """The summary of a generator run: the `generate` command's output and the truth file's
    last line (`to_summary()` is that JSON)."""

    written: int
    #: Injected faults and the writer's results, by name, in name order.
    faults: Mapping[str, int]
    results: Mapping[str, int]
    #: Writes that failed on a store error without an injected fault.
    errors: int
    seconds: float
    achieved_rate: float
    latency_ms: WriteLatency


@dataclass
class Progress:
    """Running figures of a generator run (read by the progress line and the demo's view)."""

    scheduled: int = 0
    written: int = 0
    results: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    #: Writes that failed without an injected fault (a store error): not in the truth file.
    errors: int = 0
    latencies: list[float] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    entries: list[TruthEntry] = field(default_factory=list)

    @property
    def elapsed(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    @property
    def achieved_rate(self) -> float:
        return self.written / self.elapsed if self.elapsed > 0 else 0.0

    def latency_ms(self, q: float) -> float | None:
        if not self.latencies:
            return None
        return round(percentile(sorted(self.latencies), q) * 1000, 2)

    def figures(self) -> GenerateFigures:
        """The run's figures so far (final once the run has finished)."""
        return GenerateFigures(
            written=self.written,
            faults=dict(sorted(self.faults.items())),
            results=dict(sorted(self.results.items())),
            errors=self.errors,
            seconds=round(self.elapsed, 3),
            achieved_rate=round(self.achieved_rate, 2),
            latency_ms=WriteLatency(p50=self.latency_ms(0.5), p99=self.latency_ms(0.99)),
        )


def default_first_key(now: datetime) -> int:
    """Keys from the clock (milliseconds x 1000): a later run starts far above an earlier one."""
    return int(now.timestamp() * 1000) * 1000


def result_name(result: WriteResult) -> str:
    if isinstance(result, Committed):
        return "committed"
    if isinstance(result, Compensated):
        return "compensated"
    assert isinstance(result, LeftPending)
    return "left_pending"


class TruthFile:
    """One JSON line per injected fault, flushed as it is known; the summary line last."""

    def __init__(self, stream: IO[str] | None, key_column: str) -> None:
        self._stream = stream
        self._key_column = key_column

    def fault(self, entry: TruthEntry) -> None:
        self._line(
            {
                "fault": str(entry.fault),
                "key": {self._key_column: entry.key},
                "expect": entry.expect,
                "result": entry.result,
            }
        )

    def summary(self, progress: Progress) -> None:
        self._line({"summary": progress.figures().to_summary()})

    def _line(self, value: Mapping[str, Any]) -> None:
        if self._stream is not None:
            self._stream.write(json.dumps(value) + "\n")
            self._stream.flush()


class Generator:
    """Writes the scheduled records through `writer`, injecting each record's fault."""

    def __init__(
        self,
        settings: Settings,
        writer: DualWriter,
        faulty: FaultyClient,
        plain: DynamoStore,
        options: GenerateOptions,
        truth: TruthFile,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.mapping = settings.table_mapping()
        self.writer = writer
        self.faulty = faulty
        #: The table without injected faults: the stray writes around the protocol.
        self.plain = plain
        self.options = options
        self.truth = truth
        first_key = options.first_key or default_first_key(clock())
        self.factory = RecordFactory(options.seed, first_key, clock=clock)
        self.picker = FaultPicker(options.profile, options.seed)
        self._faults: dict[Location, Fault] = {}
        self.progress = Progress()
        writer.crash = crash_hook(self._fault_of)

    def _fault_of(self, row: Mapping[str, Any]) -> Fault | None:
        return self._faults.get(location_of(self.mapping, row))

    async def run(self, stop: anyio.Event) -> Progress:
        options = self.options
        total = math.floor(options.rate * options.duration.total_seconds())
        limiter = anyio.Semaphore(self.settings.writer.concurrency)
        progress = self.progress
        progress.started = time.monotonic()
        try:
            async with anyio.create_task_group() as group:
                deadline = progress.started + options.duration.total_seconds()
                for index in range(total):
                    due = progress.started + index / options.rate
                    if not options.every_record and time.monotonic() > deadline:
                        break  # a store slower than the rate: stop on time, report the rate
                    with anyio.move_on_after(max(0.0, due - time.monotonic())):
                        await stop.wait()
                    if stop.is_set():
                        break
                    await limiter.acquire()
                    fault = self.picker.pick()
                    record = self.factory.make(invalid_json=fault is Fault.INVALID_JSON)
                    progress.scheduled += 1
                    group.start_soon(self._one, record, fault, limiter)
        finally:
            progress.finished = time.monotonic()
            self.truth.summary(progress)
        return progress

    async def _one(
        self, record: dict[str, Any], fault: Fault | None, limiter: anyio.Semaphore
    ) -> None:
        key = record[self.mapping.key_column]
        location = location_of(self.mapping, record)
        if fault is not None:
            self._faults[location] = fault
            if (misbehaviour := client_fault(fault)) is not None:
                self.faulty.arm(location, misbehaviour)
        started = time.monotonic()
        try:
            outcome = await self._write(record, fault)
        except MonitorError as exc:
            self.progress.errors += 1
            log.warning("generate: record %s not written: %s", key, exc)
            return
        finally:
            limiter.release()
            self.faulty.disarm(location)
            self._faults.pop(location, None)
        self.progress.latencies.append(time.monotonic() - started)
        self.progress.written += 1
        self.progress.results[outcome] += 1
        if fault is not None:
            self.progress.faults[str(fault)] += 1
            entry = TruthEntry(fault, key, outcome)
            self.progress.entries.append(entry)
            self.truth.fault(entry)

    async def _write(self, record: dict[str, Any], fault: Fault | None) -> str:
        if fault is Fault.DYNAMODB_ONLY:
            await self._stray_put(record)
            return "dynamodb_only"
        try:
            result = await self.writer.write(record)
        except WriterCrashed:
            return "crashed"
        if fault is Fault.LOST_ITEM and isinstance(result, Committed):
            await self.plain.delete_unconditionally(*location_of(self.mapping, record))
        return result_name(result)

    async def _stray_put(self, record: dict[str, Any]) -> None:
        """Another writer puts a committed item straight into DynamoDB, with no SQL row."""
        row = {
            **record,
            "transaction_id": f"stray-{record[self.mapping.key_column]}",
            self.mapping.status_column: self.mapping.status_values.committed,
        }
        item = default_item(row, self.mapping)
        item[TRANSACTION_ATTRIBUTE] = Attribute.string(row["transaction_id"])
        await self.plain.put_unconditionally(item)


Location = tuple[str, str]


@asynccontextmanager
async def open_generator(
    settings: Settings, options: GenerateOptions, truth: IO[str] | None
) -> AsyncIterator[Generator]:
    """Both stores open, the writer over a fault-injecting DynamoDB client, the phase read
    from the monitor's schema."""
    mapping = settings.table_mapping()
    config = settings.writer
    pg_settings = settings.postgres.model_copy(
        update={"pool_size": max(settings.postgres.pool_size, min(config.concurrency, 100))}
    )
    dynamo_settings = settings.dynamodb.model_copy(
        update={"max_concurrency": max(settings.dynamodb.max_concurrency, config.concurrency)}
    )
    async with (
        PostgresStore.open(pg_settings, mapping) as pg,
        DynamoStore.open(dynamo_settings, mapping) as plain,
    ):
        faulty = FaultyClient(plain.client, mapping, slow_seconds=options.slow_write)
        retry = RetryPolicy(attempts=config.retries, base_delay=config.retry_delay.total_seconds())
        dynamo = DynamoStore(faulty, dynamo_settings, mapping, retry=retry)
        writer = DualWriter(
            pg,
            dynamo,
            mapping,
            phase=StatePhase(
                pg.pool, settings.postgres.state_schema, ttl=config.phase_cache.total_seconds()
            ),
            compensation=config.compensation,
            commit_marks=config.commit_marks,
            sql_retries=config.retries,
            retry_delay=config.retry_delay.total_seconds(),
        )
        yield Generator(
            settings, writer, faulty, plain, options, TruthFile(truth, mapping.key_column)
        )
