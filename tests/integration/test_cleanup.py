"""`cleanup` on the real stores: a dry run lists and writes nothing; --apply removes exactly what
it listed, conditionally, audited; what is still in use or still needed stays."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import asyncpg
import pytest

from monitor.cli import main
from monitor.config import Settings
from monitor.stores.logical import LogicalSlot
from tests.conftest import make_settings
from tests.integration.scenario import history, make_rows, seed, write_config
from tests.integration.test_repair import snapshot
from tests.wire_items import wire_item

STALE, REALLY_PENDING = (3, 4), 7
OLD = datetime.now(UTC) - timedelta(days=200)


def seed_leftovers(settings: Settings) -> None:
    rows = make_rows(20)
    rows[REALLY_PENDING - 1]["write_status"] = "Pending"
    mapping = settings.table_mapping()
    stale = {}
    for key in STALE:  # committed, yet still in the pending index
        item = wire_item({**rows[key - 1], "write_status": "Pending"}, mapping)
        stale[key] = {k: item[k] for k in ("GSI3PK", "GSI3SK")}
    seed(settings, rows, item_overrides=stale)

    async def monitor_rows() -> None:
        conn = await asyncpg.connect(settings.postgres.dsn.get_secret_value())
        try:
            for result, finished in (("applied", OLD), ("started", None), ("applied", None)):
                await conn.execute(
                    "INSERT INTO dualwrite_monitor.repair_audit (plan_id, action, record_key,"
                    " result, at, finished_at, changed_by)"
                    " VALUES ('p', 'put_from_sql', '{\"log_id\": 1}', $1, $2, $3, 't')",
                    result,
                    OLD,
                    finished or (None if result == "started" else datetime.now(UTC)),
                )
            for delivered in (OLD, None):
                await conn.execute(
                    "INSERT INTO dualwrite_monitor.alert_outbox (rule, kind, firing_since,"
                    " notification, created_at, next_attempt_at, delivered_at)"
                    " VALUES ('orphaned_records', 'firing', $1, '{}', $1, $1, $2)",
                    OLD,
                    delivered,
                )
        finally:
            await conn.close()
        pool = await asyncpg.create_pool(settings.postgres.dsn.get_secret_value(), min_size=1)
        try:
            slot = LogicalSlot(pool, settings.stream.slot, settings.stream.publication)
            await slot.create("integration_logs")
        finally:
            await pool.close()

    anyio.run(monitor_rows)


async def _slot_exists(settings: Settings) -> bool:
    conn = await asyncpg.connect(settings.postgres.dsn.get_secret_value())
    try:
        return bool(
            await conn.fetchval(
                "SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1",
                settings.stream.slot,
            )
        )
    finally:
        await conn.close()


def run(capsys: pytest.CaptureFixture[str], config: Path, *args: str) -> tuple[int, Any]:
    code = main(["--config", str(config), "cleanup", "--format", "json", *args])
    return code, json.loads(capsys.readouterr().out)


def found(document: dict[str, Any]) -> dict[str, tuple[int, int]]:
    return {i["name"]: (i["found"], i["removed"]) for i in document["items"]}


@pytest.fixture
def stream_settings(database: str, dynamo_endpoint: str) -> Settings:
    name = f"cleanup_{os.getpid()}_{database.rsplit('/', 1)[-1].lower()}"
    return make_settings(database, dynamo_endpoint, stream={"slot": name, "publication": name})


def test_cleanup_lists_in_a_dry_run_then_removes_it_conditionally_and_audited(
    stream_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = stream_settings
    seed_leftovers(settings)
    history(settings, (None, "sql_only", OLD), ("sql_only", "dual_write", OLD))
    slot = settings.stream.slot
    config = write_config(
        tmp_path / "c.toml",
        settings,
        f'[stream]\nslot = "{slot}"\npublication = "{settings.stream.publication}"\n',
    )
    try:
        before = snapshot(settings)
        code, document = run(capsys, config)
        assert code == 0 and document["applied"] is False
        assert found(document) == {
            "pending_index": (2, 0),
            "logical_slot": (1, 0),  # [stream] postgres is off: nothing reads it
            "repair_audit": (1, 0),  # the finished old row; the started one is kept
            "alert_outbox": (1, 0),  # the delivered old row; the waiting one is kept
        }
        pending = next(i for i in document["items"] if i["name"] == "pending_index")
        assert sorted(pending["examples"]) == list(STALE)
        assert "1 items really pending are left to `repair`" in pending["detail"]
        assert snapshot(settings) == before  # byte for byte: a dry run writes nothing
        assert anyio.run(_slot_exists, settings)

        code, document = run(capsys, config, "--apply", "--by", "ana")
        assert code == 0, document
        assert found(document) == {
            "pending_index": (2, 2),
            "logical_slot": (1, 1),
            "repair_audit": (1, 1),
            "alert_outbox": (1, 1),
        }
        assert not anyio.run(_slot_exists, settings)
        data, state, items = snapshot(settings)
        by_key = {json.loads(i)["LogId"]["N"]: json.loads(i) for i in items}
        for key in STALE:
            item = by_key[str(key)]
            assert "GSI3PK" not in item and item["WriteStatus"]["S"] == "Committed"
        assert "GSI3PK" in by_key[str(REALLY_PENDING)]  # repair's, not cleanup's
        audit = [r for r in state["repair_audit"] if "'cleanup-" in r]
        actions = sorted(r.split("', '")[1] for r in audit)
        assert actions == [
            "delete_old_rows",
            "delete_old_rows",
            "drop_logical_slot",
            "remove_pending_index",
            "remove_pending_index",
        ]
        assert all("'applied'" in r and "'ana'" in r for r in audit)
        assert any("'started'" in r and "'p'" in r for r in state["repair_audit"])
        assert len(state["alert_outbox"]) == 1

        code, document = run(capsys, config)
        assert code == 0 and set(found(document).values()) == {(0, 0)}
    finally:
        if anyio.run(_slot_exists, settings):

            async def drop() -> None:
                conn = await asyncpg.connect(settings.postgres.dsn.get_secret_value())
                try:
                    await conn.execute("SELECT pg_drop_replication_slot($1)", slot)
                finally:
                    await conn.close()

            anyio.run(drop)
