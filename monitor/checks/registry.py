"""Check names -> the code that runs them. The CLI, `check all` and the daemon read this table.

A check is an async function `(context, request) -> CheckReport`; it computes its own window from
`request.now` and its config section, honouring `--since`/`--until`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from monitor.checks.context import CheckContext
from monitor.checks.counts import run_counts
from monitor.checks.orphans import run_orphans
from monitor.checks.quality import quality_check
from monitor.checks.sampling import sample_check
from monitor.core.windows import settled_window
from monitor.errors import UsageError
from monitor.model import CheckReport, Window
from monitor.report import TerminalProgress


@dataclass(frozen=True, slots=True)
class CheckRequest:
    now: datetime
    since: datetime | None = None
    until: datetime | None = None
    strict: bool = False
    #: Show progress on stderr when it is a terminal (the CLI; never the daemon).
    interactive: bool = False

    def window(
        self, length: timedelta, settle: timedelta, max_window: timedelta | None = None
    ) -> Window:
        """The settled window for a check, or the one `--since`/`--until` asked for (clamped).

        A window longer than `max_window` is refused: one run of a check is not the tool for a
        whole history (`verify` walks it window by window, resumably).
        """
        try:
            window = settled_window(self.now, length, settle, since=self.since, until=self.until)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        if max_window is not None and window.end - window.start > max_window:
            raise UsageError(
                f"the window {window.start.isoformat()} .. {window.end.isoformat()} is longer"
                f" than [checks] max_window ({max_window}); use `dualwrite-monitor verify"
                " --from ... --until ...` for a long range, or narrow --since/--until"
            )
        return window


CheckFunction = Callable[[CheckContext, CheckRequest], Awaitable[CheckReport]]


async def orphans_check(context: CheckContext, request: CheckRequest) -> CheckReport:
    config = context.settings.checks.orphans
    # The window ends at now - grace: younger records are in flight and never judged.
    window = request.window(config.window, config.grace, context.settings.checks.max_window)
    return await run_orphans(
        context.settings,
        context.sql,
        context.dynamo,
        context.state,
        window,
        request.now,
        strict=request.strict,
    )


async def counts_check(context: CheckContext, request: CheckRequest) -> CheckReport:
    config = context.settings.checks.counts
    window = request.window(config.window, config.settle, context.settings.checks.max_window)
    progress = TerminalProgress("counts") if request.interactive else None
    try:
        return await run_counts(
            context.settings,
            context.sql,
            context.dynamo,
            context.state,
            window,
            request.now,
            strict=request.strict,
            progress=progress,
        )
    finally:
        if progress is not None:
            progress.finish()


#: In the order `check all` and the daemon run them.
REGISTRY: dict[str, CheckFunction] = {
    "orphans": orphans_check,
    "counts": counts_check,
    # `quality` before `sample`: its read covers what `sample` needs, so `check all` draws and
    # fetches one sample for both (see SampleCache).
    "quality": quality_check,
    "sample": sample_check,
}


async def run_check(name: str, context: CheckContext, request: CheckRequest) -> CheckReport:
    check = REGISTRY.get(name)
    if check is None:
        raise UsageError(f"unknown check {name!r}; known: {', '.join(REGISTRY)}")
    # Its own view of DynamoDB, so `read_units` counts this run alone, not overlapping ones.
    report = await check(replace(context, dynamo=context.dynamo.for_run()), request)
    if context.warnings:
        report = replace(report, warnings=(*context.warnings, *report.warnings))
    return report
