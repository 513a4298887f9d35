"""`dualwrite-monitor phase show|rollback` (and the migration's other commands as they land).

`add_commands` only builds parsers (no heavy imports); `run_command` does the work.
"""

from __future__ import annotations

import argparse
import getpass
from collections.abc import Callable
from typing import Any

import anyio

from monitor.config import Settings
from monitor.errors import EXIT_OK


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


def run_command(settings: Settings, args: argparse.Namespace, out: Callable[[str], None]) -> int:
    return anyio.run(_phase, settings, args, out)


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
