"""`dualwrite-monitor silence add|list|remove` and `alerts test|status`.

`add_commands` only builds parsers (no heavy imports); `run_command` does the work. Silences
and alert state live in the monitor's schema, so these need PostgreSQL; `alerts test` needs
only the notifier.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import anyio

from monitor.config import Settings, parse_duration
from monitor.errors import EXIT_OK, UsageError

if TYPE_CHECKING:
    from monitor.stores.alert_state import AlertStore, StoredSilence


def _positive_duration(text: str) -> timedelta:
    try:
        value = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if value <= timedelta(0):
        raise argparse.ArgumentTypeError(f"{text!r} must be longer than zero")
    return value


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: Callable[[argparse.ArgumentParser], None],
) -> None:
    """Add `silence` and `alerts` to the CLI; `common` adds --config/--format/--debug."""
    silence = commands.add_parser("silence", help="silence a rule for a time, with a reason")
    common(silence)
    actions = silence.add_subparsers(dest="silence_action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="mute RULE (a name or a * pattern) for a while")
    add.add_argument("rule", help="rule name, e.g. data_consistency, or a pattern: check_failed:*")
    add.add_argument(
        "--for", dest="duration", required=True, type=_positive_duration, help='e.g. "2h"'
    )
    add.add_argument("--reason", required=True, help="why; shown by `silence list`, never sent")
    add.add_argument("--by", help="who is silencing (default: the login name)")
    common(add)
    listing = actions.add_parser("list", help="silences in force or still ahead")
    listing.add_argument("--all", action="store_true", help="also expired and removed ones")
    common(listing)
    remove = actions.add_parser("remove", help="end a silence now")
    remove.add_argument("id", type=int, help="the silence's id (see `silence list`)")
    remove.add_argument("--by", help="who is removing it (default: the login name)")
    common(remove)

    alerts = commands.add_parser("alerts", help="alert delivery: test it, see what fires")
    common(alerts)
    alert_actions = alerts.add_subparsers(dest="alerts_action", required=True, metavar="ACTION")
    test = alert_actions.add_parser("test", help="send a test message to Slack (or the console)")
    common(test)
    status = alert_actions.add_parser("status", help="rule states and undelivered alerts")
    common(status)


def run_command(settings: Settings, args: argparse.Namespace, out: Callable[[str], None]) -> int:
    now = datetime.now(UTC)
    if args.command == "alerts" and args.alerts_action == "test":
        return anyio.run(_alerts_test, settings, args.format, out, now)
    return anyio.run(_with_store, settings, args, out, now)


async def _alerts_test(
    settings: Settings, output_format: str, out: Callable[[str], None], now: datetime
) -> int:
    from monitor.alerts.channels import build_notifier
    from monitor.alerts.messages import render_test
    from monitor.alerts.notifier import Delivery
    from monitor.report import dumps

    # With --format json stdout is for the one JSON document: the console message goes aside.
    notifier = build_notifier(settings, stream=sys.stderr if output_format == "json" else None)
    message = render_test(
        at=now,
        runbook_url=settings.runbook_template(),
        table=settings.mapping.sql_table,
        destination=notifier.destination,
    )
    await notifier.send(Delivery("test", message))
    if output_format == "json":
        out(dumps({"sent": True, "destination": notifier.destination}))
    else:
        out(f"test message sent: {notifier.destination}")
    return EXIT_OK


async def _with_store(
    settings: Settings, args: argparse.Namespace, out: Callable[[str], None], now: datetime
) -> int:
    from monitor.stores.alert_state import AlertStore
    from monitor.stores.postgres import PostgresStore
    from monitor.stores.state import StateStore

    async with PostgresStore.open(settings.postgres, settings.table_mapping()) as sql:
        schema = settings.postgres.state_schema
        await StateStore(sql.pool, schema).migrate()
        store = AlertStore(sql.pool, schema)
        if args.command == "alerts":
            return await _status(store, args.format, out)
        if args.silence_action == "add":
            return await _add(settings, store, args, out, now)
        if args.silence_action == "list":
            return await _list(store, args, out, now)
        return await _remove(store, args, out, now)


def _user(given: str | None) -> str:
    if given:
        return given
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return os.environ.get("USER", "unknown")


async def _add(
    settings: Settings,
    store: AlertStore,
    args: argparse.Namespace,
    out: Callable[[str], None],
    now: datetime,
) -> int:
    from monitor.alerts.wiring import build_rules
    from monitor.checks.registry import REGISTRY
    from monitor.core.rules import Silence

    reason = args.reason.strip()
    if not reason:
        raise UsageError("silence add: --reason must say why")
    silence = Silence(args.rule, now, now + args.duration, reason, _user(args.by))
    names = [rule.name for rule in build_rules(settings, REGISTRY)]
    matched = [name for name in names if silence.matches(name)]
    if not matched:
        raise UsageError(f"no rule matches {args.rule!r}; rules: {', '.join(names)}")
    stored = await store.add_silence(silence)
    if args.format == "json":
        out(_dumps({**_silence_json(stored), "matches": matched}))
    else:
        out(
            f"silence {stored.id}: {args.rule} muted until {_iso(silence.ends_at)}"
            f" ({', '.join(matched)})"
        )
    return EXIT_OK


async def _list(
    store: AlertStore, args: argparse.Namespace, out: Callable[[str], None], now: datetime
) -> int:
    silences = await store.silences(now, include_past=args.all)
    if args.format == "json":
        out(_dumps({"silences": [_silence_json(s) for s in silences]}))
        return EXIT_OK
    if not silences:
        out("no silences")
        return EXIT_OK
    rows: list[tuple[str, ...]] = [("id", "rule", "from", "until", "by", "state", "reason")]
    for s in silences:
        rows.append(
            (
                str(s.id),
                s.silence.rule,
                _iso(s.silence.starts_at),
                _iso(s.silence.ends_at),
                s.silence.created_by,
                _silence_state(s, now),
                s.silence.reason,
            )
        )
    out(_table(rows))
    return EXIT_OK


async def _remove(
    store: AlertStore, args: argparse.Namespace, out: Callable[[str], None], now: datetime
) -> int:
    if not await store.remove_silence(args.id, now, _user(args.by)):
        raise UsageError(f"no silence {args.id} in force or ahead (see `silence list --all`)")
    out(_dumps({"removed": args.id}) if args.format == "json" else f"silence {args.id} removed")
    return EXIT_OK


async def _status(store: AlertStore, output_format: str, out: Callable[[str], None]) -> int:
    states = await store.states()
    outbox = await store.status()
    rules = [
        {
            "rule": name,
            "state": state.state,
            "firing_since": _iso_or_none(state.firing_since),
            "last_sent_at": _iso_or_none(state.last_sent_at),
        }
        for name, state in sorted(states.items())
    ]
    document = {
        "rules": rules,
        "outbox": {
            "waiting": outbox.waiting,
            "oldest": _iso_or_none(outbox.oldest),
            "next_attempt_at": _iso_or_none(outbox.next_attempt_at),
            "last_error": outbox.last_error,
        },
    }
    if output_format == "json":
        out(_dumps(document))
        return EXIT_OK
    rows = [("rule", "state", "firing since", "last sent")]
    rows += [
        (str(r["rule"]), str(r["state"]), r["firing_since"] or "-", r["last_sent_at"] or "-")
        for r in rules
    ]
    lines = [_table(rows) if rules else "no rule has been evaluated yet"]
    waiting = f"outbox: {outbox.waiting} waiting"
    if outbox.waiting:
        waiting += f" since {_iso_or_none(outbox.oldest)}; last error: {outbox.last_error or '-'}"
    lines.append(waiting)
    out("\n".join(lines))
    return EXIT_OK


def _silence_state(s: StoredSilence, now: datetime) -> str:
    if s.removed_at is not None:
        return "removed"
    if s.silence.ends_at <= now:
        return "expired"
    return "active" if s.silence.starts_at <= now else "pending"


def _silence_json(s: StoredSilence) -> dict[str, Any]:
    return {
        "id": s.id,
        "rule": s.silence.rule,
        "starts_at": _iso(s.silence.starts_at),
        "ends_at": _iso(s.silence.ends_at),
        "reason": s.silence.reason,
        "created_by": s.silence.created_by,
        "removed_at": _iso_or_none(s.removed_at),
    }


def _table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _iso_or_none(moment: datetime | None) -> str | None:
    return None if moment is None else _iso(moment)


def _dumps(document: Any) -> str:
    from monitor.report import dumps

    return dumps(document)
