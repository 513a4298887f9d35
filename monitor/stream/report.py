"""The stream's figures over a period, as a `stream` report: the daemon delivers it like a check
run's (metrics, /status, the alert rules), every `[stream] report_interval`.

`accuracy` is the share of verified records with no finding, with its Wilson 95 % interval, the
figure of the `field_accuracy` rule (the sample's, measured here on every changed record).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from monitor.checks.reporting import build_report
from monitor.checks.spec import ReportSpec
from monitor.config import Settings
from monitor.core.accuracy import accuracy_ok, rounded
from monitor.core.figures import Figures
from monitor.core.stats import Interval, interval_or_none
from monitor.model import CheckReport, Finding, Window

#: The name of the stream's reports (`CheckReport.check`, the `check` attribute of metrics).
STREAM_CHECK = "stream"


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamFigures(Figures):
    """The summary of a `stream` report, over the period since the last one."""

    records_checked: int
    verified: int
    #: Verified records by the direction their change came from.
    verified_by_direction: Mapping[str, int]
    records_with_findings: int
    #: Verified records with no finding / verified records, Wilson 95 % (None: none verified).
    accuracy: Interval | None
    findings_by_kind: Mapping[str, int]
    #: Seconds the verification is behind the newest change (None: not known).
    lag_s: float | None


@dataclass(slots=True)
class StreamTally:
    """Verified records and findings since the last report (both directions)."""

    verified: int = 0
    with_findings: int = 0
    by_direction: Counter[str] = field(default_factory=Counter)
    findings: list[Finding] = field(default_factory=list)

    def add(self, direction: str, verified: int, with_findings: int) -> None:
        self.verified += verified
        self.with_findings += with_findings
        self.by_direction[direction] += verified

    def take(self) -> StreamTally:
        taken = StreamTally(
            self.verified, self.with_findings, self.by_direction.copy(), list(self.findings)
        )
        self.verified, self.with_findings = 0, 0
        self.by_direction.clear()
        self.findings.clear()
        return taken


def stream_report(
    settings: Settings, tally: StreamTally, start: datetime, end: datetime, lag: float | None
) -> CheckReport:
    interval = interval_or_none(tally.verified - tally.with_findings, tally.verified)
    threshold = settings.alerts.thresholds.field_accuracy
    below = None if threshold.alert_below is None else threshold.alert_below / 100.0
    above = None if threshold.alert_above is None else threshold.alert_above / 100.0
    figures = StreamFigures(
        records_checked=tally.verified,
        verified=tally.verified,
        verified_by_direction=dict(tally.by_direction),
        records_with_findings=tally.with_findings,
        accuracy=rounded(interval),
        findings_by_kind=dict(Counter(str(f.kind) for f in tally.findings)),
        lag_s=None if lag is None else round(lag, 3),
    )
    return build_report(
        STREAM_CHECK,
        settings.table_mapping(),
        Window(start, max(start, end)),
        within_thresholds=accuracy_ok(interval, alert_below=below, alert_above=above),
        strict=False,
        figures=figures,
        findings=tally.findings,
    )


#: What a stream report carries: its `accuracy` feeds the `field_accuracy` rule (declared by
#: `sample`, which reads the stream's report too); it sets no gauge of its own.
SPEC = ReportSpec(
    name=STREAM_CHECK, figures=StreamFigures, records_checked=lambda f: f.records_checked
)
