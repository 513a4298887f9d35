"""The Grafana dashboard: it charts every CONTRACT §5 metric under its real Prometheus name."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from deploy.validation import DASHBOARD, Outcome

# CONTRACT §5 instruments -> (kind, unit). Their Prometheus names, as measured with
# opentelemetry-exporter-prometheus 0.66b2: dots become underscores, unit "s" adds "_seconds",
# counters add "_total"; unit "1" and {annotation} units add nothing.
INSTRUMENTS: Mapping[str, tuple[str, str]] = {
    "dualwrite.consistency": ("gauge", "1"),
    "dualwrite.records": ("gauge", ""),
    "dualwrite.count_variance": ("gauge", "1"),
    "dualwrite.orphans": ("gauge", ""),
    "dualwrite.orphan_ratio": ("gauge", "1"),
    "dualwrite.field_accuracy": ("gauge", "1"),
    "dualwrite.field_mismatches": ("gauge", ""),
    "dualwrite.write_success": ("gauge", "1"),
    "dualwrite.transaction_completion": ("gauge", "1"),
    "dualwrite.check.duration": ("histogram", "s"),
    "dualwrite.check.runs": ("counter", ""),
    "dualwrite.records_checked": ("counter", ""),
    "dualwrite.alerts": ("counter", ""),
    "dualwrite.leader": ("gauge", "1"),
}


def prometheus_name(instrument: str) -> str:
    """The series name Prometheus shows for a CONTRACT §5 instrument (histograms: the base)."""
    kind, unit = INSTRUMENTS[instrument]
    name = instrument.replace(".", "_")
    if unit == "s":
        name += "_seconds"
    if kind == "counter":
        name += "_total"
    return name


def series_names() -> dict[str, frozenset[str]]:
    """Instrument -> every series name a query may use for it."""
    names: dict[str, frozenset[str]] = {}
    for instrument, (kind, _) in INSTRUMENTS.items():
        base = prometheus_name(instrument)
        if kind == "histogram":
            names[instrument] = frozenset(f"{base}_{s}" for s in ("bucket", "sum", "count"))
        else:
            names[instrument] = frozenset({base})
    return names


def _expressions(node: Any) -> Iterable[str]:
    """Every PromQL text in a dashboard: panel targets and template variable queries."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("expr", "definition") and isinstance(value, str):
                yield value
            else:
                yield from _expressions(value)
    elif isinstance(node, list):
        for item in node:
            yield from _expressions(item)


def check_dashboard(dashboard: Mapping[str, Any] | None = None) -> Outcome:
    """Parses; charts every CONTRACT §5 metric by its real Prometheus name; no unknown names."""
    if dashboard is None:
        try:
            dashboard = json.loads(DASHBOARD.read_text())
        except json.JSONDecodeError as exc:
            return Outcome([f"{DASHBOARD.name} is not JSON: {exc}"])
    out = Outcome()
    used = {m for e in _expressions(dashboard) for m in re.findall(r"\bdualwrite_\w+", e)}
    names = series_names()
    for instrument, accepted in names.items():
        if not used & accepted:
            out.problems.append(f"no panel shows {instrument} ({' or '.join(sorted(accepted))})")
    known = set().union(*names.values())
    if unknown := sorted(used - known):
        out.problems.append(f"queries use names the monitor does not export: {unknown}")
    panels = list(_panels(dashboard.get("panels", [])))
    ids = [p.get("id") for p in panels]
    if len(ids) != len(set(ids)) or None in ids:
        out.problems.append("panel ids must be present and unique")
    for panel in panels:
        if panel.get("type") != "row":
            if panel.get("datasource", {}).get("uid") != "${datasource}":
                out.problems.append(
                    f"panel {panel.get('title')!r}: datasource must be ${{datasource}}"
                )
            if not panel.get("description"):
                out.problems.append(f"panel {panel.get('title')!r}: says nothing of its metric")
    variables = {v.get("name") for v in dashboard.get("templating", {}).get("list", [])}
    if "datasource" not in variables:
        out.problems.append("templating: no datasource variable")
    if not dashboard.get("uid") or not dashboard.get("title"):
        out.problems.append("dashboard: uid and title are required")
    out.notes.append(f"{len(panels)} panels, {len(used)} metric names")
    return out


def _panels(panels: list[dict[str, Any]]) -> Iterable[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))
