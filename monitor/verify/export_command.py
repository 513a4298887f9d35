"""`verify --from-export`: the command line's side (a progress line on a terminal)."""

from __future__ import annotations

import argparse
import sys

import anyio

from monitor.config import Settings
from monitor.model import CheckReport
from monitor.verify.export_run import ExportRequest, verify_export


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


def run_export(settings: Settings, args: argparse.Namespace) -> CheckReport:
    line = _Line(args.format == "text")
    request = ExportRequest(
        location=str(args.from_export),
        start=args.start,
        until=args.until,
        fields=args.fields,
        strict=args.strict,
        progress=line,
    )
    try:
        return anyio.run(verify_export, settings, request)
    finally:
        line.finish()
