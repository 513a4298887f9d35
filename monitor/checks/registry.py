"""Check names -> the code that runs them, with their window computed from config."""

from __future__ import annotations

from datetime import datetime

from monitor.checks.context import CheckContext
from monitor.checks.counts import run_counts
from monitor.core.windows import settled_window
from monitor.errors import UsageError
from monitor.model import CheckReport
from monitor.report import TerminalProgress


async def run_check(
    name: str,
    context: CheckContext,
    now: datetime,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    strict: bool = False,
    interactive: bool = False,
) -> CheckReport:
    settings = context.settings
    if name == "counts":
        config = settings.checks.counts
        try:
            window = settled_window(now, config.window, config.settle, since=since, until=until)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        progress = TerminalProgress("counts") if interactive else None
        try:
            report = await run_counts(
                settings,
                context.sql,
                context.dynamo,
                context.state,
                window,
                now,
                strict=strict,
                progress=progress,
            )
        finally:
            if progress is not None:
                progress.finish()
        if context.warnings:
            from dataclasses import replace

            report = replace(report, warnings=(*context.warnings, *report.warnings))
        return report
    raise UsageError(f"unknown check {name!r}")
