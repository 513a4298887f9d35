"""One place that turns a check's figures into a CheckReport, with the `ok` rule of CONTRACT §4,
and reads them back typed."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from monitor.core.figures import Figures
from monitor.core.mapping import TableMapping
from monitor.model import CheckReport, Finding, Window

_F = TypeVar("_F", bound=Figures)


def build_report(
    check: str,
    mapping: TableMapping,
    window: Window,
    *,
    within_thresholds: bool,
    strict: bool,
    figures: Figures,
    findings: Iterable[Finding],
    warnings: Iterable[str] = (),
) -> CheckReport:
    """`ok` when every figure is within its alert threshold; with `--strict`, also no finding."""
    listed = tuple(findings)
    return CheckReport(
        check=check,
        table=mapping.sql_table,
        key_column=mapping.key_column,
        window=window,
        ok=within_thresholds and not (strict and listed),
        figures=figures,
        findings=listed,
        warnings=tuple(warnings),
    )


def figures_of(report: CheckReport, kind: type[_F]) -> _F:
    """The report's figures, known to be `kind` (a report of the check that declares them)."""
    figures = report.figures
    if not isinstance(figures, kind):
        raise TypeError(f"a {report.check} report carries {type(figures).__name__}, not {kind}")
    return figures
