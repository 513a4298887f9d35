"""The report of an export comparison, whichever engine ran it (DuckDB here, or Spark).

One comparison of the whole range, so its coverage is one window done of one; it consumed no
DynamoDB read capacity. The figures and findings are those of `verify` and `check counts`.
"""

from __future__ import annotations

from collections.abc import Mapping

from monitor.config import Settings
from monitor.core.mapping import TableMapping
from monitor.model import CheckReport, Window
from monitor.verify.export_findings import Comparison
from monitor.verify.export_manifest import ExportManifest
from monitor.verify.report import Coverage, verify_report
from monitor.verify.results import WindowResult


def export_report(
    settings: Settings,
    mapping: TableMapping,
    window: Window,
    manifest: ExportManifest,
    snapshot_id: str,
    comparison: Comparison,
    *,
    engine: str,
    fields: bool,
    strict: bool,
    seconds: Mapping[str, float],
) -> CheckReport:
    warnings: list[str] = []
    expected = manifest.item_count
    if expected is not None and expected != comparison.export_items:
        warnings.append(
            f"the export's data files hold {comparison.export_items} items;"
            f" its manifest says {expected}"
        )
    if comparison.keyless:
        warnings.append(
            f"{comparison.keyless} SQL rows have a NULL partition or sort key column and cannot"
            " exist in DynamoDB"
        )
    tally = comparison.tally
    result = WindowResult(
        window,
        sql=tally.sql,
        dynamodb=tally.dynamodb,
        matched=tally.matched,
        agreed_absent=tally.agreed_absent,
        slices=0,
        read_units=0.0,
        findings=tuple(tally.findings),
    )
    extra = {
        "engine": engine,
        "export": {
            "id": manifest.export_id,
            "time": manifest.export_time.isoformat().replace("+00:00", "Z"),
            "items": comparison.export_items,
            "files": len(manifest.files),
        },
        "snapshot": snapshot_id,
        "fields_compared": fields,
        "seconds": dict(seconds),
    }
    coverage = Coverage(
        windows_done=1, windows_total=1, windows_resumed=0, records=tally.sql + tally.dynamodb
    )
    return verify_report(
        settings,
        mapping,
        window,
        [result],
        coverage,
        strict=strict,
        details=extra,
        warnings=warnings,
    )
