"""One report for a whole verified range, shaped like `check counts` (CONTRACT §9).

Both `verify --from` (online) and `verify --from-export` build their report here: the counts
figures over every window, `summary.coverage`, and findings naming every key of the range,
those of windows taken from an earlier run's checkpoint included.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from monitor.checks.counts import Tally, tally_figures
from monitor.checks.reporting import build_report
from monitor.config import Settings
from monitor.core.mapping import TableMapping
from monitor.model import CheckReport, Window
from monitor.verify.results import WindowResult

CHECK = "verify"


@dataclass(frozen=True, slots=True)
class Coverage:
    windows_done: int
    windows_total: int
    #: Windows this process did not read itself: taken from the checkpoint of an earlier,
    #: interrupted run of the range (or done by another worker sharing it).
    windows_resumed: int
    #: Records read in both stores over the windows done (SQL rows + DynamoDB items).
    records: int

    def as_json(self) -> dict[str, int]:
        return {
            "windows_done": self.windows_done,
            "windows_total": self.windows_total,
            "windows_resumed": self.windows_resumed,
            "records": self.records,
        }


def coverage_of(results: Iterable[WindowResult], windows_total: int, resumed: int) -> Coverage:
    listed = list(results)
    return Coverage(
        windows_done=len(listed),
        windows_total=windows_total,
        windows_resumed=resumed,
        records=sum(r.sql + r.dynamodb for r in listed),
    )


def verify_report(
    settings: Settings,
    mapping: TableMapping,
    window: Window,
    results: Iterable[WindowResult],
    coverage: Coverage,
    *,
    strict: bool = False,
    extra: Mapping[str, Any] | None = None,
    warnings: Iterable[str] = (),
) -> CheckReport:
    """`extra` adds figures of one path (the online run's read units, an export's id)."""
    listed = list(results)
    tally = Tally(
        sql=sum(r.sql for r in listed),
        dynamodb=sum(r.dynamodb for r in listed),
        matched=sum(r.matched for r in listed),
        agreed_absent=sum(r.agreed_absent for r in listed),
        slices_done=sum(r.slices for r in listed),
    )
    findings = sorted((f for r in listed for f in r.findings), key=lambda f: (f.kind, str(f.key)))
    summary, within = tally_figures(settings, tally, findings)
    summary["slices"] = tally.slices_done
    summary["slices_equal_by_checksum"] = sum(r.slices_equal for r in listed)
    summary["read_units"] = round(sum(r.read_units for r in listed), 3)
    summary |= dict(extra or {})
    summary["coverage"] = coverage.as_json()
    # A range not wholly covered is not a verified range, whatever its figures say.
    complete = coverage.windows_done == coverage.windows_total
    if not complete:
        warnings = [
            *warnings,
            f"only {coverage.windows_done} of {coverage.windows_total} windows were verified",
        ]
    return build_report(
        CHECK,
        mapping,
        window,
        within_thresholds=within and complete,
        strict=strict,
        summary=summary,
        findings=findings,
        warnings=warnings,
    )
