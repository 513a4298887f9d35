"""The write-switch gate on the real stores: the phase-4 items, the validation on the traffic
after the switch, and the daemon's monitoring in dynamo_only."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import asyncpg
import pytest

from monitor.cli import main
from monitor.config import Settings
from monitor.core.phases import Phase
from monitor.daemon import Daemon
from monitor.migration.afterswitch import AfterSwitch, validate_after_switch
from monitor.migration.history import record_change
from monitor.migration.phase import FixedPhase, StatePhase
from monitor.runtime import open_context
from monitor.writer.records import RecordFactory
from tests.conftest import make_settings
from tests.integration import test_gates as gates_test
from tests.integration.scenario import BASE_TIME, history, make_rows, seed, write_config
from tests.integration.writing import Rig, open_rig

SCHEMA = "dualwrite_monitor"
GATES = """
[gates]
canary_window = "10m"
canary_latency_budget = "30s"
[alerts.thresholds]
field_accuracy = { target = 95.0, alert_below = 90.0 }
"""


def migrated_to_dynamo_reads(settings: Settings) -> None:
    history(
        settings,
        (None, "sql_only", BASE_TIME - timedelta(hours=1)),
        ("sql_only", "dual_write", BASE_TIME - timedelta(minutes=10)),
        ("dual_write", "dynamo_reads", BASE_TIME + timedelta(minutes=1)),
    )


def gate(capsys: pytest.CaptureFixture[str], config: Path, *args: str) -> tuple[int, Any]:
    return gates_test.gate(capsys, config, *args, name="write-switch")


def test_write_switch_passes_on_a_clean_dual_write_period_and_moves_the_phase(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(settings, make_rows(120))
    migrated_to_dynamo_reads(settings)
    config = write_config(tmp_path / "c.toml", settings, GATES)
    code, document = gate(capsys, config, "--apply", "--no-wait")
    found = gates_test.checks(document)
    assert code == 0, document
    assert {
        "phase",
        "counts",
        "orphans",
        "field_accuracy",
        "canary_reads",
        "canary_latency",
        "pending_past_grace",
        "full_count",
        "sql_write_disable",
        "monitoring_continuation",
        "cleanup_procedures",
    } <= set(found)
    full = found["full_count"]["figures"]
    assert (full["sql_count"], full["dynamodb_count"], full["missing_in_sql"]) == (120, 120, 0)
    assert full["coverage"]["windows_done"] == full["coverage"]["windows_total"]  # verify's walk
    continuation = found["monitoring_continuation"]["figures"]
    assert continuation["kept"] == ["orphans"]
    assert set(continuation["stopped"]) == {"counts", "quality", "sample"}
    assert document["phase"]["from"] == "dynamo_reads"
    assert document["phase"]["to"] == "dynamo_only"


def test_write_switch_refuses_what_the_gate_window_does_not_show(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Faults earlier in the dual-write period than the gate's window: a record missing in
    DynamoDB and one pending in both stores; and a SQL column an item cannot fill."""
    early = BASE_TIME - timedelta(minutes=5)
    stuck = make_rows(1, start=early, first_key=1000, status="Pending")
    lost = make_rows(1, start=early + timedelta(seconds=1), first_key=1001)
    seed(settings, [*make_rows(120), *stuck, *lost], drop_from_dynamodb={1001})
    migrated_to_dynamo_reads(settings)

    async def add_column() -> None:
        conn = await asyncpg.connect(settings.postgres.dsn.get_secret_value())
        try:
            await conn.execute(
                "ALTER TABLE integration_logs ADD COLUMN tenant text NOT NULL DEFAULT 't';"
                " ALTER TABLE integration_logs ALTER COLUMN tenant DROP DEFAULT"
            )
        finally:
            await conn.close()

    anyio.run(add_column)
    config = write_config(tmp_path / "c.toml", settings, GATES)
    code, document = gate(capsys, config, "--apply")
    found = gates_test.checks(document)
    assert code == 1
    assert found["counts"]["passed"] and found["orphans"]["passed"]  # the window is clean
    assert not found["full_count"]["passed"]
    assert found["full_count"]["figures"]["missing_in_dynamodb"] == 1
    assert not found["pending_past_grace"]["passed"]
    assert found["pending_past_grace"]["figures"]["by_kind"] == {"stuck_pending": 1}
    assert not found["sql_write_disable"]["passed"]
    assert "tenant" in found["sql_write_disable"]["detail"]
    assert "phase" not in document  # refused: nothing recorded
    assert main(["--config", str(config), "phase", "show", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["phase"] == "dynamo_reads"


def _fast(
    database: str, dynamo_endpoint: str, records: int, timeout: str, settle: str = "1s"
) -> Settings:
    return make_settings(
        database,
        dynamo_endpoint,
        checks={"counts": {"settle": settle}},
        writer={"phase_cache": "1s"},
        gates={"after_switch_records": records, "after_switch_timeout": timeout},
    )


async def _switch_and_validate(
    settings: Settings,
    rig: Rig,
    expected: Phase,
    to: Phase,
    *,
    traffic_seed: int | None,
    deadline: float = 60,
) -> AfterSwitch:
    """Record `expected -> to` and validate the switch, while the rig's writer writes records
    of `RecordFactory(traffic_seed)` (none when `traffic_seed` is None)."""
    stop = anyio.Event()

    async def traffic(factory: RecordFactory) -> None:
        while not stop.is_set():
            await rig.writer.write(factory.make())

    async with anyio.create_task_group() as group, open_context(settings) as context:
        if traffic_seed is not None:
            group.start_soon(traffic, RecordFactory(seed=traffic_seed, first_key=1))
        change = await record_change(
            rig.sql.pool, SCHEMA, expected=expected, to=to, by="t", evidence={}
        )
        with anyio.fail_after(deadline):
            after = await validate_after_switch(context, change, poll=0.2)
        stop.set()
    return after


@pytest.mark.parametrize("follows_the_phase", [True, False])
def test_the_validation_after_the_switch_waits_for_traffic_and_judges_it(
    database: str, dynamo_endpoint: str, follows_the_phase: bool
) -> None:
    """Traffic keeps flowing through a writer while write-switch is applied: the validation
    waits for records after the switch; a writer that does not read the phase is caught
    still writing SQL."""
    settings = _fast(database, dynamo_endpoint, 15, "60s")

    async def scenario() -> Any:
        async with open_rig(settings) as rig:
            pool = rig.sql.pool
            await record_change(
                pool, SCHEMA, expected=Phase.DUAL_WRITE, to=Phase.DYNAMO_READS, by="t", evidence={}
            )
            rig.writer.phase = (
                StatePhase(pool, SCHEMA, ttl=1.0)
                if follows_the_phase
                else FixedPhase(Phase.DYNAMO_READS)
            )
            return await _switch_and_validate(
                settings, rig, Phase.DYNAMO_READS, Phase.DYNAMO_ONLY, traffic_seed=7
            )

    after = anyio.run(scenario)
    figures = after.figures
    if follows_the_phase:
        assert after.passed, after
        assert figures["sql_count"] == 0 and figures["dynamodb_count"] >= 15
        assert "15 records written after" in after.waited_for
    else:
        assert not after.passed
        assert figures["sql_count"] > 0
        assert "a writer still writes SQL" in after.detail


def test_after_the_read_switch_the_validation_wants_the_same_keys_in_both_stores(
    database: str, dynamo_endpoint: str
) -> None:
    # Settled for longer than any one write takes on a loaded machine: no write in flight.
    settings = _fast(database, dynamo_endpoint, 15, "60s", settle="3s")

    async def scenario() -> Any:
        async with open_rig(settings) as rig:
            rig.writer.phase = StatePhase(rig.sql.pool, SCHEMA, ttl=1.0)
            return await _switch_and_validate(
                settings, rig, Phase.DUAL_WRITE, Phase.DYNAMO_READS, traffic_seed=8
            )

    after = anyio.run(scenario)
    assert after.passed, after
    figures = after.figures
    assert figures["sql_count"] == figures["dynamodb_count"] >= 15
    assert "agreeing" in after.detail


def test_the_validation_fails_when_no_traffic_comes(database: str, dynamo_endpoint: str) -> None:
    settings = _fast(database, dynamo_endpoint, 1, "3s")

    async def scenario() -> Any:
        async with open_rig(settings) as rig:
            return await _switch_and_validate(
                settings, rig, Phase.DUAL_WRITE, Phase.DYNAMO_READS, traffic_seed=None, deadline=20
            )

    after = anyio.run(scenario)
    assert not after.passed
    assert "not enough traffic within 0:00:03" in after.detail
    assert "0 of 1 records" in after.detail


def test_in_dynamo_only_the_daemon_stops_the_checks_that_need_sql_and_says_why(
    settings: Settings,
) -> None:
    seed(settings, make_rows(10))
    history(
        settings,
        (None, "sql_only", BASE_TIME),
        ("sql_only", "dual_write", BASE_TIME),
        ("dual_write", "dynamo_reads", BASE_TIME),
        ("dynamo_reads", "dynamo_only", BASE_TIME),
    )

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        daemon = Daemon(settings)
        try:
            ran = {name: await daemon._call(name)() for name in ("counts", "orphans", "sample")}
        finally:
            await daemon._stores.aclose()
        return {n: r is not None for n, r in ran.items()}, daemon.status()["stopped"]

    ran, stopped = anyio.run(scenario)
    assert ran == {"counts": False, "orphans": True, "sample": False}
    assert set(stopped) == {"counts", "sample"}
    assert stopped["sample"].startswith("SQL is no longer written in dynamo_only")


def test_the_text_output_says_what_it_waited_for_and_how_to_step_back(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No traffic comes after the switch: the phase is recorded, the validation gives up after
    its timeout, says so and names the rollback; exit 1."""
    seed(settings, make_rows(120))
    migrated_to_dynamo_reads(settings)
    extra = GATES.replace(
        "[gates]\n", '[gates]\nafter_switch_records = 5\nafter_switch_timeout = "1s"\n'
    )
    config = write_config(tmp_path / "c.toml", settings, extra)
    argv = ["--config", str(config), "gate", "write-switch", *gates_test.WINDOW, "--apply"]
    code = main(argv)
    out = capsys.readouterr().out
    assert code == 1, out
    assert "phase dynamo_only recorded; validating on the traffic after it" in out
    assert "waited" in out and "5 records written after" in out
    assert "the switch is NOT validated: not enough traffic within 0:00:01" in out
    assert "dualwrite-monitor phase rollback" in out
    assert main(["--config", str(config), "phase", "show", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["phase"] == "dynamo_only"
