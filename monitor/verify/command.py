"""`dualwrite-monitor verify --from ISO [--until ISO]` (CONTRACT §9): parse, run, print.

SIGTERM (a deploy, `kubectl delete pod`) and Ctrl-C stop the run between two reads; the
windows already checkpointed stay, the one in progress is read again by the next run of the
same range.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import anyio

from monitor.config import Settings
from monitor.errors import EXIT_INCONSISTENT, EXIT_INTERRUPTED, EXIT_OK, MonitorError, UsageError
from monitor.model import CheckReport

if TYPE_CHECKING:
    from monitor.verify.online import VerifyRequest


class VerifyStopped(MonitorError):
    exit_code = EXIT_INTERRUPTED

    def __init__(self, signame: str) -> None:
        super().__init__(
            f"verify stopped by {signame}; finished windows are checkpointed: run the same"
            " command again to resume"
        )


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: Callable[[argparse.ArgumentParser], None],
    timestamp: Callable[[str], datetime],
) -> None:
    verify = commands.add_parser(
        "verify", help="verify the whole history, window by window, resumably"
    )
    verify.add_argument(
        "--from", dest="start", type=timestamp, help="start of the history, ISO-8601 with zone"
    )
    verify.add_argument(
        "--until", type=timestamp, help="end (exclusive; default and latest: now - settle)"
    )
    verify.add_argument(
        "--strict", action="store_true", help="any finding makes the report not ok (exit 1)"
    )
    verify.add_argument(
        "--sample-fraction",
        dest="sample_fraction",
        type=_fraction,
        metavar="F",
        help="also compare the fields of this share (0..1) of each window's records, as"
        " `check sample` does (default: [verify] sample_fraction)",
    )
    verify.add_argument(
        "--from-export",
        dest="from_export",
        metavar="DIR|s3://...",
        help="compare a DynamoDB export (its folder holding manifest-summary.json) with a"
        " PostgreSQL snapshot, in DuckDB; the range ends at the export's time minus settle",
    )
    verify.add_argument(
        "--snapshot-to",
        dest="snapshot_to",
        metavar="DIR",
        help="with --from-export: only write the PostgreSQL snapshot of the export's range to"
        " DIR, for the Spark job (monitor/verify/spark_job.py)",
    )
    verify.add_argument(
        "--fields",
        action="store_true",
        help="with --from-export: also compare the [mapping] fields, by hashes computed the"
        " same way on both sides",
    )
    common(verify)


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 1")
    return value


def run_command(settings: Settings, args: argparse.Namespace, out: Callable[[str], None]) -> int:
    from monitor.report import render_json, render_text
    from monitor.verify.online import VerifyRequest, verify_range

    if args.from_export and args.sample_fraction is not None:
        raise UsageError(
            "--sample-fraction is for the online walk; with --from-export, --fields compares"
            " every record's fields"
        )
    if args.from_export and args.snapshot_to:
        from monitor.verify.export_command import run_snapshot_to

        return run_snapshot_to(settings, args, out)
    if args.from_export:
        from monitor.verify.export_command import run_export

        report = run_export(settings, args)
    else:
        if args.fields or args.snapshot_to:
            raise UsageError("--fields and --snapshot-to go with --from-export")
        request = VerifyRequest(
            now=datetime.now(UTC),
            start=args.start,
            until=args.until,
            strict=args.strict,
            sample_fraction=args.sample_fraction,
        )
        verify_range(settings, request)  # a bad range is refused before any store is opened
        report = anyio.run(_run, settings, request, args.format == "text")
    if args.format == "json":
        out(render_json([report], combined=False))
    else:
        out(render_text(report, colour=sys.stdout.isatty()))
    return EXIT_OK if report.ok else EXIT_INCONSISTENT


async def _run(settings: Settings, request: VerifyRequest, terminal: bool) -> CheckReport:
    from dataclasses import replace

    from monitor.runtime import open_context
    from monitor.verify.online import verify_online
    from monitor.verify.progress import VerifyProgress

    progress = VerifyProgress(enabled=None if terminal else False)
    stopped: list[str] = []
    report: CheckReport | None = None
    try:
        async with open_context(settings) as context, anyio.create_task_group() as group:

            async def stop_on_sigterm() -> None:
                with anyio.open_signal_receiver(signal.SIGTERM) as signals:
                    async for signum in signals:
                        stopped.append(signal.Signals(signum).name)
                        group.cancel_scope.cancel()
                        return

            if threading.current_thread() is threading.main_thread():  # where signals arrive
                group.start_soon(stop_on_sigterm)
            report = await verify_online(context, replace(request, progress=progress))
            group.cancel_scope.cancel()
    finally:
        progress.finish()
    if stopped or report is None:
        raise VerifyStopped(stopped[0] if stopped else "a signal")
    return report
