"""Report figures -> alert rule observations. Which figure each rule reads is declared by the
checks (`Figure`, in each check's spec); this module reads them.

Pure. A check run ends with a `CheckReport` or an error; this module turns either into one
`Observation` per rule the run informs. Rules the run says nothing about get no observation
(their state stays as it is). Only figures, the window, the table and record keys leave a
report: a finding's `detail`, `field` or statuses never do, so no message can carry data.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from monitor.core.rules import MAX_EXAMPLE_KEYS, Observation
from monitor.core.ruleset import CHECK_FAILED_PREFIX, STORE_UNREACHABLE
from monitor.core.stats import Interval
from monitor.model import CheckReport, Finding, FindingKind

#: A figure as a rule reads it: a ratio, a sampled ratio with its interval, or None (not known).
Reading = float | Interval | None
_F = TypeVar("_F", contravariant=True)


@dataclass(frozen=True, slots=True)
class Figure(Generic[_F]):
    """Which figure of a report a rule reads, and which findings illustrate it."""

    #: The figure, read from the report's typed figures (`lambda f: f.consistency`).
    read: Callable[[_F], Reading]
    #: Multiply by this to get the ratio the rule's threshold is written in.
    scale: float = 1.0
    #: The figure is a sampled ratio with its interval (`read` gives an `Interval`).
    interval: bool = False
    #: Findings whose keys the message lists as examples, most telling kind first.
    kinds: tuple[FindingKind, ...] = ()
    #: The rule's name in messages ("Data consistency").
    title: str = ""
    #: Other reports carrying the same figure (the `stream` report's `accuracy` measures every
    #: changed record the way `sample` measures a sample); `reads` must accept their figures.
    also: tuple[str, ...] = ()
    #: The check whose report carries the figure (`CheckReport.check`); filled in from the spec.
    check: str = ""
    #: The figures type `read` accepts (a class or a runtime-checkable protocol); filled in from
    #: the spec unless given. A report whose figures are not of it is not read.
    reads: type[Any] | None = None


def report_observations(
    report: CheckReport, figures: Mapping[str, Figure[Any]]
) -> dict[str, Observation]:
    """One observation per rule whose figure this report carries (and can be read).

    `figures` maps each rule to its figure: the checks declare them (`checks/registry.py`
    `RULE_FIGURES`, collected from each check's spec).
    """
    found: dict[str, Observation] = {}
    for rule, figure in figures.items():
        checks = (figure.check, *figure.also)
        if report.check not in checks or figure.reads is None:
            continue
        if not isinstance(report.figures, figure.reads):
            continue
        observed = _read(figure.read(report.figures), figure)
        if observed is None:
            continue
        value, lower, upper = observed
        found[rule] = Observation(
            value=value,
            lower=lower,
            upper=upper,
            window_start=report.window.start,
            window_end=report.window.end,
            example_keys=example_keys(report.findings, report.key_column, figure.kinds),
            table=report.table,
        )
    return found


def run_observations(
    check: str,
    report: CheckReport | None,
    *,
    failures: int,
    unreachable: bool | None,
    table: str,
    figures: Mapping[str, Figure[Any]],
    cause: str = "",
) -> dict[str, Observation]:
    """Everything one check run tells the rules.

    `failures` is the check's failed runs in a row, this one included (0 after a success).
    `unreachable` is True when the run failed because a store could not be reached, False
    when the run proved both reachable (it finished), None when it cannot tell (another
    error). `cause` is a value-free description of the error, for the message.
    """
    found = report_observations(report, figures) if report is not None else {}
    found[f"{CHECK_FAILED_PREFIX}{check}"] = Observation(
        value=float(failures), table=table, cause=cause
    )
    if unreachable is not None:
        found[STORE_UNREACHABLE] = Observation(
            value=1.0 if unreachable else 0.0, table=table, cause=cause if unreachable else ""
        )
    return found


def example_keys(
    findings: Sequence[Finding], key_column: str, kinds: Sequence[FindingKind]
) -> tuple[str, ...]:
    """Up to `MAX_EXAMPLE_KEYS` distinct `key_column=key` texts, most telling kind first."""
    rank = {kind: i for i, kind in enumerate(kinds)}
    chosen = sorted(
        (f for f in findings if f.kind in rank),
        key=lambda f: rank[f.kind],  # stable: the report's own order within a kind
    )
    keys: dict[str, None] = {}
    for finding in chosen:
        keys.setdefault(f"{key_column}={finding.key}", None)
        if len(keys) == MAX_EXAMPLE_KEYS:
            break
    return tuple(keys)


def _number(value: float) -> float | None:
    # bool is an int; a flag is never a figure.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _read(value: Reading, figure: Figure[Any]) -> tuple[float, float | None, float | None] | None:
    """The figure as (value, lower, upper) in the rule's unit, or None when unreadable."""
    if value is None:
        return None
    if not figure.interval:
        number = None if isinstance(value, Interval) else _number(value)
        return None if number is None else (number * figure.scale, None, None)
    if not isinstance(value, Interval):
        return None
    point, lower, upper = (_number(part) for part in (value.point, value.lower, value.upper))
    if point is None or lower is None or upper is None or lower > upper:
        # A sampled figure without its interval cannot say what the data supports.
        return None
    return point * figure.scale, lower * figure.scale, upper * figure.scale
