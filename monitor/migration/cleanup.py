"""`dualwrite-monitor cleanup [--apply]`: what the migration left behind, listed, then removed.

The cleanup half of the seed's `CompensationService`, done safely: a dry run (the default)
reads and lists and writes nothing anywhere; `--apply` removes, each removal conditional on what
was listed still holding, and audited in `<schema>.repair_audit` before and after (plan id
`cleanup-<time>`).

- `pending_index`: pending-index attributes on items whose status is already final (the index
  is sparse: it is scanned, not the table). Items still pending are repair's, not cleanup's:
  counted, never touched. The removal is an UpdateItem `REMOVE` conditional on the status read.
- `logical_slot`: the monitor's logical replication slot and publication (`[stream] postgres`),
  once nothing reads them — SQL is no longer written (`dynamo_only`) or `[stream] postgres` is
  off — and the slot is not in use. A slot left behind retains WAL until the disk is full.
- `repair_audit`, `alert_outbox`: rows finished (audit) or delivered/superseded (outbox) longer
  ago than `[cleanup] retention`; a `started` audit row is never removed (a resumed repair
  needs it), nor an alert still waiting to be sent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from monitor.core.item import Item, text_of
from monitor.core.mapping import MappingError
from monitor.core.phases import Phase
from monitor.errors import MonitorError
from monitor.migration.phase import current_phase
from monitor.model import KeyValue
from monitor.repair.audit import RepairAudit
from monitor.runtime import StoreContext
from monitor.stores.logical import LogicalSlot
from monitor.stores.postgres import quote_ident, translate_errors

log = logging.getLogger(__name__)

#: Keys shown per item.
EXAMPLES = 5


@dataclass
class CleanupItem:
    name: str
    found: int = 0
    removed: int = 0
    skipped: int = 0
    failed: int = 0
    detail: str = ""
    examples: list[Any] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "found": self.found,
            "removed": self.removed,
            "skipped": self.skipped,
            "failed": self.failed,
            "detail": self.detail,
            "examples": self.examples[:EXAMPLES],
        }


@dataclass
class CleanupReport:
    plan: str
    applied: bool
    items: list[CleanupItem]

    @property
    def ok(self) -> bool:
        return not any(i.skipped or i.failed for i in self.items)

    def as_json(self) -> dict[str, Any]:
        return {
            "plan": self.plan,
            "applied": self.applied,
            "ok": self.ok,
            "items": [i.as_json() for i in self.items],
        }


class _Audit:
    """Audit rows only when applying; a dry run writes nothing."""

    def __init__(self, context: StoreContext, plan: str, by: str, apply: bool) -> None:
        mapping = context.sql.mapping
        self.audit = (
            RepairAudit(context.sql.pool, context.settings.postgres.state_schema, "name", by)
            if apply
            else None
        )
        self.key_audit = (
            RepairAudit(
                context.sql.pool, context.settings.postgres.state_schema, mapping.key_column, by
            )
            if apply
            else None
        )
        self.plan = plan


async def run_cleanup(
    context: StoreContext, *, apply: bool, now: datetime, by: str = "cleanup"
) -> CleanupReport:
    plan = "cleanup-" + now.strftime("%Y%m%dT%H%M%SZ")
    audit = _Audit(context, plan, by, apply)
    items = [
        await _pending_index(context, audit, apply),
        await _logical_slot(context, audit, apply),
        await _old_rows(context, audit, apply, now, "repair_audit"),
        await _old_rows(context, audit, apply, now, "alert_outbox"),
    ]
    return CleanupReport(plan, apply, items)


async def _pending_index(context: StoreContext, audit: _Audit, apply: bool) -> CleanupItem:
    mapping = context.sql.mapping
    item = CleanupItem("pending_index")
    index = mapping.pending_index
    if index is None or index.name not in await context.dynamo.index_names():
        item.detail = "no pending index on the table: nothing to clean"
        return item
    statuses = mapping.status_values
    pending = 0
    attributes = [mapping.partition_key, mapping.sort_key, mapping.key_attribute]
    async for page in context.dynamo.scan_index(index.name, attributes):
        pairs = [
            (pk, sk)
            for i in page
            if (pk := text_of(i, mapping.partition_key)) is not None
            and (sk := text_of(i, mapping.sort_key)) is not None
        ]
        # The index is eventually consistent: judge each item as the table holds it now.
        for current in await context.dynamo.consistent_items(pairs):
            if index.partition_key not in current:
                continue
            status = mapping.status_from_item(current)
            if status == statuses.pending:
                pending += 1
                continue
            try:
                key: KeyValue = mapping.key_from_item(current)
            except MappingError:
                key = str(text_of(current, mapping.sort_key))
            item.found += 1
            item.examples.append(key)
            if apply:
                await _remove_pending_attributes(context, audit, item, current, key, status)
    item.detail = (
        f"{item.found} final items still carry {index.partition_key}/{index.sort_key}"
        f" ({pending} items really pending are left to `repair`)"
    )
    return item


async def _remove_pending_attributes(
    context: StoreContext,
    audit: _Audit,
    item: CleanupItem,
    current: Item,
    key: KeyValue,
    status: str | None,
) -> None:
    mapping = context.sql.mapping
    index = mapping.pending_index
    assert index is not None and audit.key_audit is not None
    entry = await audit.key_audit.start(
        audit.plan, "remove_pending_index", key, "index_integrity", {"dynamodb_status": status}
    )
    pk, sk = text_of(current, mapping.partition_key), text_of(current, mapping.sort_key)
    assert pk is not None and sk is not None  # read back by these keys
    try:
        written = await context.dynamo.clear_pending_index_if(pk, sk, status)
    except MonitorError as exc:
        item.failed += 1
        await audit.key_audit.finish(entry, "failed", {"error": str(exc)})
        return
    if written:
        item.removed += 1
        await audit.key_audit.finish(
            entry, "applied", {"removed": [index.partition_key, index.sort_key]}
        )
    else:
        item.skipped += 1
        await audit.key_audit.finish(entry, "skipped_changed", {"note": "the item changed"})


async def _logical_slot(context: StoreContext, audit: _Audit, apply: bool) -> CleanupItem:
    item = CleanupItem("logical_slot")
    config = context.settings.stream
    slot = LogicalSlot(context.sql.pool, config.slot, config.publication)
    state = await slot.state()
    if not state.exists:
        item.detail = f"no logical replication slot {config.slot!r}: nothing to clean"
        return item
    phase = await current_phase(context.sql.pool, context.settings.postgres.state_schema)
    item.examples.append(config.slot)
    needed = config.enabled and config.postgres and phase is not Phase.DYNAMO_ONLY
    if needed:
        item.detail = (
            f"slot {config.slot!r} is kept: [stream] postgres reads it while SQL is written"
            f" ({state.retained_wal // 2**20} MB of WAL retained)"
        )
        return item
    item.found = 1
    item.detail = (
        f"slot {config.slot!r} and publication {config.publication!r} are no longer read"
        f" ({state.retained_wal // 2**20} MB of WAL retained)"
    )
    if not apply:
        return item
    assert audit.audit is not None
    entry = await audit.audit.start(
        audit.plan,
        "drop_logical_slot",
        config.slot,
        "left_behind",
        {"retained_wal_bytes": state.retained_wal, "active": state.active},
    )
    async with translate_errors("dropping the logical slot"):
        dropped = await context.sql.pool.fetchval(
            "SELECT count(pg_drop_replication_slot(slot_name)) FROM pg_replication_slots"
            " WHERE slot_name = $1 AND NOT active",
            config.slot,
        )
        if dropped:
            await context.sql.pool.execute(
                f"DROP PUBLICATION IF EXISTS {quote_ident(config.publication)}"
            )
    if dropped:
        item.removed = 1
        await audit.audit.finish(entry, "applied", {"dropped": [config.slot, config.publication]})
    else:
        item.skipped = 1
        item.detail += "; the slot is in use: not dropped"
        await audit.audit.finish(entry, "skipped_changed", {"note": "the slot is in use"})
    return item


#: Rows of the monitor's schema that may go once older than the retention, per table.
_OLD_ROWS = {
    "repair_audit": "result <> 'started' AND finished_at < $1",
    "alert_outbox": "(delivered_at < $1 OR superseded_at < $1)",
}


async def _old_rows(
    context: StoreContext, audit: _Audit, apply: bool, now: datetime, table: str
) -> CleanupItem:
    item = CleanupItem(table)
    retention = context.settings.cleanup.retention
    cutoff = now - retention
    schema = context.settings.postgres.state_schema
    name = f"{quote_ident(schema)}.{quote_ident(table)}"
    where = _OLD_ROWS[table]
    async with translate_errors(f"reading {table}"):
        if not await context.sql.pool.fetchval("SELECT to_regclass($1) IS NOT NULL", name):
            item.detail = f"no {table} table: nothing to clean"
            return item
        item.found = int(
            await context.sql.pool.fetchval(f"SELECT count(*) FROM {name} WHERE {where}", cutoff)
        )
    item.detail = (
        f"{item.found} rows older than the retention ({retention}, before {cutoff.isoformat()})"
    )
    if not apply or not item.found:
        return item
    assert audit.audit is not None
    entry = await audit.audit.start(
        audit.plan,
        "delete_old_rows",
        table,
        "past_retention",
        {"rows": item.found, "before": cutoff.isoformat()},
    )
    async with translate_errors(f"deleting old {table} rows"):
        status = await context.sql.pool.execute(f"DELETE FROM {name} WHERE {where}", cutoff)
    item.removed = int(status.split()[-1])
    await audit.audit.finish(entry, "applied", {"deleted": item.removed})
    return item
