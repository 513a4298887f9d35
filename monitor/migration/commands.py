"""`dualwrite-monitor phase show|rollback` (and the migration's other commands as they land).

`add_commands` only builds parsers (no heavy imports); `run_command` does the work.
"""

from __future__ import annotations

import argparse
import getpass
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import anyio

from monitor.config import Settings
from monitor.errors import EXIT_INCONSISTENT, EXIT_OK

if TYPE_CHECKING:
    from monitor.migration.afterswitch import AfterSwitch


def operator(explicit: str | None) -> str:
    """Who makes a change: `--by`, else the login name."""
    if explicit:
        return explicit
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: Callable[[argparse.ArgumentParser], None],
    timestamp: Callable[[str], datetime],
) -> None:
    phase = commands.add_parser("phase", help="the migration phase: show it, or step back")
    common(phase)
    actions = phase.add_subparsers(dest="phase_action", required=True, metavar="ACTION")
    show = actions.add_parser("show", help="the current phase and its history")
    common(show)
    back = actions.add_parser("rollback", help="record one step back (never past sql_only)")
    back.add_argument("--reason", required=True, help="why; kept in the history")
    back.add_argument("--by", help="who is rolling back (default: the login name)")
    common(back)

    preflight = commands.add_parser("preflight", help="the seed's phase-1 checks, each run")
    common(preflight)
    gate = commands.add_parser("gate", help="may the next migration phase start?")
    gate.add_argument(
        "name", choices=("dual-write", "read-switch", "write-switch"), help="which gate"
    )
    gate.add_argument("--since", type=timestamp, help="judged window start (read/write-switch)")
    gate.add_argument("--until", type=timestamp, help="judged window end (read/write-switch)")
    gate.add_argument("--apply", action="store_true", help="move the phase when the gate passes")
    gate.add_argument(
        "--no-wait",
        action="store_true",
        help="after --apply, do not wait for traffic to validate the switch",
    )
    gate.add_argument("--by", help="who moves the phase (default: the login name)")
    common(gate)

    cleanup = commands.add_parser(
        "cleanup", help="what the migration left behind (dry run); --apply removes it, audited"
    )
    cleanup.add_argument("--apply", action="store_true", help="remove what is listed (audited)")
    cleanup.add_argument("--by", help="who cleans up, for the audit trail (default: login name)")
    common(cleanup)


def run_command(settings: Settings, args: argparse.Namespace, out: Callable[[str], None]) -> int:
    if args.command == "preflight":
        return anyio.run(_preflight, settings, args, out)
    if args.command == "gate":
        return anyio.run(_gate, settings, args, out)
    if args.command == "cleanup":
        return anyio.run(_cleanup, settings, args, out)
    return anyio.run(_phase, settings, args, out)


async def _preflight(
    settings: Settings, args: argparse.Namespace, out: Callable[[str], None]
) -> int:
    from monitor.core.preflight import passed
    from monitor.migration.preflight import run_preflight
    from monitor.report import dumps
    from monitor.runtime import open_context

    async with open_context(settings, migrate=False) as context:
        items = await run_preflight(context)
    ok = passed(items)
    if args.format == "json":
        out(dumps({"passed": ok, "checks": [i.as_json() for i in items]}))
    else:
        for item in items:
            mark = "pass" if item.passed else ("FAIL" if item.required else "warn")
            kind = "required" if item.required else "advisory"
            out(f"{mark}  {item.name:<22} {kind:<9} {item.detail}")
        out("preflight passed" if ok else "preflight refused: a required item failed")
    return EXIT_OK if ok else EXIT_INCONSISTENT


async def _gate(settings: Settings, args: argparse.Namespace, out: Callable[[str], None]) -> int:
    from monitor.migration.afterswitch import validate_after_switch
    from monitor.migration.gates import evaluate_gate
    from monitor.migration.history import record_change
    from monitor.report import dumps
    from monitor.runtime import open_context

    # write-switch runs `verify`, whose checkpoints live in the monitor's schema.
    migrate = args.apply or args.name == "write-switch"
    async with open_context(settings, migrate=migrate) as context:
        result = await evaluate_gate(
            context, args.name, datetime.now(UTC), since=args.since, until=args.until
        )
        checks = [c.as_json() for c in result.checks]
        document: dict[str, Any] = {"gate": args.name, "passed": result.passed, "checks": checks}
        if result.passed and args.apply and result.move is not None:
            change = await record_change(
                context.sql.pool,
                settings.postgres.state_schema,
                expected=result.move[0],
                to=result.move[1],
                by=operator(args.by),
                evidence={"gate": args.name, "checks": checks},
            )
            document["phase"] = change.as_json()
            if not args.no_wait:
                if args.format != "json":
                    for check in result.checks:
                        out(f"pass  {check.name:<23} {check.detail}")
                    out(f"phase {change.to_phase} recorded; validating on the traffic after it")
                after = await validate_after_switch(context, change)
                document["after_switch"] = after.as_json()
                if args.format != "json":
                    return _after_switch_text(after, args.name, out)
    if args.format == "json":
        out(dumps(document))
    else:
        for check in result.checks:
            out(f"{'pass' if check.passed else 'FAIL'}  {check.name:<23} {check.detail}")
        verdict = "passed" if result.passed else "refused"
        moved = f"; phase {document['phase']['to']} recorded" if "phase" in document else ""
        out(f"gate {args.name} {verdict}{moved}")
    validated = document.get("after_switch", {}).get("passed", True)
    return EXIT_OK if result.passed and validated else EXIT_INCONSISTENT


def _after_switch_text(after: AfterSwitch, gate: str, out: Callable[[str], None]) -> int:
    out(f"waited {after.waited_seconds:.0f} s for {after.waited_for}")
    if after.passed:
        out(f"gate {gate} passed; the switch is validated: {after.detail}")
        return EXIT_OK
    out(f"gate {gate} passed, but the switch is NOT validated: {after.detail}")
    out("to step back: dualwrite-monitor phase rollback --reason '...'")
    return EXIT_INCONSISTENT


async def _cleanup(settings: Settings, args: argparse.Namespace, out: Callable[[str], None]) -> int:
    from monitor.migration.cleanup import run_cleanup
    from monitor.report import dumps
    from monitor.runtime import open_context

    async with open_context(settings, migrate=args.apply) as context:
        report = await run_cleanup(
            context, apply=args.apply, now=datetime.now(UTC), by=operator(args.by)
        )
    if args.format == "json":
        out(dumps(report.as_json()))
    else:
        verb = "applied" if report.applied else "dry run, nothing written"
        out(f"cleanup {report.plan} ({verb})")
        for item in report.items:
            done = f", removed {item.removed}" if report.applied else ""
            extra = "".join(
                f", {n} {k}" for k, n in (("skipped", item.skipped), ("failed", item.failed)) if n
            )
            out(f"  {item.name:<15} found {item.found}{done}{extra}: {item.detail}")
        if not report.applied and any(i.found for i in report.items):
            out("run `dualwrite-monitor cleanup --apply` to remove it")
    return EXIT_OK if report.ok else EXIT_INCONSISTENT


async def _phase(settings: Settings, args: argparse.Namespace, out: Callable[[str], None]) -> int:
    from monitor.migration.history import phase_history, rollback
    from monitor.migration.phase import current_phase
    from monitor.report import dumps
    from monitor.stores.postgres import PostgresStore
    from monitor.stores.state import StateStore

    schema = settings.postgres.state_schema
    async with PostgresStore.open(settings.postgres, settings.table_mapping()) as pg:
        await StateStore(pg.pool, schema).migrate()
        if args.phase_action == "rollback":
            change = await rollback(pg.pool, schema, by=operator(args.by), reason=args.reason)
            if args.format == "json":
                out(dumps(change.as_json()))
            else:
                out(f"phase {change.from_phase} -> {change.to_phase} (rolled back by {change.by})")
                gap = change.evidence.get("sql_gap_since")
                if gap:
                    out(
                        f"SQL was not written since {gap}: run `dualwrite-monitor repair` to"
                        " see the records to copy back"
                    )
            return EXIT_OK
        phase = await current_phase(pg.pool, schema)
        history = [c.as_json() for c in await phase_history(pg.pool, schema)]
    if args.format == "json":
        out(dumps({"phase": str(phase), "history": history}))
    else:
        out(f"phase: {phase}")
        for entry in history:
            out(_history_line(entry))
    return EXIT_OK


def _history_line(entry: dict[str, Any]) -> str:
    source = entry["from"] or "-"
    evidence = entry["evidence"]
    note = evidence.get("reason") or (
        f"gate {evidence['gate']} passed" if "gate" in evidence else ""
    )
    return f"  {entry['at']}  {source:>12} -> {entry['to']:<12}  by {entry['by']}  {note}".rstrip()
