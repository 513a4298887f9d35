"""One place that turns a check's figures into a CheckReport, with the `ok` rule of CONTRACT §4."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from monitor.core.mapping import TableMapping
from monitor.model import CheckReport, Finding, Window


def build_report(
    check: str,
    mapping: TableMapping,
    window: Window,
    *,
    within_thresholds: bool,
    strict: bool,
    summary: Mapping[str, Any],
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
        summary=summary,
        findings=listed,
        warnings=tuple(warnings),
    )
