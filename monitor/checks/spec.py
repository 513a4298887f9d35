"""A check, declared once: its name, config section, run function, typed figures, and which of
them are gauges and which feed alert rules.

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
from typing import TYPE_CHECKING, Generic, TypeVar

from monitor.core.alertmap import Figure
from monitor.core.figures import Figures
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
#: A figures dataclass (`monitor.core.figures.Figures`) a report carries.
F = TypeVar("F", bound=Figures)
_F = TypeVar("_F", contravariant=True)
#: A gauge's points from one report's figures: (attributes beyond `table`, value) pairs.
Points = Iterable[tuple[Mapping[str, str], float]]


@dataclass(frozen=True, slots=True)
class Gauge(Generic[_F]):
    """A `dualwrite.*` gauge (CONTRACT §5) a report's figures set."""

    instrument: str
    read: Callable[[_F], Points]
    #: Attribute sets seen once and absent from a later report are set back to 0 (a field
    #: that stopped mismatching must not keep its last count).
    sticky: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportSpec(Generic[F]):
    """What a kind of report carries: its figures, which of them are gauges, which feed alert
    rules, and how many records a run examined. `stream` reports have one; checks have more."""

    name: str
    #: The report's figures dataclass: every report under `name` carries one.
    figures: type[F]
    #: Alert rule -> the figure it reads (`check` and `reads` are filled in from the spec).
    rules: Mapping[str, Figure[F]] = field(default_factory=dict)
    gauges: tuple[Gauge[F], ...] = ()
    #: Records a run examined, for `dualwrite.records_checked` (None: not counted).
    records_checked: Callable[[F], float | None] | None = None

    def figures_of(self, report: CheckReport) -> F | None:
        """The report's figures as this spec's type (None for a report of another shape)."""
        figures = report.figures
        return figures if isinstance(figures, self.figures) else None


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckSpec(ReportSpec[F]):
    #: The `[checks.<section>]` that holds its interval (and its window and settle or grace).
    section: str
    run: CheckFunction
    #: Why the check needs SQL to be written ("" when it does not): in `dynamo_only` the
    #: daemon stops it and says this (`monitor.core.switch.stop_reason`).
    needs_sql_writes: str = ""


def number(value: float | None) -> float | None:
    """A finite number, else None (a ratio over nothing is not a point of a gauge)."""
    if value is None or isinstance(value, bool):
        return None
    return float(value) if math.isfinite(value) else None


def figure_gauge(instrument: str, read: Callable[[F], float | None], **attributes: str) -> Gauge[F]:
    """A gauge that is one figure."""

    def points(figures: F) -> Points:
        value = number(read(figures))
        return () if value is None else ((attributes, value),)

    return Gauge(instrument, points)


def mapping_points(values: Mapping[str, float], attribute: str) -> Points:
    """A point per entry of a figure that is a mapping (`{"RequestData": 3}`), labelled by
    `attribute` (an entry that is not a finite number is no point)."""
    points = ((str(name), number(value)) for name, value in values.items())
    return [({attribute: name}, value) for name, value in points if value is not None]
