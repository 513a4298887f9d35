"""How `check orphans` reads both stores, costing what is pending, not the table: pending
DynamoDB items a response page at a time, SQL rows by key in batches, and the second read of a
divergent record (see `monitor.checks.orphans`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import anyio

from monitor.checks.partitions import discover_partitions
from monitor.core.item import Item
from monitor.core.mapping import IndexMap, MappingError, TableMapping
from monitor.core.orphans import Observed, counterparts, observe_rows, rejudge
from monitor.core.pending_index import index_partitions
from monitor.errors import StoreError
from monitor.model import Finding, FindingKind, KeyValue, Window
from monitor.stores.ports import DiscoveryState, SourceStore, TargetStore

#: Keys per `WHERE key = ANY($1)` statement.
SQL_LOOKUP_BATCH = 1000
_INT64 = range(-(2**63), 2**63)


def orphan_projection(mapping: TableMapping) -> tuple[str, ...]:
    # Location to match an item to the row that asked for it, key and status to judge it.
    attributes = (
        mapping.partition_key,
        mapping.sort_key,
        mapping.key_attribute,
        mapping.status_attribute,
    )
    return tuple(dict.fromkeys(attributes))


def observe_sql_rows(mapping: TableMapping, rows: Iterable[Mapping[str, Any]]) -> list[Observed]:
    try:
        return observe_rows(mapping, rows)
    except MappingError as exc:
        raise StoreError("PostgreSQL", f"{exc}; check [mapping] key_column") from None


async def for_each_pending_page(
    dynamo: TargetStore,
    sql: SourceStore,
    state: DiscoveryState | None,
    mapping: TableMapping,
    window: Window,
    index: IndexMap | None,
    now: datetime,
    warnings: list[str],
    judge: Callable[[list[Item]], Awaitable[None]],
) -> None:
    """Pending items in the window, from the pending index or else the base table filtered,
    handed to `judge` one response page at a time (never the window's items at once)."""
    queries: list[tuple[str, str, str]] = []
    if index is not None:
        for pk, low, high in index_partitions(
            index, mapping.timestamp_column, window.start, window.end
        ):
            queries.append((pk, *mapping.sort_key_bounds(low, high)))
    else:
        discovery = await discover_partitions(dynamo, state, mapping, now)
        warnings.extend(discovery.warnings)
        for low, high in mapping.buckets(window.start, window.end):
            seen = {partition for partition, _ in await sql.partition_counts(low, high)}
            for partition in sorted(seen | discovery.values):
                pk = mapping.partition_key_for(partition, low)
                queries.append((pk, *mapping.sort_key_bounds(low, high)))

    status = None if index is not None else mapping.status_values.pending
    # At most max_concurrency Queries hold a page at once.
    limiter = anyio.CapacityLimiter(dynamo.settings.max_concurrency)

    async def query(pk: str, low: str, high: str) -> None:
        async with limiter:
            pages = dynamo.query_range_pages(
                pk, low, high, orphan_projection(mapping), index=index, status=status
            )
            async for page in pages:
                await judge(page)

    async with anyio.create_task_group() as group:
        for pk, low_sk, high_sk in queries:
            group.start_soon(query, pk, low_sk, high_sk)


async def rows_by_keys(
    sql: SourceStore, mapping: TableMapping, keys: Sequence[KeyValue], window: Window | None
) -> tuple[dict[KeyValue, Observed], set[KeyValue], set[KeyValue]]:
    """SQL rows by key, one statement per batch and key type; keys the column cannot hold; and
    the keys whose row is pending inside `window` (the SQL direction judges those)."""
    groups: dict[str, list[KeyValue]] = {}
    for key in keys:
        kind = "text" if isinstance(key, str) else "int64" if key in _INT64 else "bigger"
        groups.setdefault(kind, []).append(key)
    rows: dict[KeyValue, Observed] = {}
    untyped: set[KeyValue] = set()
    pending_in_window: set[KeyValue] = set()
    for group in groups.values():
        for start in range(0, len(group), SQL_LOOKUP_BATCH):
            batch = group[start : start + SQL_LOOKUP_BATCH]
            found = await sql.rows_by_keys(batch)
            if found is None:
                untyped.update(batch)
                continue
            rows.update((row.key, row) for row in observe_sql_rows(mapping, found))
            if window is not None:
                pending_in_window.update(_pending_in(mapping, found, window))
    return rows, untyped, pending_in_window


def _pending_in(
    mapping: TableMapping, rows: Iterable[Mapping[str, Any]], window: Window
) -> Iterable[KeyValue]:
    pending = mapping.status_values.pending
    for row in rows:
        moment = row.get(mapping.timestamp_column)
        status = row.get(mapping.status_column)
        if (
            status == pending
            and isinstance(moment, datetime)
            and window.start <= moment < window.end
        ):
            yield row[mapping.key_column]


async def confirm_divergences(
    sql: SourceStore, dynamo: TargetStore, mapping: TableMapping, findings: list[Finding]
) -> list[Finding]:
    """Read both sides of each divergent record again; keep what is still wrong.

    A commit that lands between the SQL read and the DynamoDB read shows one side pending and
    the other final. Costs one SQL statement and one BatchGetItem per 100 divergences.
    """
    divergent = [f for f in findings if f.kind is FindingKind.STATUS_DIVERGENCE]
    if not divergent:
        return findings
    sql_now, _, _ = await rows_by_keys(sql, mapping, [f.key for f in divergent], None)
    locations = [(f.pk, f.sk) for f in divergent if f.pk is not None and f.sk is not None]
    items = await dynamo.batch_get(locations, orphan_projection(mapping))
    dynamodb_now = counterparts(mapping, items)
    kept = [f for f in findings if f.kind is not FindingKind.STATUS_DIVERGENCE]
    for candidate in divergent:
        seen = None
        if candidate.pk is not None and candidate.sk is not None:
            seen = dynamodb_now.get((candidate.pk, candidate.sk))
        again = rejudge(candidate, sql_now.get(candidate.key), seen, mapping.status_values)
        if again is not None:
            kept.append(again)
    return kept
