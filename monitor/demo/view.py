"""The demo's live view: each check's last outcome, the writer's progress, the alerts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import IO

from monitor.alerts.engine import counter_state
from monitor.checks.counts import CountsFigures
from monitor.checks.quality import QualityFigures
from monitor.checks.registry import REGISTRY
from monitor.checks.sampling import SampleFigures
from monitor.core.rules import Notification
from monitor.errors import describe_error
from monitor.model import CheckReport
from monitor.writer.generate import Progress


@dataclass
class View:
    """What the demo shows while it runs: checks' last outcomes, the writer, the alerts."""

    stream: IO[str]
    live: bool
    port: int
    progress: Progress | None = None
    last: dict[str, str] = field(default_factory=dict)
    fired: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    reports: list[CheckReport] = field(default_factory=list)
    _drawn: int = 0

    def say(self, line: str) -> None:
        if self.live:
            self._clear()
        self.stream.write(line + "\n")
        self.stream.flush()
        if self.live:
            self.draw()

    async def on_report(
        self, check: str, report: CheckReport | None, error: BaseException | None
    ) -> None:
        if report is None:
            self.last[check] = f"error: {describe_error(error) if error else 'skipped'}"
        else:
            self.reports.append(report)
            self.last[check] = f"{report.outcome}: {figures(report)}"
        if not self.live:
            self.say(f"check {check:<8} {self.last[check]}")

    def on_alert(self, note: Notification) -> None:
        state = counter_state(note)
        if state == "firing":
            self.fired.append(note.rule)
        elif state == "resolved":
            self.resolved.append(note.rule)
        if state is not None:
            self.say(f"alert {state:<8} {note.rule}")

    def lines(self) -> list[str]:
        out = [f"daemon: http://127.0.0.1:{self.port}/metrics  /status  /healthz"]
        progress = self.progress
        if progress is not None:
            faults = sum(progress.faults.values())
            out.append(
                f"writer: {progress.written} written  {progress.achieved_rate:.1f}/s"
                f"  p50 {progress.latency_ms(0.5) or 0:.0f} ms  p99"
                f" {progress.latency_ms(0.99) or 0:.0f} ms  faults injected {faults}"
            )
        for check in REGISTRY:
            out.append(f"  {check:<8} {self.last.get(check, 'waiting for its first run')}")
        firing = sorted(set(self.fired) - set(self.resolved))
        out.append(f"alerts: firing {', '.join(firing) or 'none'}; resolved {len(self.resolved)}")
        return out

    def draw(self) -> None:
        self._clear()
        lines = self.lines()
        self.stream.write("\n".join(lines) + "\n")
        self.stream.flush()
        self._drawn = len(lines)

    def _clear(self) -> None:
        if self._drawn:
            self.stream.write(f"\033[{self._drawn}F\033[J")
            self._drawn = 0


def figures(report: CheckReport) -> str:
    shown = report.figures
    if isinstance(shown, CountsFigures):
        s = shown.tally
        return (
            f"sql {s.sql_count} dynamodb {s.dynamodb_count}"
            f" missing {s.missing_in_dynamodb}/{s.missing_in_sql}"
            f" divergent {s.status_divergence}"
        )
    if isinstance(shown, SampleFigures):
        point = "n/a" if shown.accuracy is None else shown.accuracy.point
        return f"sampled {shown.sampled} accuracy {point}"
    if isinstance(shown, QualityFigures):
        return f"grade {shown.grade} findings {len(report.findings)}"
    return f"{len(report.findings)} findings"
