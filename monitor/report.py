"""A CheckReport as the JSON of CONTRACT §4, or as an aligned text table for people."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TextIO

from monitor.model import CheckReport, Finding

_FINDING_COLUMNS = ("kind", "key", "pk", "sk", "sql_status", "dynamodb_status", "field", "detail")


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def finding_json(finding: Finding, key_column: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "kind": str(finding.kind),
        "key": {key_column: finding.key},
        "pk": finding.pk,
        "sk": finding.sk,
        "sql_status": finding.sql_status,
        "dynamodb_status": finding.dynamodb_status,
    }
    for optional in ("field", "rule", "detail"):
        value = getattr(finding, optional)
        if value is not None:
            out[optional] = value
    return out


def report_json(report: CheckReport) -> dict[str, Any]:
    window: dict[str, Any] = {"start": iso(report.window.start), "end": iso(report.window.end)}
    if report.window.clamped:
        window["clamped"] = True
    out: dict[str, Any] = {
        "check": report.check,
        "table": report.table,
        "window": window,
        "ok": report.ok,
        "summary": dict(report.summary),
        "findings": [finding_json(f, report.key_column) for f in report.findings],
    }
    if report.warnings:
        out["warnings"] = list(report.warnings)
    return out


def dumps(document: Any) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False, default=str)


def render_json(reports: Sequence[CheckReport], *, combined: bool) -> str:
    if combined:
        return dumps(
            {"checks": [report_json(r) for r in reports], "ok": all(r.ok for r in reports)}
        )
    return dumps(report_json(reports[0]))


def _paint(text: str, colour: str, enabled: bool) -> str:
    codes = {"green": "32", "red": "31", "yellow": "33", "bold": "1"}
    return f"\033[{codes[colour]}m{text}\033[0m" if enabled else text


def _cell(value: Any) -> str:
    return "-" if value is None else str(value)


def render_text(report: CheckReport, *, colour: bool = False) -> str:
    verdict = _paint("OK", "green", colour) if report.ok else _paint("INCONSISTENT", "red", colour)
    lines = [
        f"check {report.check} on {report.table}: {verdict}",
        f"window {iso(report.window.start)} .. {iso(report.window.end)}"
        + (" (clamped to the settled edge)" if report.window.clamped else ""),
        "",
    ]
    width = max((len(k) for k in report.summary), default=0)
    for name, value in report.summary.items():
        shown = json.dumps(value) if isinstance(value, dict | list) else _cell(value)
        lines.append(f"  {name:<{width}}  {shown}")
    for warning in report.warnings:
        lines.append(_paint(f"warning: {warning}", "yellow", colour))
    if report.findings:
        lines += ["", f"{len(report.findings)} finding(s):"]
        rows = [
            [
                _cell(f.kind),
                f"{report.key_column}={f.key}",
                _cell(f.pk),
                _cell(f.sk),
                _cell(f.sql_status),
                _cell(f.dynamodb_status),
                _cell(f.field),
                _cell(f.detail),
            ]
            for f in report.findings
        ]
        used = [i for i in range(len(_FINDING_COLUMNS)) if any(r[i] != "-" for r in rows)]
        widths = {i: max(len(_FINDING_COLUMNS[i]), *(len(r[i]) for r in rows)) for i in used}
        lines.append("  " + "  ".join(_FINDING_COLUMNS[i].ljust(widths[i]) for i in used).rstrip())
        lines += ["  " + "  ".join(r[i].ljust(widths[i]) for i in used).rstrip() for r in rows]
    return "\n".join(lines)


class TerminalLine:
    """One line on stderr redrawn in place, only when stderr is a terminal (never in pipes or
    logs), cleared by `finish`."""

    def __init__(self, stream: TextIO | None = None, *, enabled: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self._shown = False

    def draw(self, text: str) -> None:
        if self.enabled:
            self.stream.write("\r\033[K" + text)
            self.stream.flush()
            self._shown = True

    def finish(self) -> None:
        if self._shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self._shown = False


class TerminalProgress(TerminalLine):
    """Progress on stderr for a long check run."""

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        super().__init__(stream)
        self.label = label

    def __call__(self, done: int, total: int, records: int) -> None:
        self.draw(f"{self.label}: {done}/{total} slices, {records:,} records read")


@contextmanager
def terminal_progress(label: str) -> Iterator[TerminalProgress]:
    """Progress for one check run, cleared from the terminal when the run ends."""
    progress = TerminalProgress(label)
    try:
        yield progress
    finally:
        progress.finish()
