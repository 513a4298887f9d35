"""One repair run: findings from the checks, the plan, and (with `apply`) the conditional writes.

A dry run writes nothing anywhere: the checks run without the monitor's schema (no discovery
cache, no alert state), the phase is only read, no audit row is written.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from monitor.checks.registry import REGISTRY, CheckRequest, run_check
from monitor.checks.sampling import SampleCache
from monitor.config import Settings
from monitor.core.item import text_of
from monitor.core.phases import Phase
from monitor.core.plan import Action, PlannedAction, plan_repairs, summarize
from monitor.errors import MonitorError, StoreUnavailable
from monitor.migration.history import phase_history
from monitor.migration.phase import PhaseChange, current_phase
from monitor.model import Finding, FindingKind, KeyValue
from monitor.repair.apply import Applier, Current, ItemBuilder
from monitor.repair.audit import AuditEntry, RepairAudit
from monitor.repair.gap import default_row, dynamo_only_periods, keys_in_gap
from monitor.repair.planfile import Plan, PlanEntry, action_json, load_plan, save_plan
from monitor.repair.progress import RepairProgress
from monitor.repair.records import RecordReader, Seen, generic_item
from monitor.runtime import StoreContext, open_context
from monitor.setup import is_default_model
from monitor.stores.budget import ReadBudget
from monitor.stores.postgres import quote_ident, translate_errors
from monitor.writer.items import default_item

log = logging.getLogger(__name__)

#: Records read per round trip while planning and applying.
CHUNK = 100


@dataclass(frozen=True, slots=True)
class RepairRequest:
    now: datetime
    apply: bool = False
    plan_file: Path | None = None
    save_plan: Path | None = None
    kinds: frozenset[FindingKind] = frozenset()
    limit: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    by: str = "repair"
    #: Awaited before each write (tests "crash" a run part way with it).
    before_write: Callable[[], Awaitable[None]] | None = None
    #: The terminal line of a long run (the CLI's; never in the daemon).
    progress: RepairProgress | None = None


@dataclass
class ActionResult:
    entry: PlanEntry
    result: str
    note: str = ""


@dataclass
class RepairReport:
    plan: Plan
    applied: bool
    results: list[ActionResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(r.result in ("skipped_changed", "failed") for r in self.results)

    def as_json(self) -> dict[str, Any]:
        key_column = self.plan.key_column
        actions = []
        for r in self.results:
            out = action_json(r.entry.action, key_column) | {"result": r.result}
            if r.note:
                out["note"] = r.note
            actions.append(out)
        return {
            "plan": self.plan.id,
            "applied": self.applied,
            "phase": str(self.plan.phase),
            "actions": actions,
            "summary": summarize([r.result for r in self.results]),
        }


def item_builder(settings: Settings) -> ItemBuilder:
    """The item repair writes for a SQL row, with the given status."""
    mapping = settings.table_mapping()
    status_column = mapping.status_column
    if is_default_model(mapping):
        return lambda row, status: default_item({**row, status_column: status}, mapping)
    columns = {
        f.column: f.attribute for f in (*settings.mapping.fields, *settings.checks.quality.fields)
    }
    return lambda row, status: generic_item({**row, status_column: status}, mapping, columns)


async def run_repair(settings: Settings, request: RepairRequest) -> RepairReport:
    async with open_context(settings, migrate=request.apply) as context:
        if not request.apply:
            context.state = None  # a dry run writes nothing: no discovery cache either
        return await repair_in(context, request)


async def repair_in(context: StoreContext, request: RepairRequest) -> RepairReport:
    """One repair run on open stores (the CLI's, or the daemon's shared ones)."""
    settings = context.settings
    reader = RecordReader(context.sql.mapping, settings.repair.updated_at_column)
    schema = settings.postgres.state_schema
    if request.plan_file is not None:
        plan = load_plan(request.plan_file, context.sql.mapping.key_column)
    else:
        phase = await current_phase(context.sql.pool, schema)
        plan = await _make_plan(context, reader, phase, request)
    if request.save_plan is not None:
        save_plan(plan, request.save_plan)
    report = RepairReport(plan, applied=request.apply)
    if not request.apply:
        report.results = [
            ActionResult(e, "left" if e.action.action is Action.LEAVE else "planned")
            for e in plan.steps
        ]
        return report
    audit = RepairAudit(context.sql.pool, schema, plan.key_column, request.by)
    budget = ReadBudget(settings.repair.max_writes_per_second)

    async def before_write() -> None:
        budget.charge(1, await budget.acquire())
        if request.before_write is not None:
            await request.before_write()

    applier = Applier(
        context.sql,
        context.dynamo,
        reader,
        item_builder(settings),
        build_row=default_row if is_default_model(context.sql.mapping) else None,
        before_write=before_write,
    )
    report.results = await _apply(context, reader, applier, audit, plan, request.progress)
    return report


async def collect_findings(context: StoreContext, request: RepairRequest) -> list[Finding]:
    """Every finding of every check over the requested (or default settled) windows."""
    check_request = CheckRequest(now=request.now, since=request.since, until=request.until)
    # Its own sample cache: a shared context (the daemon's) must not keep this run's sample.
    context = replace(context, samples=SampleCache())
    findings: list[Finding] = []
    progress = request.progress
    for name in REGISTRY:
        if progress is not None:
            progress.check = name
            check_request = replace(check_request, progress=progress.planning)
        report = await run_check(name, context, check_request)
        findings.extend(report.findings)
    if request.kinds:
        findings = [f for f in findings if f.kind in request.kinds]
    return findings


async def _make_plan(
    context: StoreContext, reader: RecordReader, phase: Phase, request: RepairRequest
) -> Plan:
    findings = await collect_findings(context, request)
    history = await _phase_history(context)
    periods = dynamo_only_periods(history, context.settings.writer.phase_cache, request.now)
    actions = list(
        plan_repairs(
            findings,
            phase,
            reader.mapping.status_values,
            dynamodb_only=context.settings.repair.dynamodb_only,
            sql_gap=keys_in_gap(findings, reader.mapping, periods),
            copy_back=is_default_model(reader.mapping),
        )
    )
    if request.limit is not None:
        # The limit counts actions that write; a `leave` writes nothing and is always listed.
        repairs = [a for a in actions if a.action is not Action.LEAVE][: request.limit]
        kept = {id(a) for a in repairs}
        actions = [a for a in actions if id(a) in kept or a.action is Action.LEAVE]
    seen: dict[KeyValue, Seen] = {}
    for start in range(0, len(actions), CHUNK):
        chunk = actions[start : start + CHUNK]
        for key, now in (await _read_current(context, reader, chunk)).items():
            seen[key] = Seen(reader.row_seen(now.row), reader.item_seen(now.item))
    entries = tuple(PlanEntry(a, seen[a.key]) for a in actions)
    return Plan(phase, reader.mapping.key_column, entries)


async def _phase_history(context: StoreContext) -> list[PhaseChange]:
    """The phase history; none where the monitor's schema does not exist (a dry run creates
    nothing)."""
    schema = context.settings.postgres.state_schema
    async with translate_errors("reading the phase history"):
        exists = await context.sql.pool.fetchval(
            "SELECT to_regclass($1) IS NOT NULL", f"{quote_ident(schema)}.phase_history"
        )
    return await phase_history(context.sql.pool, schema) if exists else []


async def _read_current(
    context: StoreContext, reader: RecordReader, actions: Sequence[PlannedAction]
) -> dict[KeyValue, Current]:
    """Both stores' copy of each action's record: one SQL `= ANY`, one BatchGetItem."""
    keys = list(dict.fromkeys(a.key for a in actions))
    key_column = reader.mapping.key_column
    rows: dict[KeyValue, Mapping[str, Any]] = {}
    for kind in (int, str):
        typed = [k for k in keys if isinstance(k, kind)]
        if typed:
            for found in await context.sql.whole_rows(typed):
                rows[found[key_column]] = found
    where: dict[KeyValue, tuple[str | None, str | None]] = {}
    for a in actions:
        pk, sk = a.pk, a.sk
        row = rows.get(a.key)
        if (pk is None or sk is None) and row is not None:
            pk, sk = reader.keys_of(row)
        where.setdefault(a.key, (pk, sk))
    pairs = [(pk, sk) for pk, sk in where.values() if pk is not None and sk is not None]
    items = await context.dynamo.consistent_items(pairs)
    m = reader.mapping
    by_pair = {(text_of(i, m.partition_key), text_of(i, m.sort_key)): i for i in items}
    return {
        key: Current(rows.get(key), by_pair.get((pk, sk)) if pk and sk else None, pk, sk)
        for key, (pk, sk) in where.items()
    }


async def _apply(
    context: StoreContext,
    reader: RecordReader,
    applier: Applier,
    audit: RepairAudit,
    plan: Plan,
    progress: RepairProgress | None = None,
) -> list[ActionResult]:
    earlier = await audit.entries(plan.id)
    results: list[ActionResult] = []
    entries = list(plan.steps)
    for start in range(0, len(entries), CHUNK):
        chunk = entries[start : start + CHUNK]
        repairs = [e for e in chunk if e.action.action is not Action.LEAVE]
        current = await _read_current(context, reader, [e.action for e in repairs])
        for entry in chunk:
            results.append(await _result_of(applier, audit, plan, entry, current, earlier))
            if progress is not None:
                progress.applying(len(results), len(entries), (r.result for r in results))
    return results


async def _result_of(
    applier: Applier,
    audit: RepairAudit,
    plan: Plan,
    entry: PlanEntry,
    current: Mapping[KeyValue, Current],
    earlier: Mapping[tuple[str, KeyValue], AuditEntry],
) -> ActionResult:
    action = entry.action
    if action.action is Action.LEAVE:
        return ActionResult(entry, "left")
    known = earlier.get((str(action.action), action.key))
    if known is not None and known.result == "applied":
        return ActionResult(entry, "applied", "applied by an earlier run")
    return await _apply_one(applier, audit, plan, entry, current, known)


async def _apply_one(
    applier: Applier,
    audit: RepairAudit,
    plan: Plan,
    entry: PlanEntry,
    current: Mapping[KeyValue, Current],
    known: AuditEntry | None,
) -> ActionResult:
    action = entry.action
    before = entry.seen.as_json()
    entry_id = (
        known.id
        if known is not None
        else await audit.start(plan.id, str(action.action), action.key, str(action.finding), before)
    )
    try:
        outcome = await applier.apply(action, entry.seen, current[action.key])
    except StoreUnavailable:
        raise  # exit 3; the `started` row stays, and a later run of the plan completes it
    except MonitorError as exc:
        await audit.finish(entry_id, "failed", {"error": str(exc)})
        log.warning("repair %s of %s failed: %s", action.action, action.key, exc)
        return ActionResult(entry, "failed", str(exc))
    after = outcome.after | {"steps": outcome.steps}
    if outcome.note:
        after["note"] = outcome.note
    if known is not None:
        after["resumed"] = True
    await audit.finish(entry_id, outcome.result, after)
    return ActionResult(entry, outcome.result, outcome.note)
