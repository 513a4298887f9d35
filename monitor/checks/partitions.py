"""Which partition values a window must visit in DynamoDB (ARCHITECTURE decision 2).

Union of: the distinct values in the SQL window (the caller adds those), the values remembered
from earlier runs, and what a rate-limited, PK-only segmented discovery Scan finds — values that
exist only in DynamoDB. Every value a Scan ever saw is remembered, so a DynamoDB-only partition
cannot be missed by luck. Where `[mapping] partition_values` lists every value, there is
nothing to discover and no Scan runs at all.

Discovery never blocks a check: every pass, the very first included, is spread over runs. Each
run scans at most `discovery_read_units_per_run`, resuming from cursors kept in the monitor's
schema, and `counts` runs it beside its slices rather than before them, paced to at most
`discovery_share` of the check's own read units and time. Until a first pass has
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
from monitor.core.pacing import PaceState
from monitor.errors import StoreError
from monitor.stores.ports import DiscoveryCursor, DiscoveryState, TargetStore

log = logging.getLogger(__name__)

#: Scan segments of a pass. DynamoDB splits segments by partition-key hash, so the share of
#: segments finished is the share of the partition-key space already seen (not of the items:
#: with few partition keys most segments are empty). Beside a check they are scanned one after
#: another, so the coverage a report gives moves in steps of 1/16.
SEGMENTS = 16
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
    #: Share of the table's partition-key space whose values are known: 1.0 once a pass has
    #: finished (or the values are configured), else the first pass's segments finished.
    coverage: float = 1.0


@dataclass(frozen=True, slots=True)
class Beside:
    """The check a discovery run goes beside, which paces it (`discovery_share`)."""

    #: Set when the check's own reads are done: discovery sends no page after it.
    done: anyio.Event
    #: Read units of the run so far, the check's and discovery's (one meter).
    units: Callable[[], float]
    #: Share of the check's work done (0 to 1), from which its end is estimated.
    progress: Callable[[], float]


def _unseen_warning(coverage: float) -> str:
    return (
        f"partition discovery has covered {coverage:.0%} of the DynamoDB table's partition keys"
        " so far:"
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
    beside: Beside | None = None,
    remembered: frozenset[tuple[str, ...]] | None = None,
) -> Discovery:
    """Remembered partition values, with the discovery pass advanced when one is due.

    `beside`: the check this runs beside (`counts`), which paces it: at most
    `discovery_share` of the check's own read units and time, at least one page per run, and
    no page once the check's slices are done. `remembered`: what the caller already read with
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
            return await _incremental(dynamo, state, mapping, now, warnings, beside, remembered)
        except StoreError as exc:
            warnings.append(f"discovery cache unusable ({exc}); nothing is remembered between runs")
    return await _one_shot(dynamo, mapping, now, warnings, beside)


async def _one_shot(
    dynamo: TargetStore,
    mapping: TableMapping,
    now: datetime,
    warnings: list[str],
    beside: Beside | None,
) -> Discovery:
    """Without the monitor's schema: one budgeted share of a pass, nothing kept for next time."""
    cursors = [DiscoveryCursor(s, SEGMENTS, None, False, now) for s in range(SEGMENTS)]
    found, cursors, _ = await _advance(
        dynamo, cursors, dynamo.settings.discovery_read_units_per_run, beside=beside
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
    beside: Beside | None = None,
) -> tuple[set[str], list[DiscoveryCursor], float]:
    """Scan the unfinished segments, at most about `limit` read units in all.

    Alone, the segments are scanned concurrently, each with its part of `limit`. Beside a
    check, see `_paced`. Returns the partition keys seen, the cursors where they stopped, and
    the units spent.
    """
    if beside is not None:
        return await _paced(dynamo, cursors, limit, save, beside)
    found: set[str] = set()
    spent_by_segment = [0.0] * len(cursors)
    share = limit / max(1, sum(not c.done for c in cursors))
    advanced = list(cursors)

    async def advance(index: int) -> None:
        cursor = advanced[index]
        spent = 0.0
        while not cursor.done and spent < share:
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


async def _paced(
    dynamo: TargetStore,
    cursors: list[DiscoveryCursor],
    limit: float,
    save: Callable[[DiscoveryCursor], Awaitable[None]] | None,
    beside: Beside,
) -> tuple[set[str], list[DiscoveryCursor], float]:
    """Beside a check: one page in flight at a time, paced by `discovery_share` of the
    check's own read units and time (monitor/core/pacing.py), a segment finished before the
    next is started (so the share of the table covered grows run by run)."""
    found: set[str] = set()
    advanced = list(cursors)
    pace = PaceState(dynamo.settings.discovery_share, anyio.current_time())
    spent = 0.0  # against `limit`: a page that reports no units counts as one
    while spent < limit:
        index = next((i for i, c in enumerate(advanced) if not c.done), None)
        if index is None:
            break
        done = 1.0 if beside.done.is_set() else beside.progress()
        wait = pace.wait_before_next(anyio.current_time(), beside.units() - pace.units, done)
        if wait is None:
            break
        if wait > 0:
            with anyio.move_on_after(wait):
                await beside.done.wait()
            continue
        cursor = advanced[index]
        sent = anyio.current_time()
        page = await dynamo.scan_partition_keys_page(
            cursor.segment, cursor.total_segments, cursor.last_key, PAGE_LIMIT
        )
        pace = pace.record(anyio.current_time() - sent, page.read_units)
        spent += page.read_units or 1.0
        found.update(page.partition_keys)
        cursor = replace(cursor, last_key=page.next_key, done=page.next_key is None)
        advanced[index] = cursor
        if save is not None:
            await save(cursor)
    return found, advanced, spent


async def _incremental(
    dynamo: TargetStore,
    state: DiscoveryState,
    mapping: TableMapping,
    now: datetime,
    warnings: list[str],
    beside: Beside | None,
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
        dynamo, cursors, dynamo.settings.discovery_read_units_per_run, state.save_cursor, beside
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
