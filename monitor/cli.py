"""The command line (CONTRACT §3): parses, dispatches, prints; computes nothing itself.

Exit codes: 0 consistent / passed, 1 inconsistency over threshold, 2 usage or configuration
error, 3 a store could not be reached or a check could not finish.
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import anyio

from monitor import __version__
from monitor.checks.registry import REGISTRY, CheckRequest, run_check
from monitor.collector import pace_collector
from monitor.config import Settings, load_settings
from monitor.errors import (
    EXIT_INCONSISTENT,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    MonitorError,
    UsageError,
    first_monitor_error,
)
from monitor.model import CheckReport
from monitor.retryline import attach_retry_line, clear_retry_line
from monitor.telemetry.logs import quiet_drivers


def _common(parser: argparse.ArgumentParser, *, top: bool) -> None:
    # The same options are accepted before and after the subcommand; SUPPRESS on the
    # subcommand copies keeps a value given before it from being reset to the default.
    default = None if top else argparse.SUPPRESS
    parser.add_argument(
        "--config",
        type=Path,
        default=default,
        help="config file (default ./config.toml, or env DUALWRITE_MONITOR_CONFIG)",
    )
    parser.add_argument(
        "--format",
        choices=("text", "json"),
        default="text" if top else argparse.SUPPRESS,
        help="text for people, json for scripts",
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        default=False if top else argparse.SUPPRESS,
        help="log details and show tracebacks of unexpected errors",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dualwrite-monitor",
        description="Watches a PostgreSQL to DynamoDB dual-write migration.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _common(parser, top=True)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    setup = commands.add_parser("setup", help="create the default tables, indexes and schema")
    _common(setup, top=False)

    run = commands.add_parser(
        "run", help="the daemon: every check on its interval until SIGTERM/SIGINT"
    )
    _common(run, top=False)

    check = commands.add_parser("check", help="run a check once and print its report")
    check.add_argument("name", choices=(*REGISTRY, "all"), help="which check")
    check.add_argument("--since", type=_timestamp, help="window start, ISO-8601 with zone")
    check.add_argument("--until", type=_timestamp, help="window end, ISO-8601 with zone")
    check.add_argument(
        "--strict", action="store_true", help="any finding makes the report not ok (exit 1)"
    )
    _common(check, top=False)

    demo = commands.add_parser("demo", help="everything on this machine, no setup needed")
    demo.add_argument("--duration", default="40s", help="how long traffic runs (default 40s)")
    demo.add_argument("--rate", type=float, default=20.0, help="records per second (default 20)")
    demo.add_argument(
        "--faults", default="heavy", help="none | light | heavy (default) | a TOML FILE"
    )
    demo.add_argument("--seed", type=int, default=1, help="same seed, same records and faults")
    demo.add_argument("--truth", type=Path, help="also write the ground truth here")
    demo.add_argument(
        "--dynamodb",
        choices=("auto", "moto", "ddblocal"),
        default="auto",
        help="local DynamoDB-API server (auto: DynamoDB Local when installed, else moto)",
    )
    _common(demo, top=False)

    generate = commands.add_parser(
        "generate", help="write realistic traffic through the dual writer, with injected faults"
    )
    generate.add_argument("--rate", type=float, default=50.0, help="records per second (50)")
    generate.add_argument("--duration", default="1m", help='how long, e.g. "90s", "5m" (1m)')
    generate.add_argument(
        "--faults", default="none", help="none | light (~0.5 %%) | heavy (~5 %%) | a TOML FILE"
    )
    generate.add_argument(
        "--truth", type=Path, help="write the ground truth here: one JSON line per fault"
    )
    generate.add_argument("--seed", type=int, default=1, help="same seed, same records and faults")
    generate.add_argument(
        "--first-key", type=int, help="first record key (default: from the clock, never reused)"
    )
    _common(generate, top=False)

    from monitor.alerts.commands import add_commands

    add_commands(commands, lambda sub: _common(sub, top=False))
    from monitor.migration.commands import add_commands as add_migration_commands

    add_migration_commands(commands, lambda sub: _common(sub, top=False), _timestamp)
    from monitor.repair.commands import add_commands as add_repair_commands

    add_repair_commands(commands, lambda sub: _common(sub, top=False), _timestamp)
    from monitor.verify.command import add_commands as add_verify_commands

    add_verify_commands(commands, lambda sub: _common(sub, top=False), _timestamp)
    return parser


def _timestamp(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO-8601 timestamp") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no time zone; add Z or +00:00")
    return moment.astimezone(UTC)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    pace_collector()
    level = logging.DEBUG if args.debug else logging.WARNING
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setLevel(level)  # its own level: the retry line below lowers a logger's
    logging.basicConfig(
        level=level, format="%(levelname)s %(name)s: %(message)s", handlers=[stderr]
    )
    quiet_drivers()
    if not args.debug:
        # Store retries: one line updated in place on a terminal, nothing in a pipe.
        attach_retry_line(sys.stderr)
    try:
        return _dispatch(args)
    except MonitorError as exc:
        _fail(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        _fail("interrupted")
        return EXIT_INTERRUPTED
    except BaseExceptionGroup as group:
        found = first_monitor_error(group)
        if found is None:
            return _unexpected(group, args.debug)
        _fail(str(found))
        return found.exit_code
    except Exception as exc:
        return _unexpected(exc, args.debug)


def _unexpected(exc: BaseException, debug: bool) -> int:
    if debug:
        traceback.print_exception(exc)
    _fail(f"unexpected error: {type(exc).__name__}: {exc} (run with --debug for details)")
    return EXIT_UNAVAILABLE


def _fail(message: str) -> None:
    clear_retry_line()  # the final message stands alone on its line
    print(f"dualwrite-monitor: {message}", file=sys.stderr)  # noqa: T201


def _out(text: str) -> None:
    clear_retry_line()
    print(text)  # noqa: T201


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "demo":
        from monitor.demo import run_demo

        return run_demo(
            duration=args.duration,
            rate=args.rate,
            faults=args.faults,
            seed=args.seed,
            truth=args.truth,
            config=args.config,
            dynamodb_backend=args.dynamodb,
            output_format=args.format,
        )
    settings = load_settings(args.config)
    if args.command == "setup":
        return _setup(settings, args.format)
    if args.command == "run":
        from monitor.alerts.sink import alerts_sink
        from monitor.daemon import run_daemon

        return run_daemon(settings, sinks=[alerts_sink], debug=args.debug)
    if args.command == "check":
        names = tuple(REGISTRY) if args.name == "all" else (args.name,)
        reports = anyio.run(_run_checks, settings, names, args)
        _print_reports(reports, args.format, combined=args.name == "all")
        return EXIT_OK if all(r.ok for r in reports) else EXIT_INCONSISTENT
    if args.command == "generate":
        from monitor.writer.command import options_from_args, run_generate

        options = options_from_args(
            args.rate, args.duration, args.faults, args.seed, args.truth, args.first_key
        )
        return run_generate(settings, options, args.format)
    if args.command in ("silence", "alerts"):
        from monitor.alerts.commands import run_command

        return run_command(settings, args, _out)
    if args.command in ("phase", "preflight", "gate", "cleanup"):
        from monitor.migration.commands import run_command as run_migration_command

        return run_migration_command(settings, args, _out)
    if args.command == "repair":
        from monitor.repair.commands import run_command as run_repair_command

        return run_repair_command(settings, args, _out)
    if args.command == "verify":
        from monitor.verify.command import run_command as run_verify_command

        return run_verify_command(settings, args, _out)
    raise UsageError(f"unknown command {args.command}")


def _setup(settings: Settings, output_format: str) -> int:
    from monitor.report import dumps
    from monitor.setup import run_setup

    result = anyio.run(run_setup, settings)
    if output_format == "json":
        _out(
            dumps({"created": result.created, "existing": result.existing, "advice": result.advice})
        )
    else:
        for item in result.created:
            _out(f"created   {item}")
        for item in result.existing:
            _out(f"exists    {item}")
        for item in result.advice:
            _out(f"note      {item}")
    return EXIT_OK


async def _run_checks(
    settings: Settings, names: Sequence[str], args: argparse.Namespace
) -> list[CheckReport]:
    from monitor.checks.sampling import SampleCache
    from monitor.report import terminal_progress
    from monitor.runtime import open_context

    request = CheckRequest(
        now=datetime.now(UTC), since=args.since, until=args.until, strict=args.strict
    )
    reports: list[CheckReport] = []
    async with open_context(settings) as context:
        if len(names) > 1:
            context.samples = SampleCache()
        for name in names:
            if args.format != "text":
                reports.append(await run_check(name, context, request))
                continue
            # Progress on stderr, drawn only on a terminal.
            with terminal_progress(name) as progress:
                reports.append(await run_check(name, context, replace(request, progress=progress)))
    return reports


def _print_reports(reports: Sequence[CheckReport], output_format: str, *, combined: bool) -> None:
    from monitor.report import render_json, render_text

    if output_format == "json":
        _out(render_json(reports, combined=combined))
        return
    colour = sys.stdout.isatty()
    _out("\n\n".join(render_text(r, colour=colour) for r in reports))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


__all__ = ["EXIT_USAGE", "main"]
