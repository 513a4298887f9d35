"""`verify --from ISO [--until ISO]`: the history walked window by window (CONTRACT §9).

Each window is reconciled exactly as `check counts` reconciles its window (the same slices,
the same read budget, the same key diff), then checkpointed. Windows are grouped into shards,
each claimed through its own advisory lock, so the same command started in several processes
shares the range; every process ends with the report of the whole range.
"""

from __future__ import annotations

import functools
import logging
import os
import random
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import anyio

from monitor.checks.partitions import discover_partitions, remembered_partitions
from monitor.checks.slices import Tally
from monitor.checks.spec import Progress
from monitor.config import Settings
from monitor.core.windows import align_down
from monitor.errors import StoreError, UsageError
from monitor.model import CheckReport, Window
from monitor.runtime import StoreContext
from monitor.stores.ports import TargetStore
from monitor.verify.checkpoint import COMMAND, Checkpoints, VerifyRun
from monitor.verify.plan import Shard, VerifyPlan
from monitor.verify.pushdown import PushdownStats, WindowPlanner, verify_slices
from monitor.verify.report import coverage_of, verify_report
from monitor.verify.results import WindowResult
from monitor.verify.sampled import WindowSample, merged_findings, sample_window_fields
from monitor.verify.shards import ShardLocks

log = logging.getLogger(__name__)

#: on_slice(records read so far in the window)
ProgressInWindow = Callable[[int], None]
#: How often a worker whose remaining shards are all held by others looks again (a dead
#: worker's shard becomes free when its connection closes).
PEER_POLL = 1.0


@dataclass(frozen=True, slots=True)
class VerifyRequest:
    now: datetime
    start: datetime | None
    until: datetime | None = None
    strict: bool = False
    #: progress(windows done, windows total, records read): the CLI's terminal line.
    progress: Progress | None = None
    #: Share of each window's records whose fields are compared (None: `[verify]
    #: sample_fraction`; 0: keys and statuses only).
    sample_fraction: float | None = None


def verify_range(settings: Settings, request: VerifyRequest) -> tuple[Window, bool]:
    """The range to verify, aligned to the sort key's resolution, and whether it is open-ended
    (no `--until`: it ends at now - settle). Bad ranges are usage errors (exit 2)."""
    if request.start is None:
        raise UsageError("verify needs --from ISO (the start of the history to verify)")
    edge = request.now - settings.checks.counts.settle
    clamped = request.until is not None and request.until > edge
    end = edge if request.until is None or clamped else request.until
    if request.start >= end:
        shown = "now - settle" if request.until is None or clamped else "--until"
        raise UsageError(
            f"--from {request.start.isoformat()} is not before {shown} ({end.isoformat()});"
            " nothing to verify"
        )
    mapping = settings.table_mapping()
    step = mapping.sort_resolution
    window = settings.verify.window
    if step > timedelta(microseconds=1) and window % step:
        raise UsageError(
            f"[verify] window ({window}) must be a whole number of the sort key's resolution"
            f" ({step})"
        )
    return Window(align_down(request.start, step), align_down(end, step), clamped), (
        request.until is None
    )


async def verify_online(
    context: StoreContext,
    request: VerifyRequest,
    *,
    kind: str = COMMAND,
    worker: str | None = None,
) -> CheckReport:
    settings = context.settings
    if context.state is None:
        raise StoreError(
            "PostgreSQL",
            "verify keeps its checkpoint in the monitor's schema, which is unavailable"
            f" ({'; '.join(context.warnings) or 'not created'})",
        )
    span, open_ended = verify_range(settings, request)
    plan = VerifyPlan(span.start, span.end, settings.verify.window, settings.verify.shard_windows)
    checkpoints = Checkpoints(context.state)
    run = await checkpoints.open_run(kind, plan, open_ended=open_ended)
    worker = worker or f"{socket.gethostname()}:{os.getpid()}"
    mapping = context.sql.mapping
    known = await remembered_partitions(context.state, mapping)
    discovery = await discover_partitions(
        context.dynamo, context.state, mapping, request.now, remembered=known
    )
    fraction = (
        settings.verify.sample_fraction
        if request.sample_fraction is None
        else request.sample_fraction
    )
    walk = _Walk(context, checkpoints, run, discovery.values, worker, request.progress, fraction)
    await walk.run()
    done = [result for result, _, _ in await checkpoints.results(run.id)]
    total = len(run.plan.windows())
    if len(done) == total:
        await checkpoints.finish(run.id)
    coverage = coverage_of(done, total, resumed=len(done) - len(walk.done.own))
    report_window = Window(run.plan.start, run.plan.end, span.clamped)
    return verify_report(
        settings,
        mapping,
        report_window,
        done,
        coverage,
        strict=request.strict,
        run_id=run.id,
        shards=len(run.plan.shards()),
        warnings=(*context.warnings, *discovery.warnings),
    )


class _Walk:
    """One worker's share of a run: claim a shard, verify its unfinished windows, repeat."""

    def __init__(
        self,
        context: StoreContext,
        checkpoints: Checkpoints,
        run: VerifyRun,
        partitions: frozenset[tuple[str, ...]],
        worker: str,
        progress: Progress | None,
        sample_fraction: float = 0.0,
    ) -> None:
        self.context = context
        self.sample_fraction = sample_fraction
        self.rng = random.Random()
        self.checkpoints = checkpoints
        self.run_ = run
        self.partitions = partitions
        self.worker = worker
        self.progress = progress
        self.done = DoneWindows()
        #: Records read so far by the windows in flight.
        self._partial: dict[datetime, int] = {}
        self.limiter = anyio.CapacityLimiter(context.settings.dynamodb.max_concurrency)
        self.planner = WindowPlanner(context.sql, context.settings.checks.counts.slice_records)

    async def run(self) -> None:
        settings = self.context.settings
        async with (
            ShardLocks.connect(
                settings.postgres.dsn.get_secret_value(),
                self.context.state.schema if self.context.state else "",
                self.run_.id,
                connect_timeout=settings.postgres.connect_timeout.total_seconds(),
            ) as locks,
            anyio.create_task_group() as lanes,
        ):
            # Lanes: shards verified at once by this worker, each its own claim loop; their
            # slices share one limit, so DynamoDB sees at most max_concurrency requests.
            for _ in range(settings.verify.windows_in_flight):
                lanes.start_soon(self._lane, locks)

    async def _lane(self, locks: ShardLocks) -> None:
        shards = self.run_.plan.shards()
        total = len(self.run_.plan.windows())
        while True:
            done = await self.checkpoints.done_starts(self.run_.id)
            self.done.seen(done)
            self._report(total)
            left = [s for s in shards if any(w.start not in done for w in s.windows)]
            if not left:
                return
            shard = await locks.claim(left)
            if shard is None:
                if all(locks.holds_here(s) for s in left):
                    return  # the rest is this worker's other lanes'
                await anyio.sleep(PEER_POLL)  # another worker's: wait for it, or its death
                continue
            try:
                await self._verify_shard(shard, locks, total)
            finally:
                with anyio.CancelScope(shield=True):
                    await locks.release(shard)

    async def _verify_shard(self, shard: Shard, locks: ShardLocks, total: int) -> None:
        # Read after the lock is ours: a shard taken over resumes where its last holder stopped.
        done = await self.checkpoints.done_starts(self.run_.id)
        for window in shard.windows:
            if window.start in done:
                continue
            result = await verify_window(
                self.context.settings,
                self.planner,
                self.context.dynamo,
                window,
                self.partitions,
                self.limiter,
                on_slice=functools.partial(self._in_window, window, total),
                sample=Sampling(self.sample_fraction, self.rng) if self.sample_fraction else None,
            )
            self._partial.pop(window.start, None)
            if not await locks.still_held(shard):
                log.warning("verify: lost the lock of shard %d; leaving it", shard.index)
                return
            if await self.checkpoints.save_window(self.run_.id, result, self.worker):
                self.done.saved(window.start, result.sql + result.dynamodb)
            self._report(total)

    def _in_window(self, window: Window, total: int, records: int) -> None:
        self._partial[window.start] = records
        self._report(total)

    def _report(self, total: int) -> None:
        if self.progress is not None:
            in_flight = sum(self._partial.values())
            self.progress(len(self.done.starts), total, self.done.records + in_flight)


class DoneWindows:
    """The windows of a run done so far, each counted once: those the checkpoint lists and those
    this worker saved. (A lane's read of the checkpoint may list a window that another lane of
    this worker has saved but not yet counted; adding counts would count it twice.)"""

    def __init__(self) -> None:
        self.starts: set[datetime] = set()
        #: Starts of the windows this worker verified itself, and the records they read.
        self.own: set[datetime] = set()
        self.records = 0

    def seen(self, starts: Iterable[datetime]) -> None:
        self.starts.update(starts)

    def saved(self, start: datetime, records: int) -> None:
        self.starts.add(start)
        self.own.add(start)
        self.records += records


@dataclass(frozen=True, slots=True)
class Sampling:
    """Field sampling of each window: the share of its SQL records, and the draw's randomness."""

    fraction: float
    rng: random.Random


async def verify_window(
    settings: Settings,
    planner: WindowPlanner,
    dynamo: TargetStore,
    window: Window,
    partitions: frozenset[tuple[str, ...]],
    limiter: anyio.CapacityLimiter,
    *,
    on_slice: ProgressInWindow | None = None,
    sample: Sampling | None = None,
) -> WindowResult:
    """One window: PostgreSQL's side pushed down into one aggregate query, DynamoDB read once
    per slice, SQL keys read only for the slices that differ; then, with `sample`, the fields
    of a random share of its records compared."""
    reads = dynamo.for_run()  # this window's read units alone
    planned = await planner.plan(window, partitions)
    tally = Tally()
    stats = PushdownStats()

    def slice_done() -> None:
        if on_slice is not None:
            on_slice(tally.sql + tally.dynamodb)

    await verify_slices(planner.sql, reads, planned, tally, limiter, stats, slice_done)
    fields = WindowSample()
    if sample is not None:
        records = sum(p.rows for p in planned)
        fields = await sample_window_fields(
            settings, planner.sql, reads, window, records, sample.fraction, sample.rng
        )
    findings = merged_findings(tally.findings, fields.findings)
    return WindowResult(
        window,
        sql=tally.sql,
        dynamodb=tally.dynamodb,
        matched=tally.matched,
        agreed_absent=tally.agreed_absent,
        slices=tally.slices_done,
        read_units=reads.read_units,
        findings=tuple(sorted(findings, key=lambda f: (f.kind, str(f.key), f.field or ""))),
        slices_equal=stats.equal,
        sampled=fields.sampled,
        sample_bad=fields.bad,
        sample_by_field=fields.by_field,
    )
