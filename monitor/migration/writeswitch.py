"""The write-switch gate's own items: the seed's phase-4 checklist, each run for real.

- `pending_past_grace`: `orphans` over the whole dual-write period finds nothing — no record is
  pending on either side past grace (every orphans finding is a pending record).
- `full_count`: `verify` over the whole dual-write period (from the recorded switch into
  `dual_write`): no key on one side only.
- `sql_write_disable`: SQL stops being written only after the recorded switch — the writers read
  the phase from the history (cached `[writer] phase_cache`), and the validation after `--apply`
  proves it on the traffic; a rollback resumes SQL writes and reports the gap, which repair can
  copy back (the table takes a row rebuilt from an item: every column without a default that an
  insert must set is one the item holds).
- `monitoring_continuation`: which checks the daemon keeps running in `dynamo_only`, which it
  stops, and why.
- `cleanup_procedures`: `cleanup`'s dry run, listing what `cleanup --apply` removes afterwards.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from monitor.checks.registry import REGISTRY
from monitor.checks.reporting import figures_of
from monitor.core.phases import Phase
from monitor.core.switch import stop_reason
from monitor.errors import UsageError
from monitor.migration.cleanup import run_cleanup
from monitor.migration.gatecheck import GateCheck
from monitor.migration.history import phase_history
from monitor.migration.period import run_over_period
from monitor.runtime import StoreContext
from monitor.setup import is_default_model
from monitor.stores.postgres import quote_ident, translate_errors
from monitor.verify.online import VerifyRequest, verify_online
from monitor.verify.report import VerifyFigures
from monitor.writer.reads import READ_COLUMNS

#: The kind of the write-switch gate's verify runs (apart from `verify`'s own).
GATE_VERIFY = "gate write-switch"


async def write_switch_checks(
    context: StoreContext, now: datetime, until: datetime | None
) -> list[GateCheck]:
    start = await dual_write_start(context)
    settle = context.settings.checks.counts.settle
    end = until if until is not None else now - settle
    if start is None or start >= end:
        missing = "no dual-write period recorded in the phase history before the judged end"
        return [
            GateCheck("pending_past_grace", False, missing),
            GateCheck("full_count", False, missing),
            await _sql_write_disable(context),
            _continuation(),
            await _cleanup(context, now),
        ]
    return [
        await _pending(context, now, start, end),
        await _full_count(context, now, start, end),
        await _sql_write_disable(context),
        _continuation(),
        await _cleanup(context, now),
    ]


async def dual_write_start(context: StoreContext) -> datetime | None:
    """When the current dual-write period began: the latest recorded step into `dual_write`."""
    history = await phase_history(context.sql.pool, context.settings.postgres.state_schema)
    entered = [
        c.at for c in history if c.to_phase is Phase.DUAL_WRITE and c.from_phase is Phase.SQL_ONLY
    ]
    return entered[-1] if entered else None


def _span(start: datetime, end: datetime) -> str:
    return f"{start.isoformat()} .. {end.isoformat()}"


async def _pending(
    context: StoreContext, now: datetime, start: datetime, end: datetime
) -> GateCheck:
    result = await run_over_period(context, "orphans", now, start, end)
    kinds: dict[str, int] = {}
    for f in result.findings:
        kinds[str(f.kind)] = kinds.get(str(f.kind), 0) + 1
    ok = not result.findings
    detail = (
        f"no record pending past grace over the dual-write period {_span(start, result.window.end)}"
        if ok
        else f"{len(result.findings)} pending records past grace over {_span(start, result.window.end)}"
        " (`dualwrite-monitor repair` finishes them)"
    )
    return GateCheck("pending_past_grace", ok, detail, {**result.figures, "by_kind": kinds})


async def _full_count(
    context: StoreContext, now: datetime, start: datetime, end: datetime
) -> GateCheck:
    """`verify` over the whole dual-write period (its own checkpointed run: a gate interrupted
    part way resumes where it stopped on the next try)."""
    try:
        report = await verify_online(
            context, VerifyRequest(now=now, start=start, until=end), kind=GATE_VERIFY
        )
    except UsageError as exc:
        return GateCheck("full_count", False, f"cannot verify the dual-write period: {exc}")
    ok = not report.findings
    span = _span(report.window.start, report.window.end)
    verified = figures_of(report, VerifyFigures)
    figures: dict[str, Any] = {
        "sql_count": verified.tally.sql_count,
        "dynamodb_count": verified.tally.dynamodb_count,
        "missing_in_dynamodb": verified.tally.missing_in_dynamodb,
        "missing_in_sql": verified.tally.missing_in_sql,
        "coverage": verified.coverage.to_summary(),
    }
    detail = (
        f"every record of the dual-write period {span} is in both stores (verify)"
        if ok
        else f"{len(report.findings)} records on one side only over {span} (verify)"
    )
    return GateCheck("full_count", ok, detail, figures)


async def _sql_write_disable(context: StoreContext) -> GateCheck:
    settings = context.settings
    cache = settings.writer.phase_cache
    figures = {"writer_phase_cache_s": cache.total_seconds()}
    if not is_default_model(context.sql.mapping):
        return GateCheck(
            "sql_write_disable",
            False,
            "after a rollback, repair copies the records written to DynamoDB alone back to SQL"
            " only for the default data model: this mapping's gap could not be repaired",
            figures,
        )
    unfilled = await _columns_an_item_cannot_fill(context)
    if unfilled:
        return GateCheck(
            "sql_write_disable",
            False,
            f"a row rebuilt from an item could not be inserted: {', '.join(unfilled)} must be"
            " set and no item attribute holds it, so a rollback's gap could not be repaired",
            figures,
        )
    return GateCheck(
        "sql_write_disable",
        True,
        f"writers stop writing SQL only once they read the recorded switch (within {cache});"
        " after --apply the validation checks that SQL receives nothing new; a rollback resumes"
        " SQL writes, reports the gap and repair copies it back",
        figures,
    )


async def _columns_an_item_cannot_fill(context: StoreContext) -> list[str]:
    """NOT NULL columns without a default that a row rebuilt from an item leaves out."""
    mapping = context.sql.mapping
    async with translate_errors("reading the table's columns"):
        rows = await context.sql.pool.fetch(
            "SELECT a.attname FROM pg_attribute a WHERE a.attrelid = to_regclass($1)"
            " AND a.attnum > 0 AND NOT a.attisdropped AND a.attnotnull AND NOT a.atthasdef"
            " AND a.attidentity = '' AND a.attgenerated = ''",
            quote_ident(mapping.sql_table),
        )
    fillable = {*READ_COLUMNS, mapping.status_column, "updated_at"}
    return sorted(str(r[0]) for r in rows if r[0] not in fillable)


def _continuation() -> GateCheck:
    stopped = {
        name: reason
        for name, spec in REGISTRY.items()
        if (reason := stop_reason(Phase.DYNAMO_ONLY, spec.needs_sql_writes)) is not None
    }
    kept = [name for name in REGISTRY if name not in stopped]
    detail = f"in dynamo_only the daemon keeps running {', '.join(kept) or 'nothing'}" + (
        f" and stops {', '.join(stopped)} (SQL is no longer written)" if stopped else ""
    )
    return GateCheck(
        "monitoring_continuation", bool(kept), detail, {"kept": kept, "stopped": stopped}
    )


async def _cleanup(context: StoreContext, now: datetime) -> GateCheck:
    """The cleanup procedure, as a dry run: what `cleanup --apply` will remove after the
    switch (it blocks nothing: leftovers are listed, not faults)."""
    report = await run_cleanup(context, apply=False, now=now)
    found = {i.name: i.found for i in report.items}
    listed = ", ".join(f"{n} {name}" for name, n in found.items() if n) or "nothing"
    return GateCheck(
        "cleanup_procedures",
        True,
        f"`dualwrite-monitor cleanup` (a dry run first) lists {listed} to remove after the switch",
        {"items": [i.as_json() for i in report.items]},
    )
