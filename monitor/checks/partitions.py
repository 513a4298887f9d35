"""Which partition values a window must visit in DynamoDB (ARCHITECTURE decision 2).

Union of: the distinct values in the SQL window (the caller adds those), the values remembered
from earlier runs, and what a rate-limited, PK-only segmented discovery Scan finds — values that
exist only in DynamoDB. Every value a Scan ever saw is remembered, so a DynamoDB-only partition
cannot be missed by luck. Where `[mapping] partition_values` lists every value, there is
nothing to discover and no Scan runs at all.

Discovery never blocks a check: every pass, the very first included, is spread over runs. Each
run scans at most `discovery_read_units_per_run`, resuming from cursors kept in the monitor's
schema, and `counts` runs it beside its slices rather than before them. Until a first pass has
finished, a report says how much of the table it has covered and warns that DynamoDB-only
partitions may still be unseen.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime

import anyio

from monitor.core.mapping import TableMapping
from monitor.errors import StoreError
from monitor.stores.ports import DiscoveryCursor, DiscoveryState, TargetStore

log = logging.getLogger(__name__)

SEGMENTS = 4
#: Items per Scan page: short requests, so a run stops close to its share (DynamoDB's own 1 MB
#: pages hold about as many items of this size). Tests lower it to exercise resumption.
PAGE_LIMIT: int | None = 1000


@dataclass(frozen=True, slots=True)
class Discovery:
    values: frozenset[tuple[str, ...]]
    #: When the last complete discovery pass finished (None: never).
    last_run: datetime | None
    #: Share of the pass in progress already scanned (None: no pass in progress).
    progress: float | None = None
    warnings: tuple[str, ...] = ()
    #: Share of the table whose partition values are known: 1.0 once a pass has finished (or
    #: the values are configured), else the first pass's progress.
    coverage: float = 1.0


def _unseen_warning(coverage: float) -> str:
    return (
        f"partition discovery has covered {coverage:.0%} of the DynamoDB table so far:"
        " partitions that exist only in DynamoDB may still be unseen (it continues on each run)"
    )


def _values_of(keys: set[str], mapping: TableMapping, warnings: list[str]) -> set[tuple[str, ...]]:
    values: set[tuple[str, ...]] = set()
    for pk in sorted(keys):
        parsed = mapping.partition_from_pk(pk)
        if parsed is None:
            warnings.append(f"partition key {pk[:80]!r} does not match the partition template")
        else:
            values.add(parsed)
    return values


async def remembered_partitions(
    state: DiscoveryState | None, mapping: TableMapping
) -> frozenset[tuple[str, ...]]:
    """What is known without scanning: configured values, or those remembered from earlier runs."""
    if not mapping.partition_columns:
        return frozenset({()})
    if mapping.known_partitions is not None:
        return mapping.known_partitions
    if state is None:
        return frozenset()
    try:
        return frozenset(await state.remembered_partitions())
    except StoreError:
        return frozenset()  # discover_partitions reports the unusable cache


async def discover_partitions(
    dynamo: TargetStore,
    state: DiscoveryState | None,
    mapping: TableMapping,
    now: datetime,
    *,
    stop: anyio.Event | None = None,
    remembered: frozenset[tuple[str, ...]] | None = None,
) -> Discovery:
    """Remembered partition values, with the discovery pass advanced when one is due.

    `stop` ends this run's share early (after at least one page per segment, so every run
    makes progress): `counts` sets it when its slices are done, so discovery adds at most a
    page per segment to a check's own reads. `remembered`: what the caller already read with
    `remembered_partitions`, so the cache is not read twice in one run.
    """
    if not mapping.partition_columns:
        return Discovery(frozenset({()}), None)
    if mapping.known_partitions is not None:
        return Discovery(mapping.known_partitions, None)
    warnings: list[str] = []
    if state is not None:
        try:
            if remembered is None:
                remembered = frozenset(await state.remembered_partitions())
            return await _incremental(dynamo, state, mapping, now, warnings, stop, remembered)
        except StoreError as exc:
            warnings.append(f"discovery cache unusable ({exc}); nothing is remembered between runs")
    return await _one_shot(dynamo, mapping, now, warnings, stop)


async def _one_shot(
    dynamo: TargetStore,
    mapping: TableMapping,
    now: datetime,
    warnings: list[str],
    stop: anyio.Event | None,
) -> Discovery:
    """Without the monitor's schema: one budgeted share of a pass, nothing kept for next time."""
    cursors = [DiscoveryCursor(s, SEGMENTS, None, False, now) for s in range(SEGMENTS)]
    found, cursors, _ = await _advance(
        dynamo, cursors, dynamo.settings.discovery_read_units_per_run, stop=stop
    )
    values = frozenset(_values_of(found, mapping, warnings))
    coverage = _coverage(cursors)
    if coverage < 1.0:
        warnings.append(_unseen_warning(coverage))
    return Discovery(values, None, None, tuple(warnings), coverage)


def _coverage(cursors: list[DiscoveryCursor]) -> float:
    return sum(c.done for c in cursors) / len(cursors)


async def _advance(
    dynamo: TargetStore,
    cursors: list[DiscoveryCursor],
    limit: float,
    save: Callable[[DiscoveryCursor], Awaitable[None]] | None = None,
    stop: anyio.Event | None = None,
) -> tuple[set[str], list[DiscoveryCursor], float]:
    """Scan the unfinished segments, at most about `limit` read units in all.

    Without `stop` the segments are scanned concurrently. With it (a check's slices run beside
    this), one page is in flight at a time, the segments taking turns: the check's own reads
    come first, so discovery adds about one request in `max_concurrency + 1` to the run, on a
    table of any size. Once `stop` is set, a segment stops after its first page of the run.

    Returns the partition keys seen, the cursors where they stopped, and the units spent.
    """
    found: set[str] = set()
    spent_by_segment = [0.0] * len(cursors)
    share = limit / max(1, sum(not c.done for c in cursors))
    advanced = list(cursors)
    turns = anyio.CapacityLimiter(1 if stop is not None else max(1, len(cursors)))

    async def advance(index: int) -> None:
        cursor = advanced[index]
        # This segment's own reads: slices running beside it charge the shared budget too.
        spent = 0.0
        while not cursor.done and spent < share:
            async with turns:
                if spent and stop is not None and stop.is_set():
                    return
                page = await dynamo.scan_partition_keys_page(
                    cursor.segment, cursor.total_segments, cursor.last_key, PAGE_LIMIT
                )
            found.update(page.partition_keys)
            spent += page.read_units or 1.0
            spent_by_segment[index] = spent
            cursor = replace(cursor, last_key=page.next_key, done=page.next_key is None)
            advanced[index] = cursor
            if save is not None:
                await save(cursor)

    async with anyio.create_task_group() as group:
        for index, cursor in enumerate(cursors):
            if not cursor.done:
                group.start_soon(advance, index)
    return found, advanced, sum(spent_by_segment)


async def _incremental(
    dynamo: TargetStore,
    state: DiscoveryState,
    mapping: TableMapping,
    now: datetime,
    warnings: list[str],
    stop: anyio.Event | None,
    known: frozenset[tuple[str, ...]],
) -> Discovery:
    remembered = set(known)
    last_run = await state.last_discovery()
    cursors = await state.discovery_cursors()
    due = last_run is None or now - last_run >= dynamo.settings.discovery_interval
    if not cursors and not due:
        return Discovery(frozenset(remembered), last_run, None, tuple(warnings))
    if not cursors or cursors[0].total_segments != SEGMENTS:
        cursors = [DiscoveryCursor(s, SEGMENTS, None, False, now) for s in range(SEGMENTS)]
        # Every segment of the new pass is kept from the start: a run may page only some of
        # them, and the pass is finished when all the kept cursors are.
        for cursor in cursors:
            await state.save_cursor(cursor)
    found, _, spent = await _advance(
        dynamo, cursors, dynamo.settings.discovery_read_units_per_run, state.save_cursor, stop
    )
    new_values = _values_of(found, mapping, warnings)
    await state.remember_partitions(
        (pk, values) for pk in found if (values := mapping.partition_from_pk(pk)) is not None
    )
    remembered |= new_values
    cursors = await state.discovery_cursors()
    if all(c.done for c in cursors):
        await state.finish_discovery_pass(len(found), spent, now)
        log.info("discovery pass finished: %d partition keys", len(found))
        return Discovery(frozenset(remembered), now, None, tuple(warnings))
    progress = _coverage(cursors)
    coverage = 1.0 if last_run is not None else progress
    if coverage < 1.0:
        warnings.append(_unseen_warning(coverage))
    return Discovery(frozenset(remembered), last_run, progress, tuple(warnings), coverage)
