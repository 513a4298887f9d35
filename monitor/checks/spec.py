"""A check, declared once: its name, config section, run function, alert figures and gauges.

arq's `Function` is the model: `checks/registry.py` is a tuple of these, and the CLI, the daemon's
schedule, the metrics (`telemetry/metrics.py`) and the alert rules (`core/alertmap.py`) all read
them. Adding a check is its module (which exports one `CheckSpec`) and one entry in that tuple.
This module imports no concrete check.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from monitor.core.alertmap import Figure
from monitor.core.windows import settled_window
from monitor.errors import UsageError
from monitor.model import CheckReport, Window

if TYPE_CHECKING:
    from monitor.checks.context import CheckContext

#: progress(done, total, records read): how far a long run is (the CLI draws it on a terminal).
Progress = Callable[[int, int, int], None]


@dataclass(frozen=True, slots=True)
class CheckRequest:
    now: datetime
    since: datetime | None = None
    until: datetime | None = None
    strict: bool = False
    #: Called as a long check advances (the CLI's terminal progress; never in the daemon).
    progress: Progress | None = None

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


CheckFunction = Callable[["CheckContext", CheckRequest], Awaitable[CheckReport]]
#: A gauge's points from one report: (attributes beyond `table`, value) pairs.
GaugeReader = Callable[[CheckReport], Iterable[tuple[Mapping[str, str], float]]]


@dataclass(frozen=True, slots=True)
class Gauge:
    """A `dualwrite.*` gauge (CONTRACT §5) a check's report sets."""

    instrument: str
    read: GaugeReader
    #: Attribute sets seen once and absent from a later report are set back to 0 (a field
    #: that stopped mismatching must not keep its last count).
    sticky: bool = False


@dataclass(frozen=True, slots=True)
class CheckSpec:
    name: str
    #: The `[checks.<section>]` that holds its interval (and its window and settle or grace).
    section: str
    run: CheckFunction
    #: Alert rule -> the summary figure it reads (`check` is filled in from `name`).
    rules: Mapping[str, Figure] = field(default_factory=dict)
    gauges: tuple[Gauge, ...] = ()
    #: Records a run examined, for `dualwrite.records_checked`; by default the summary's
    #: `records_checked`, `sampled`, `records` or `checked`.
    records_checked: Callable[[Mapping[str, Any]], float | None] | None = None
    #: Why the check needs SQL to be written ("" when it does not): in `dynamo_only` the
    #: daemon stops it and says this (`monitor.core.switch.stop_reason`).
    needs_sql_writes: str = ""


def number(value: Any) -> float | None:
    """A finite int/float from a summary, else None (booleans and strings are not figures)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def summary_gauge(instrument: str, key: str, **attributes: str) -> Gauge:
    """A gauge that is one number of the summary."""

    def read(report: CheckReport) -> Iterable[tuple[Mapping[str, str], float]]:
        value = number(report.summary.get(key))
        return () if value is None else ((attributes, value),)

    return Gauge(instrument, read)


def mapping_gauge(
    instrument: str,
    key: str,
    attribute: str,
    *,
    only: tuple[str, ...] | None = None,
    sticky: bool = False,
) -> Gauge:
    """A gauge per entry of a summary mapping (`{"point": …}`, `{"RequestData": 3}`), the
    entries `only` names if given."""

    def read(report: CheckReport) -> Iterable[tuple[Mapping[str, str], float]]:
        values = report.summary.get(key)
        if not isinstance(values, Mapping):
            return ()
        names = only if only is not None else tuple(values)
        points = ((str(name), number(values.get(name))) for name in names)
        if sticky:  # an unreadable count reads as none
            return [({attribute: name}, value or 0.0) for name, value in points]
        return [({attribute: name}, value) for name, value in points if value is not None]

    return Gauge(instrument, read, sticky=sticky)
