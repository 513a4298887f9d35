"""Which partition values a window must visit in DynamoDB (ARCHITECTURE decision 2).

Union of: the distinct values in the SQL window, the values remembered from earlier runs and
discovery, and — when the last discovery is older than `discovery_interval` — a fresh,
rate-limited, PK-only segmented Scan that finds values existing only in DynamoDB. Missing a
DynamoDB-only partition is impossible by design: every value a Scan ever saw is remembered.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from monitor.core.mapping import TableMapping
from monitor.errors import StoreError
from monitor.stores.dynamodb import DynamoStore
from monitor.stores.state import StateStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Discovery:
    values: frozenset[tuple[str, ...]]
    #: When a discovery Scan last finished (None: never, e.g. without the monitor's schema).
    last_run: datetime | None
    ran_now: bool
    warnings: tuple[str, ...] = ()


async def discover_partitions(
    dynamo: DynamoStore,
    state: StateStore | None,
    mapping: TableMapping,
    now: datetime,
    *,
    force: bool = False,
) -> Discovery:
    """Remembered partition values, refreshed by a Scan when it is due."""
    if not mapping.partition_columns:
        return Discovery(frozenset({()}), None, False)
    warnings: list[str] = []
    remembered: set[tuple[str, ...]] = set()
    last_run: datetime | None = None
    if state is not None:
        try:
            remembered = set(await state.remembered_partitions())
            last_run = await state.last_discovery()
        except StoreError as exc:
            warnings.append(f"discovery cache unreadable ({exc}); scanning instead")
            state = None
    interval = dynamo.settings.discovery_interval
    if not force and last_run is not None and now - last_run < interval:
        return Discovery(frozenset(remembered), last_run, False, tuple(warnings))

    before = dynamo.budget.consumed
    keys = await dynamo.scan_partition_keys()
    found: list[tuple[str, tuple[str, ...]]] = []
    for pk in keys:
        values = mapping.partition_from_pk(pk)
        if values is None:
            warnings.append(f"partition key {pk[:80]!r} does not match the partition template")
            continue
        found.append((pk, values))
    remembered |= {values for _, values in found}
    if state is not None:
        await state.remember_partitions(found)
        await state.record_discovery(len(keys), dynamo.budget.consumed - before)
    log.info("discovery.scan", extra={"partition_keys": len(keys)})
    return Discovery(frozenset(remembered), now, True, tuple(warnings))
