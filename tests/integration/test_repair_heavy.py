"""Repair after the generator's heavy faulty traffic, on the real stores: every fault of the
truth file is accounted for by exactly the action its kind calls for, and after `--apply`
every check agrees except on the records repair leaves (invalid data, as written)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest

from monitor.checks.registry import CheckRequest
from monitor.repair.run import RepairReport, RepairRequest, run_repair
from monitor.writer.faults import Fault
from tests.integration.generated import HEAVY, check_all, found_by_key, generate, settings_for

pytestmark = [pytest.mark.services, pytest.mark.timeout(300)]

#: The action each fault calls for (None: its final states agree, nothing to do).
ACTION = {
    Fault.DYNAMODB_WRITE_FAILED: None,
    Fault.DYNAMODB_THROTTLED: None,
    Fault.SLOW_WRITE: None,
    Fault.CRASH_AFTER_SQL: "put_from_sql",
    Fault.CRASH_BEFORE_COMMIT: "complete_commit",
    Fault.COMMIT_MARK_FAILED: "align_status",
    Fault.CORRUPTED_FIELD: "rewrite_from_sql",
    Fault.DYNAMODB_ONLY: "compensate_item",
    Fault.LOST_ITEM: "put_from_sql",
    Fault.INVALID_JSON: "leave",
}


def test_repair_after_heavy_traffic_accounts_for_every_fault_and_leaves_agreement(
    database: str, dynamo_endpoint: str, tmp_path: Path
) -> None:
    settings = settings_for(database, dynamo_endpoint)
    truth = tmp_path / "truth.jsonl"

    async def go() -> tuple[RepairReport, RepairReport, list[Any]]:
        window = await generate(settings, HEAVY, truth)
        applied = await run_repair(settings, RepairRequest(apply=True, **window))
        again = await run_repair(settings, RepairRequest(**window))
        reports = await check_all(settings, CheckRequest(**window))
        faults = [json.loads(line) for line in truth.read_text().splitlines()][:-1]
        return applied, again, [faults, reports]

    applied, again, (faults, reports) = anyio.run(go)
    assert {f["fault"] for f in faults} == {str(f) for f in Fault}  # every kind injected

    actions = {a["key"]["log_id"]: a for a in applied.as_json()["actions"]}
    for fault in faults:
        key, wanted = fault["key"]["log_id"], ACTION[Fault(fault["fault"])]
        if wanted is None:
            assert key not in actions, f"{fault}: its final states agree, yet {actions[key]}"
            continue
        action = actions.get(key)
        assert action is not None, f"{fault} not accounted for by the repair"
        assert action["action"] == wanted, (fault, action)
        assert action["result"] == ("left" if wanted == "leave" else "applied"), action
    truth_keys = {f["key"]["log_id"] for f in faults}
    assert set(actions) <= truth_keys, "repair touched a record with no injected fault"
    assert applied.ok

    # After repair: a second plan has only the leave ones; every check agrees but on them.
    left = {k for k, a in actions.items() if a["action"] == "leave"}
    assert {a["key"]["log_id"] for a in again.as_json()["actions"]} == left
    assert all(a["action"] == "leave" for a in again.as_json()["actions"])
    found = found_by_key(reports)
    assert set(found) == left
    assert all(kinds == {"invalid_data"} for kinds in found.values())
