"""The validation after a switch (SEED-REVIEW row 14): wait for real traffic in a settled window,
then judge it — no fixed sleep, and the result says what it waited for.

The window starts at the recorded switch plus `[writer] phase_cache` (until then a writer may
still act on the phase it read before) and ends at the settled edge (`[checks.counts] settle`);
`counts` over it tells how many records each store received. The verdict is
`monitor.core.switch.after_switch`: enough records where the new phase writes, none where it no
longer writes, and, while both are written, the same keys in both.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import anyio

from monitor.checks.counts import CountsFigures
from monitor.checks.registry import CheckRequest, run_check
from monitor.checks.reporting import figures_of
from monitor.core.switch import Traffic, after_switch
from monitor.migration.phase import PhaseChange
from monitor.model import Window
from monitor.runtime import StoreContext

#: Seconds between looks at the traffic while waiting.
POLL = 5.0


@dataclass(frozen=True, slots=True)
class AfterSwitch:
    passed: bool
    detail: str
    #: What the validation waited for, in words.
    waited_for: str
    waited_seconds: float
    window: Window | None = None
    figures: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        window = (
            None
            if self.window is None
            else {"start": _iso(self.window.start), "end": _iso(self.window.end)}
        )
        return {
            "passed": self.passed,
            "detail": self.detail,
            "waited_for": self.waited_for,
            "waited_seconds": round(self.waited_seconds, 1),
            "window": window,
            "figures": self.figures,
        }


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def validate_after_switch(
    context: StoreContext,
    change: PhaseChange,
    *,
    poll: float = POLL,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> AfterSwitch:
    gates = context.settings.gates
    wanted = gates.after_switch_records
    start = change.at + context.settings.writer.phase_cache
    settle = context.settings.checks.counts.settle
    waited_for = (
        f"{wanted} records written after {_iso(start)} (the switch plus the writers' phase"
        f" cache) in a window settled for {settle}"
    )
    began = time.monotonic()
    deadline = began + gates.after_switch_timeout.total_seconds()
    detail = "no settled window after the switch yet"
    window: Window | None = None
    figures: dict[str, Any] = {}
    while True:
        now = clock()
        if now - settle > start:
            window = Window(start, now - settle)
            report = await run_check(
                "counts", context, CheckRequest(now=now, since=window.start, until=window.end)
            )
            counted = figures_of(report, CountsFigures).tally
            traffic = Traffic(counted.sql_count, counted.dynamodb_count, len(report.findings))
            figures = {"sql_count": traffic.sql_count, "dynamodb_count": traffic.dynamodb_count}
            verdict, detail = after_switch(change.to_phase, traffic, wanted)
            if verdict != "wait":
                return AfterSwitch(
                    verdict == "passed",
                    detail,
                    waited_for,
                    time.monotonic() - began,
                    window,
                    figures,
                )
        left = deadline - time.monotonic()
        if left <= 0:
            return AfterSwitch(
                False,
                f"not enough traffic within {gates.after_switch_timeout}: {detail}",
                waited_for,
                time.monotonic() - began,
                window,
                figures,
            )
        await anyio.sleep(min(poll, left))


__all__ = ["POLL", "AfterSwitch", "validate_after_switch"]
