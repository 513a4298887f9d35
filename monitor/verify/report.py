"""One report for a whole verified range, shaped like `check counts` (CONTRACT §9).

Both `verify --from` (online) and `verify --from-export` build their report here: the counts
figures over every window, `summary.coverage`, and findings naming every key of the range,
those of windows taken from an earlier run's checkpoint included.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from monitor.checks.reporting import build_report
from monitor.checks.slices import Tally, TallyFigures, tally_figures
from monitor.config import Settings
from monitor.core.accuracy import accuracy_ok, rounded
from monitor.core.figures import Figures, omitted_when_none, spread
from monitor.core.mapping import TableMapping
from monitor.core.stats import Interval, interval_or_none
from monitor.model import CheckReport, Window
from monitor.verify.results import WindowResult

CHECK = "verify"


@dataclass(frozen=True, slots=True, kw_only=True)
class Coverage(Figures):
    windows_done: int
    windows_total: int
    #: Windows this process did not read itself: taken from the checkpoint of an earlier,
    #: interrupted run of the range (or done by another worker sharing it).
    windows_resumed: int
    #: Records read in both stores over the windows done (SQL rows + DynamoDB items).
    records: int


@dataclass(frozen=True, slots=True, kw_only=True)
class FieldSample(Figures):
    """The field sample over the windows done (`[verify] sample_fraction`), figures as `check
    sample` names them; the pooled sample is uniform over the history (monitor.verify.sampled)."""

    sampled: int
    bad_records: int
    #: Sampled records equal in every field / sampled records, Wilson 95 % (None: none).
    accuracy: Interval | None
    mismatches_by_field: Mapping[str, int]


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyFigures(Figures):
    """The summary of `verify`: the counts figures over the range, then how it was read."""

    tally: TallyFigures = spread()
    slices: int
    slices_equal_by_checksum: int
    read_units: float
    #: The online run's checkpoint id and shard count (absent from an export's report).
    run_id: int | None = omitted_when_none()
    shards: int | None = omitted_when_none()
    #: What one path adds that is not a figure (an export's id, time and engine).
    details: Mapping[str, Any] = spread()
    coverage: Coverage
    #: Present when fields were sampled in any window done.
    sample: FieldSample | None = omitted_when_none()


def field_sample_of(results: Iterable[WindowResult]) -> FieldSample | None:
    listed = [r for r in results if r.sampled]
    if not listed:
        return None
    sampled = sum(r.sampled for r in listed)
    bad = sum(r.sample_bad for r in listed)
    by_field: dict[str, int] = {}
    for r in listed:
        for name, count in r.sample_by_field.items():
            by_field[name] = by_field.get(name, 0) + count
    return FieldSample(
        sampled=sampled,
        bad_records=bad,
        accuracy=rounded(interval_or_none(sampled - bad, sampled)),
        mismatches_by_field=by_field,
    )


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
    run_id: int | None = None,
    shards: int | None = None,
    details: Mapping[str, Any] | None = None,
    warnings: Iterable[str] = (),
) -> CheckReport:
    """`run_id`, `shards` (the online run) and `details` (an export's) add what one path knows."""
    listed = list(results)
    tally = Tally(
        sql=sum(r.sql for r in listed),
        dynamodb=sum(r.dynamodb for r in listed),
        matched=sum(r.matched for r in listed),
        agreed_absent=sum(r.agreed_absent for r in listed),
        slices_done=sum(r.slices for r in listed),
    )
    findings = sorted((f for r in listed for f in r.findings), key=lambda f: (f.kind, str(f.key)))
    counted, within = tally_figures(settings, tally, findings)
    sample = field_sample_of(listed)
    if sample is not None:
        threshold = settings.alerts.thresholds.field_accuracy
        within = within and accuracy_ok(
            sample.accuracy,
            alert_below=None if threshold.alert_below is None else threshold.alert_below / 100,
            alert_above=None if threshold.alert_above is None else threshold.alert_above / 100,
        )
    figures = VerifyFigures(
        tally=counted,
        slices=tally.slices_done,
        slices_equal_by_checksum=sum(r.slices_equal for r in listed),
        read_units=round(sum(r.read_units for r in listed), 3),
        run_id=run_id,
        shards=shards,
        details=dict(details or {}),
        coverage=coverage,
        sample=sample,
    )
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
        figures=figures,
        findings=findings,
        warnings=warnings,
    )
