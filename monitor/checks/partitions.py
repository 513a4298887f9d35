"""Which partition values a window must visit in DynamoDB (ARCHITECTURE decision 2).

Union of: the distinct values in the SQL window (the caller adds those), the values remembered
from earlier runs, and what a rate-limited, PK-only segmented discovery Scan finds — values that
exist only in DynamoDB. Every value a Scan ever saw is remembered, so a DynamoDB-only partition
cannot be missed by luck.

The very first pass runs to completion inline (before it, nothing is known). Later passes start
every `discovery_interval` and are spread over runs: each run scans at most
`discovery_read_units_per_run`, resuming from cursors kept in the monitor's schema, so a large
table never stalls a check. Reports say when the last complete pass finished.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime

import anyio

from monitor.core.mapping import TableMapping
from monitor.errors import StoreError
from monitor.stores.dynamodb import DynamoStore
from monitor.stores.state import DiscoveryCursor, StateStore

log = logging.getLogger(__name__)

SEGMENTS = 4
#: Items per Scan page (None: DynamoDB's 1 MB pages). Tests lower it to exercise resumption.
PAGE_LIMIT: int | None = None


@dataclass(frozen=True, slots=True)
class Discovery:
    values: frozenset[tuple[str, ...]]
    #: When the last complete discovery pass finished (None: never).
    last_run: datetime | None
    #: Share of the pass in progress already scanned (None: no pass in progress).
    progress: float | None = None
    warnings: tuple[str, ...] = ()


def _values_of(keys: set[str], mapping: TableMapping, warnings: list[str]) -> set[tuple[str, ...]]:
    values: set[tuple[str, ...]] = set()
    for pk in sorted(keys):
        parsed = mapping.partition_from_pk(pk)
        if parsed is None:
            warnings.append(f"partition key {pk[:80]!r} does not match the partition template")
        else:
            values.add(parsed)
    return values


async def discover_partitions(
    dynamo: DynamoStore,
    state: StateStore | None,
    mapping: TableMapping,
    now: datetime,
) -> Discovery:
    """Remembered partition values, with the discovery pass advanced when one is due."""
    if not mapping.partition_columns:
        return Discovery(frozenset({()}), None)
    warnings: list[str] = []
    if state is not None:
        try:
            return await _incremental(dynamo, state, mapping, now, warnings)
        except StoreError as exc:
            warnings.append(f"discovery cache unusable ({exc}); scanning the whole table instead")
    keys = await dynamo.scan_partition_keys(SEGMENTS)
    return Discovery(frozenset(_values_of(keys, mapping, warnings)), now, None, tuple(warnings))


async def _incremental(
    dynamo: DynamoStore,
    state: StateStore,
    mapping: TableMapping,
    now: datetime,
    warnings: list[str],
) -> Discovery:
    remembered = set(await state.remembered_partitions())
    last_run = await state.last_discovery()
    cursors = await state.discovery_cursors()
    due = last_run is None or now - last_run >= dynamo.settings.discovery_interval
    if not cursors and not due:
        return Discovery(frozenset(remembered), last_run, None, tuple(warnings))
    if not cursors or cursors[0].total_segments != SEGMENTS:
        cursors = [DiscoveryCursor(s, SEGMENTS, None, False, now) for s in range(SEGMENTS)]
    # The first pass ever has no limit: until it completes, nothing is known.
    limit = None if last_run is None else dynamo.settings.discovery_read_units_per_run
    before = dynamo.budget.consumed
    found: set[str] = set()
    share = None if limit is None else limit / max(1, sum(not c.done for c in cursors))

    async def advance(cursor: DiscoveryCursor) -> None:
        spent_at_start = dynamo.budget.consumed
        while not cursor.done:
            keys, next_key = await dynamo.scan_partition_keys_page(
                cursor.segment, cursor.total_segments, cursor.last_key, PAGE_LIMIT
            )
            found.update(keys)
            cursor = replace(cursor, last_key=next_key, done=next_key is None)
            await state.save_cursor(cursor)
            if share is not None and dynamo.budget.consumed - spent_at_start >= share:
                break

    async with anyio.create_task_group() as group:
        for cursor in cursors:
            if not cursor.done:
                group.start_soon(advance, cursor)

    new_values = _values_of(found, mapping, warnings)
    await state.remember_partitions(
        (pk, values) for pk in found if (values := mapping.partition_from_pk(pk)) is not None
    )
    remembered |= new_values
    cursors = await state.discovery_cursors()
    if all(c.done for c in cursors):
        await state.finish_discovery_pass(len(found), dynamo.budget.consumed - before, now)
        log.info("discovery pass finished: %d partition keys", len(found))
        return Discovery(frozenset(remembered), now, None, tuple(warnings))
    progress = sum(c.done for c in cursors) / len(cursors)
    return Discovery(frozenset(remembered), last_run, progress, tuple(warnings))
