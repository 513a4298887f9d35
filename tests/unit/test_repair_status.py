"""The daemon's repair as typed values (monitor/repair/status.py): `/status` keeps its JSON."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from monitor.core.plan import RepairFigures, repair_figures, summarize
from monitor.repair.status import REPAIR_OFF, RepairRun, RepairStatus


def test_off_is_one_key() -> None:
    assert REPAIR_OFF.as_json() == {"enabled": False}


def test_on_keeps_the_keys_and_their_order() -> None:
    figures = RepairFigures(planned=1, applied=4, left=2)
    status = RepairStatus(
        enabled=True,
        interval_seconds=900.0,
        runs=3,
        last_run=RepairRun("2026-11-24T10:00:00Z", plan="p1", figures=figures),
    )
    assert json.dumps(status.as_json()) == (
        '{"enabled": true, "interval_seconds": 900.0, "runs": 3, "last_run":'
        ' {"at": "2026-11-24T10:00:00Z", "plan": "p1", "summary":'
        ' {"planned": 1, "applied": 4, "skipped": 0, "failed": 0, "left": 2}}}'
    )


def test_a_failed_run_and_no_run_yet() -> None:
    failed = RepairStatus(
        enabled=True, interval_seconds=60.0, last_run=RepairRun("T", error="unreachable")
    )
    assert failed.as_json()["last_run"] == {"at": "T", "error": "unreachable"}
    assert RepairStatus(enabled=True, interval_seconds=60.0).as_json()["last_run"] is None


@given(
    st.lists(st.sampled_from(["planned", "applied", "skipped_changed", "failed", "left", "other"]))
)
def test_the_figures_are_the_contract_summary(results: list[str]) -> None:
    figures = repair_figures(results)
    assert figures.to_summary() == summarize(results)
    assert list(summarize(results)) == ["planned", "applied", "skipped", "failed", "left"]
    assert figures.skipped == results.count("skipped_changed")
    assert figures.left == results.count("left")
    assert sum(figures.to_summary().values()) == len(results) - results.count("other")
