"""A check over a long range, run in `[checks] max_window` pieces (one run of a check refuses a
longer window); the write-switch gate counts the whole dual-write period this way."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from monitor.checks.registry import CheckRequest, run_check
from monitor.model import Finding, Window
from monitor.runtime import StoreContext


@dataclass(frozen=True, slots=True)
class PeriodResult:
    window: Window
    windows: int
    findings: tuple[Finding, ...]

    @property
    def figures(self) -> dict[str, int]:
        return {"windows": self.windows, "findings": len(self.findings)}


async def run_over_period(
    context: StoreContext,
    check: str,
    now: datetime,
    start: datetime,
    end: datetime,
) -> PeriodResult:
    """`check` over `[start, end)` (each piece clamped to its settled edge as usual)."""
    step = context.settings.checks.max_window
    findings: list[Finding] = []
    windows = 0
    last = start
    piece = start
    while piece < end:
        report = await run_check(
            check, context, CheckRequest(now=now, since=piece, until=min(piece + step, end))
        )
        windows += 1
        findings.extend(report.findings)
        last = report.window.end
        if report.window.clamped:
            break  # the settled edge: nothing later is judged yet
        piece += step
    return PeriodResult(Window(start, max(start, last)), windows, tuple(findings))
