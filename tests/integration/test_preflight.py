"""preflight and the dual-write gate on the real stores: every item executed, pass and refuse."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import asyncpg
import pytest

from monitor.cli import main
from monitor.config import Settings
from monitor.setup import run_setup
from tests.integration.scenario import write_config


def run(capsys: pytest.CaptureFixture[str], config: Path, *args: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    code = main(["--config", str(config), *args, "--format", "json"])
    return code, json.loads(capsys.readouterr().out)


def test_preflight_passes_on_a_fresh_setup_with_backups_advisory(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    anyio.run(run_setup, settings)
    config = write_config(tmp_path / "c.toml", settings)
    code, document = run(capsys, config, "preflight")
    items = {c["name"]: c for c in document["checks"]}
    assert set(items) == {
        "dynamodb_table",
        "postgres_table",
        "postgres_indexes",
        "dynamodb_permissions",
        "postgres_permissions",
        "latency_postgres",
        "latency_dynamodb",
        "capacity",
        "backups",
    }
    assert code == 0 and document["passed"] is True
    for name in ("dynamodb_table", "postgres_table", "dynamodb_permissions", "capacity"):
        assert items[name]["passed"] and items[name]["required"], items[name]
    assert items["dynamodb_permissions"]["figures"]["calls"] == [
        "DescribeTable",
        "Query",
        "Query PendingByDate",
        "Query ByApplication",
        "Query ErrorsByDate",
        "PutItem (conditional, refused as it must be)",
    ]
    assert items["latency_dynamodb"]["figures"]["round_trips"] == 7
    assert items["capacity"]["detail"] == "on-demand capacity"
    # The test cluster archives no WAL and moto's tables have no PITR: advisory, so still passed.
    assert items["backups"] == items["backups"] | {"passed": False, "required": False}

    strict = write_config(tmp_path / "s.toml", settings, "[preflight]\nrequire_backups = true\n")
    code, document = run(capsys, strict, "preflight")
    assert code == 1 and document["passed"] is False


def test_preflight_refuses_a_missing_table_and_a_missing_column(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path / "c.toml", settings)
    code, document = run(capsys, config, "preflight")
    items = {c["name"]: c for c in document["checks"]}
    assert code == 1
    assert "does not exist" in items["dynamodb_table"]["detail"]
    assert "does not exist" in items["postgres_table"]["detail"]

    anyio.run(run_setup, settings)

    async def drop_column() -> None:
        conn = await asyncpg.connect(settings.postgres.dsn.get_secret_value())
        try:
            await conn.execute("ALTER TABLE integration_logs DROP COLUMN status_code")
        finally:
            await conn.close()

    anyio.run(drop_column)
    code, document = run(capsys, config, "preflight")
    items = {c["name"]: c for c in document["checks"]}
    assert code == 1
    assert items["postgres_table"]["detail"] == "integration_logs lacks columns status_code"


def test_the_dual_write_gate_moves_sql_only_on_only_when_preflight_passes(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    anyio.run(run_setup, settings)
    config = write_config(tmp_path / "c.toml", settings)
    code, document = run(capsys, config, "gate", "dual-write")
    assert code == 1  # setup already started dual writing
    assert document["checks"][0] == {
        "name": "phase",
        "passed": False,
        "detail": "the phase is already dual_write",
    }
    assert main(["--config", str(config), "phase", "rollback", "--reason", "test"]) == 0
    capsys.readouterr()

    code, document = run(capsys, config, "gate", "dual-write")
    assert code == 0 and document["passed"] is True and "phase" not in document
    # No writer runs here: the wait for traffic after a switch is tested in test_write_switch.py.
    code, document = run(
        capsys, config, "gate", "dual-write", "--apply", "--no-wait", "--by", "ana"
    )
    assert code == 0
    assert (document["phase"]["from"], document["phase"]["to"]) == ("sql_only", "dual_write")
    code, shown = run(capsys, config, "phase", "show")
    last = shown["history"][-1]
    assert shown["phase"] == "dual_write" and last["by"] == "ana"
    assert last["evidence"]["gate"] == "dual-write"
    assert {c["name"] for c in last["evidence"]["checks"]} == {"phase", "preflight"}

    strict = write_config(tmp_path / "s.toml", settings, "[preflight]\nrequire_backups = true\n")
    assert main(["--config", str(strict), "phase", "rollback", "--reason", "test"]) == 0
    capsys.readouterr()
    code, document = run(capsys, strict, "gate", "dual-write", "--apply", "--no-wait")
    assert code == 1 and document["checks"][1]["detail"] == "failed: backups"
    code, shown = run(capsys, config, "phase", "show")
    assert shown["phase"] == "sql_only"  # refused: nothing recorded
