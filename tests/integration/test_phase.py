"""The migration phase in the monitor's schema: first creation, setup, rollback, the reader."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import asyncpg
import pytest

from monitor.cli import main
from monitor.config import Settings
from monitor.core.phases import Phase
from monitor.errors import UsageError
from monitor.migration.history import PhaseConflict, phase_history, record_change, rollback
from monitor.migration.phase import DEFAULT_PHASE, StatePhase, current_phase
from monitor.setup import DEFAULT_COLUMNS, run_setup
from monitor.stores.state import StateStore
from tests.integration.scenario import write_config

SCHEMA = "dualwrite_monitor"


async def _pool(settings: Settings) -> asyncpg.Pool:
    return await asyncpg.create_pool(settings.postgres.dsn.get_secret_value(), min_size=1)


def test_a_new_schema_starts_at_sql_only(settings: Settings) -> None:
    async def scenario() -> None:
        pool = await _pool(settings)
        try:
            assert await current_phase(pool, SCHEMA) is DEFAULT_PHASE  # no schema: dual_write
            await StateStore(pool, SCHEMA).migrate()
            assert await current_phase(pool, SCHEMA) is Phase.SQL_ONLY
            (entry,) = await phase_history(pool, SCHEMA)
            assert (entry.from_phase, entry.to_phase, entry.by) == (None, Phase.SQL_ONLY, "schema")
        finally:
            await pool.close()

    anyio.run(scenario)


def test_setup_that_creates_both_tables_starts_dual_writing_once(settings: Settings) -> None:
    first = anyio.run(run_setup, settings)
    assert any(a.startswith("migration phase dual_write") for a in first.advice)
    second = anyio.run(run_setup, settings)
    assert not any(a.startswith("migration phase") for a in second.advice)

    async def check() -> None:
        pool = await _pool(settings)
        try:
            assert await current_phase(pool, SCHEMA) is Phase.DUAL_WRITE
            history = await phase_history(pool, SCHEMA)
            assert [(c.from_phase, c.to_phase, c.by) for c in history] == [
                (None, Phase.SQL_ONLY, "schema"),
                (Phase.SQL_ONLY, Phase.DUAL_WRITE, "setup"),
            ]
        finally:
            await pool.close()

    anyio.run(check)


def test_setup_over_existing_tables_leaves_sql_only(settings: Settings) -> None:
    async def scenario() -> None:
        pool = await _pool(settings)
        try:
            await pool.execute(f"CREATE TABLE integration_logs ({DEFAULT_COLUMNS})")
            await run_setup(settings)
            assert await current_phase(pool, SCHEMA) is Phase.SQL_ONLY
        finally:
            await pool.close()

    anyio.run(scenario)


def test_rollback_steps_back_once_and_never_past_sql_only(settings: Settings) -> None:
    anyio.run(run_setup, settings)

    async def scenario() -> None:
        pool = await _pool(settings)
        try:
            await record_change(
                pool,
                SCHEMA,
                expected=Phase.DUAL_WRITE,
                to=Phase.DYNAMO_READS,
                by="t",
                evidence={"gate": "read-switch"},
            )
            with pytest.raises(PhaseConflict, match="the phase is dynamo_reads"):
                await record_change(
                    pool,
                    SCHEMA,
                    expected=Phase.DUAL_WRITE,
                    to=Phase.DYNAMO_READS,
                    by="t",
                    evidence={},
                )
            change = await rollback(pool, SCHEMA, by="oncall", reason="latency")
            assert (change.from_phase, change.to_phase) == (Phase.DYNAMO_READS, Phase.DUAL_WRITE)
            await rollback(pool, SCHEMA, by="oncall", reason="again")
            assert await current_phase(pool, SCHEMA) is Phase.SQL_ONLY
            with pytest.raises(UsageError, match="no earlier phase"):
                await rollback(pool, SCHEMA, by="oncall", reason="too far")
            last = (await phase_history(pool, SCHEMA))[-1]
            assert last.evidence == {"rollback": True, "reason": "again"}
        finally:
            await pool.close()

    anyio.run(scenario)


def test_the_cached_reader_follows_a_rollback_within_its_ttl(settings: Settings) -> None:
    anyio.run(run_setup, settings)
    clock = [0.0]

    async def scenario() -> None:
        pool = await _pool(settings)
        try:
            reader = StatePhase(pool, SCHEMA, ttl=5.0, clock=lambda: clock[0])
            assert await reader.current() is Phase.DUAL_WRITE
            await rollback(pool, SCHEMA, by="t", reason="test")
            clock[0] = 4.9
            assert await reader.current() is Phase.DUAL_WRITE  # cached: no round trip
            assert reader.reads == 1
            clock[0] = 5.0
            assert await reader.current() is Phase.SQL_ONLY
            assert reader.reads == 2
        finally:
            await pool.close()

    anyio.run(scenario)


def test_phase_commands(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    anyio.run(run_setup, settings)
    config = write_config(tmp_path / "config.toml", settings)
    assert main(["--config", str(config), "phase", "show", "--format", "json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["phase"] == "dual_write"
    assert [h["to"] for h in shown["history"]] == ["sql_only", "dual_write"]
    assert set(shown["history"][0]) == {"from", "to", "at", "by", "evidence"}

    code = main(
        ["--config", str(config), "phase", "rollback", "--reason", "bad reads", "--by", "ana"]
    )
    assert code == 0
    assert "dual_write -> sql_only" in capsys.readouterr().out
    assert main(["--config", str(config), "phase", "rollback", "--reason", "x"]) == 2
    assert "no earlier phase" in capsys.readouterr().err
    assert main(["--config", str(config), "phase", "show"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("phase: sql_only")
    assert "by ana  bad reads" in text


def test_the_writer_follows_a_rollback(settings: Settings) -> None:
    """dual_write writes both stores; after `rollback` to sql_only (within the reader's cache
    time) the same writer writes SQL only, as Committed."""
    from tests.integration.writing import open_rig, records

    clock = [0.0]
    first, second = records(2)

    async def scenario() -> None:
        async with open_rig(settings) as rig:
            rig.writer.phase = StatePhase(rig.sql.pool, SCHEMA, ttl=5.0, clock=lambda: clock[0])
            await rig.writer.write(first)
            assert await rig.item_status(first) == "Committed"
            await rollback(rig.sql.pool, SCHEMA, by="oncall", reason="DynamoDB errors")
            clock[0] = 5.0  # the cache time has passed
            await rig.writer.write(second)
            assert await rig.sql_status(second["log_id"]) == "Committed"
            assert await rig.item(second) is None

    anyio.run(scenario)


def test_the_daemon_reads_the_latest_change_as_the_phase_it_shows(settings: Settings) -> None:
    from datetime import UTC, datetime

    from monitor.migration.phase import latest_change
    from monitor.migration.watch import read_phase
    from monitor.runtime import open_context

    async def scenario() -> None:
        pool = await _pool(settings)
        try:
            assert await latest_change(pool, SCHEMA) is None  # no schema yet
            await StateStore(pool, SCHEMA).migrate()
            await record_change(
                pool, SCHEMA, expected=Phase.SQL_ONLY, to=Phase.DUAL_WRITE, by="gate", evidence={}
            )
            await rollback(pool, SCHEMA, by="alice", reason="canary mismatch")
            latest = await latest_change(pool, SCHEMA)
            assert latest is not None and (latest.to_phase, latest.by) == (Phase.SQL_ONLY, "alice")
        finally:
            await pool.close()
        async with open_context(settings) as context:
            view = await read_phase(context, datetime.now(UTC))
        assert (view.phase, view.by, view.rollback) == (Phase.SQL_ONLY, "alice", True)
        assert view.since is not None and view.unavailable is None

    anyio.run(scenario)
