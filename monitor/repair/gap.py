"""The rollback's gap: DynamoDB-only records written while the phase was `dynamo_only`.

While SQL is not written, every record goes to DynamoDB alone; after a rollback they are
`missing_in_sql`, and repair copies them back instead of compensating them. A record is in the
gap when its sort key falls in a `dynamo_only` period of the phase history, widened by
`[writer] phase_cache` at its end (writers may act on the old phase that long).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from monitor.core.item import Item
from monitor.core.mapping import TableMapping
from monitor.core.phases import Phase
from monitor.migration.phase import PhaseChange
from monitor.model import Finding, FindingKind, KeyValue, Window
from monitor.writer.reads import row_from_item


def dynamo_only_periods(
    history: Sequence[PhaseChange], phase_cache: timedelta, now: datetime
) -> list[Window]:
    """Each span of `history` spent in `dynamo_only`, the last one open up to `now`."""
    periods: list[Window] = []
    entered: datetime | None = None
    for change in history:
        if change.to_phase is Phase.DYNAMO_ONLY:
            entered = change.at
        elif entered is not None:
            periods.append(Window(entered, max(entered, change.at + phase_cache)))
            entered = None
    if entered is not None:
        periods.append(Window(entered, max(entered, now)))
    return periods


def keys_in_gap(
    findings: Iterable[Finding], mapping: TableMapping, periods: Sequence[Window]
) -> frozenset[KeyValue]:
    """The `missing_in_sql` findings whose sort key falls in one of `periods`."""
    bounds = [mapping.sort_key_bounds(p.start, p.end) for p in periods]
    return frozenset(
        f.key
        for f in findings
        if f.kind is FindingKind.MISSING_IN_SQL
        and f.sk is not None
        and any(lo <= f.sk <= hi for lo, hi in bounds)
    )


def default_row(item: Item) -> dict[str, Any]:
    """The default model's SQL row for an item copied back (`updated_at`: now)."""
    return {**row_from_item(item), "updated_at": datetime.now(UTC)}
