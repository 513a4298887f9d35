"""Repair after the generator's heavy faulty traffic, on the real stores: every fault of the
truth file is accounted for by exactly the action its kind calls for, and after `--apply`
every check agrees except on the records repair leaves (invalid data, as written)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest

from monitor.checks.registry import REGISTRY, CheckRequest, run_check
from monitor.checks.sampling import SampleCache
from monitor.repair.run import RepairReport, RepairRequest, run_repair
from monitor.runtime import open_context
from monitor.setup import run_setup
from monitor.writer.faults import Fault, FaultProfile
from monitor.writer.generate import GenerateOptions, open_generator
from tests.integration.test_generate import found_by_key, settings_for

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
    options = GenerateOptions(
        rate=100,
        duration=timedelta(seconds=2),
        profile=FaultProfile.named("heavy"),
        seed=41,
        every_record=True,
    )
    truth = tmp_path / "truth.jsonl"

    async def go() -> tuple[RepairReport, RepairReport, list[Any]]:
        await run_setup(settings)
        started = datetime.now(UTC)
        with truth.open("w") as stream:
            async with open_generator(settings, options, stream) as generator:
                await generator.run(anyio.Event())
        ended = datetime.now(UTC)
        window: dict[str, Any] = {
            "now": ended + timedelta(minutes=5),
            "since": started - timedelta(seconds=1),
            "until": ended + timedelta(seconds=1),
        }
        applied = await run_repair(settings, RepairRequest(apply=True, **window))
        again = await run_repair(settings, RepairRequest(**window))
        async with open_context(settings) as context:
            context.samples = SampleCache()
            request = CheckRequest(**window)
            reports = [await run_check(name, context, request) for name in REGISTRY]
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
