"""`verify --from-export`: the command line's side (a progress line on a terminal)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import anyio

from monitor.config import Settings
from monitor.errors import EXIT_OK
from monitor.model import CheckReport
from monitor.report import dumps
from monitor.verify.export_run import ExportRequest, snapshot_for_spark, verify_export

#: The export's commands run on uvloop's event loop where it is installed (a dependency on
#: Linux and macOS): asyncpg's COPY client costs half the CPU there (0.31 against 0.63 CPU s per
#: 1M snapshot rows), a tenth of the whole run's CPU at 10M records.
EVENT_LOOP: dict[str, Any] = {"use_uvloop": True} if find_spec("uvloop") else {}


class _Line:
    """One line on stderr, rewritten in place, only on a terminal."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self.shown = False

    def __call__(self, text: str) -> None:
        if self.enabled:
            sys.stderr.write(f"\r\033[Kverify --from-export: {text}")
            sys.stderr.flush()
            self.shown = True

    def finish(self) -> None:
        if self.shown:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


def _request(args: argparse.Namespace, line: _Line) -> ExportRequest:
    return ExportRequest(
        location=str(args.from_export),
        start=args.start,
        until=args.until,
        fields=args.fields,
        strict=args.strict,
        progress=line,
    )


def run_export(settings: Settings, args: argparse.Namespace) -> CheckReport:
    line = _Line(args.format == "text")
    try:
        return anyio.run(verify_export, settings, _request(args, line), backend_options=EVENT_LOOP)
    finally:
        line.finish()


def run_snapshot_to(
    settings: Settings, args: argparse.Namespace, out: Callable[[str], None]
) -> int:
    """`--snapshot-to DIR`: the snapshot alone, described in DIR/snapshot.json; exit 0."""
    line = _Line(args.format == "text")
    try:
        description = anyio.run(
            snapshot_for_spark,
            settings,
            _request(args, line),
            Path(args.snapshot_to),
            backend_options=EVENT_LOOP,
        )
    finally:
        line.finish()
    if args.format == "json":
        out(dumps(description))
    else:
        window = description["window"]
        out(
            f"snapshot {description['snapshot']} of {window['start']} .. {window['end']}"
            f" written to {args.snapshot_to} ({len(description['files'])} files)"
        )
    return EXIT_OK
