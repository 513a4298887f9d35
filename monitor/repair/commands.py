"""`dualwrite-monitor repair [--apply] [--plan FILE | --save-plan FILE] [--kind K] [--limit N]
[--since ISO] [--until ISO]` (CONTRACT §8)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import anyio

from monitor.config import Settings
from monitor.errors import EXIT_INCONSISTENT, EXIT_OK, UsageError
from monitor.model import FindingKind


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: Callable[[argparse.ArgumentParser], None],
    timestamp: Callable[[str], datetime],
) -> None:
    repair = commands.add_parser(
        "repair", help="what repair would fix (dry run); --apply fixes it, audited"
    )
    repair.add_argument("--apply", action="store_true", help="write the fixes (audited)")
    source = repair.add_mutually_exclusive_group()
    source.add_argument("--plan", type=Path, help="apply exactly this saved plan")
    source.add_argument("--save-plan", type=Path, help="write the plan to FILE for review")
    repair.add_argument(
        "--kind",
        action="append",
        choices=[str(k) for k in FindingKind],
        help="repair only findings of this kind (repeatable)",
    )
    repair.add_argument("--limit", type=_positive, help="at most N actions")
    repair.add_argument("--since", type=timestamp, help="window start, ISO-8601 with zone")
    repair.add_argument("--until", type=timestamp, help="window end, ISO-8601 with zone")
    repair.add_argument("--by", help="who repairs, for the audit trail (default: the login name)")
    common(repair)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def run_command(settings: Settings, args: argparse.Namespace, out: Callable[[str], None]) -> int:
    from monitor.migration.commands import operator
    from monitor.repair.progress import RepairProgress
    from monitor.repair.run import RepairRequest, run_repair
    from monitor.report import dumps

    if args.plan is not None and (args.kind or args.limit or args.since or args.until):
        raise UsageError(
            "--plan applies a saved plan as it is: drop --kind/--limit/--since/--until"
        )
    progress = RepairProgress()
    request = RepairRequest(
        now=datetime.now(UTC),
        apply=args.apply,
        plan_file=args.plan,
        save_plan=args.save_plan,
        kinds=frozenset(FindingKind(k) for k in args.kind or ()),
        limit=args.limit,
        since=args.since,
        until=args.until,
        by=operator(args.by),
        progress=progress,
    )
    try:
        report = anyio.run(run_repair, settings, request)
    finally:
        progress.finish()
    document = report.as_json()
    if args.format == "json":
        out(dumps(document))
    else:
        verb = "applied" if report.applied else "dry run, nothing written"
        out(f"repair plan {document['plan']} (phase {document['phase']}; {verb})")
        column = report.plan.key_column
        for a in document["actions"]:
            note = f" ({a['note']})" if a.get("note") else ""
            out(
                f"  {a['result']:<15} {a['action']:<17} {column}={a['key'][column]!s:<12}"
                f" {a['finding']}: {a['reason']}{note}"
            )
        s = document["summary"]
        out(
            f"planned {s['planned']}, applied {s['applied']}, skipped {s['skipped']},"
            f" failed {s['failed']}, left {s['left']}"
        )
    return EXIT_OK if report.ok else EXIT_INCONSISTENT
