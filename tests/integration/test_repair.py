"""Repair on the real stores (CONTRACT §8): dry run, apply, plan/apply split, a crash resumed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import asyncpg
import pytest

from monitor.cli import main
from monitor.config import Settings
from monitor.repair.run import RepairRequest, run_repair
from tests.integration.scenario import (
    BASE_TIME,
    dynamo_client,
    history,
    make_rows,
    seed,
    write_config,
)
from tests.wire_items import wire_item

WINDOW = ["--since", "2026-01-01T09:00:00Z", "--until", "2026-01-01T11:00:00Z"]
SINCE = datetime(2026, 1, 1, 9, tzinfo=UTC)
UNTIL = datetime(2026, 1, 1, 11, tzinfo=UTC)

LOST, CRASHED, STUCK, MARK_FAILED, ONLY_DYNAMO, CORRUPTED, INVALID = 5, 11, 17, 23, 29, 35, 41
EXPECTED = {
    LOST: ("put_from_sql", "missing_in_dynamodb"),
    CRASHED: ("put_from_sql", "missing_in_dynamodb"),
    STUCK: ("complete_commit", "stuck_pending"),
    MARK_FAILED: ("align_status", "status_divergence"),
    ONLY_DYNAMO: ("compensate_item", "missing_in_sql"),
    CORRUPTED: ("rewrite_from_sql", "field_mismatch"),
    INVALID: ("leave", "invalid_data"),
}


def seed_faults(settings: Settings, start: datetime = BASE_TIME) -> list[dict[str, Any]]:
    """One record for each fault repair must handle, among healthy ones."""
    rows = make_rows(60, start=start)
    by_key = {r["log_id"]: r for r in rows}
    for key in (CRASHED, STUCK):
        by_key[key]["write_status"] = "Pending"
    by_key[INVALID]["request_data"] = "{not json"
    mapping = settings.table_mapping()
    pending_item = wire_item({**by_key[MARK_FAILED], "write_status": "Pending"}, mapping)
    overrides: dict[int, dict[str, Any]] = {
        MARK_FAILED: {
            k: v for k, v in pending_item.items() if k in ("WriteStatus", "GSI3PK", "GSI3SK")
        },
        CORRUPTED: {"LogType": {"S": "Bogus"}},
    }
    seed(
        settings,
        rows,
        drop_from_sql={ONLY_DYNAMO},
        drop_from_dynamodb={LOST, CRASHED},
        item_overrides=overrides,
    )
    return rows


async def _snapshot(settings: Settings) -> tuple[Any, ...]:
    """Every row of the data table and of the monitor's schema, and every item: byte for byte."""
    conn = await asyncpg.connect(settings.postgres.dsn.get_secret_value())
    try:
        data = [
            tuple(r) for r in await conn.fetch("SELECT * FROM integration_logs ORDER BY log_id")
        ]
        tables = await conn.fetch(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = 'dualwrite_monitor' ORDER BY table_name"
        )
        state = {}
        for (name,) in tables:
            rows = await conn.fetch(f'SELECT * FROM dualwrite_monitor."{name}"')
            state[name] = sorted(repr(tuple(r)) for r in rows)
    finally:
        await conn.close()
    async with dynamo_client(settings) as client:
        items: list[Any] = []
        kwargs: dict[str, Any] = {"TableName": settings.dynamodb.table}
        while True:
            page = await client.scan(**kwargs)
            items.extend(page["Items"])
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return data, state, sorted(json.dumps(i, sort_keys=True) for i in items)


def snapshot(settings: Settings) -> tuple[Any, ...]:
    return anyio.run(_snapshot, settings)


def cli(capsys: pytest.CaptureFixture[str], config: Path, *args: str) -> tuple[int, Any]:
    code = main(["--config", str(config), "repair", "--format", "json", *args])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else None


def by_key(document: dict[str, Any]) -> dict[int, tuple[str, str]]:
    return {a["key"]["log_id"]: (a["action"], a["finding"]) for a in document["actions"]}


def test_dry_run_plans_each_fix_and_writes_nothing_anywhere(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed_faults(settings)
    config = write_config(tmp_path / "c.toml", settings)
    before = snapshot(settings)
    code, document = cli(capsys, config, *WINDOW)
    assert snapshot(settings) == before
    assert code == 0
    assert document["applied"] is False
    assert by_key(document) == EXPECTED
    assert {a["result"] for a in document["actions"]} == {"planned", "left"}
    assert document["summary"] == {"planned": 6, "applied": 0, "skipped": 0, "failed": 0, "left": 1}
    assert "not json" not in json.dumps(document)  # no record data in the report


def test_apply_fixes_everything_but_the_leave_ones_and_audits_each_action(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed_faults(settings)
    config = write_config(tmp_path / "c.toml", settings)
    code, document = cli(capsys, config, "--apply", "--by", "ana", *WINDOW)
    assert code == 0, document
    assert document["summary"] == {"planned": 0, "applied": 6, "skipped": 0, "failed": 0, "left": 1}

    code = main(["--config", str(config), "check", "all", "--format", "json", *WINDOW])
    checks = json.loads(capsys.readouterr().out)["checks"]
    left = {
        (f["kind"], f["key"]["log_id"])
        for c in checks
        for f in c["findings"]
        # Compensated in DynamoDB and absent from SQL agree (CONTRACT §7): not repaired.
        if (f["kind"], f["dynamodb_status"]) != ("missing_in_sql", "Compensated")
    }
    assert left == {("invalid_data", INVALID)}

    code, again = cli(capsys, config, *WINDOW)
    assert {k: v for k, v in by_key(again).items() if v[0] != "leave"} == {}
    assert by_key(again)[INVALID] == ("leave", "invalid_data")

    async def audit() -> list[Any]:
        conn = await asyncpg.connect(settings.postgres.dsn.get_secret_value())
        try:
            return list(
                await conn.fetch("SELECT * FROM dualwrite_monitor.repair_audit ORDER BY id")
            )
        finally:
            await conn.close()

    rows = anyio.run(audit)
    assert sorted(json.loads(r["record_key"])["log_id"] for r in rows) == sorted(
        k for k, (a, _) in EXPECTED.items() if a != "leave"
    )
    assert {r["result"] for r in rows} == {"applied"}
    assert {r["changed_by"] for r in rows} == {"ana"}
    assert all(r["plan_id"] == document["plan"] and r["finished_at"] for r in rows)
    stuck = next(r for r in rows if json.loads(r["record_key"])["log_id"] == STUCK)
    assert json.loads(stuck["before"])["sql"]["status"] == "Pending"
    assert json.loads(stuck["after"])["sql_status"] == "Committed"


def test_a_record_changed_between_plan_and_apply_is_skipped_not_overwritten(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed_faults(settings)
    config = write_config(tmp_path / "c.toml", settings)
    plan = tmp_path / "plan.json"
    code, planned = cli(capsys, config, "--save-plan", str(plan), *WINDOW)
    assert code == 0 and json.loads(plan.read_text())["plan"] == planned["plan"]

    async def someone_else_writes() -> None:
        conn = await asyncpg.connect(settings.postgres.dsn.get_secret_value())
        try:
            await conn.execute(
                "UPDATE integration_logs SET write_status = 'Failed', updated_at = now()"
                " WHERE log_id = $1",
                STUCK,
            )
        finally:
            await conn.close()

    anyio.run(someone_else_writes)
    code, applied = cli(capsys, config, "--apply", "--plan", str(plan))
    assert code == 1
    results = {a["key"]["log_id"]: a["result"] for a in applied["actions"]}
    assert results[STUCK] == "skipped_changed"
    assert applied["plan"] == planned["plan"]
    assert applied["summary"]["skipped"] == 1 and applied["summary"]["applied"] == 5

    async def status() -> tuple[str, str]:
        conn = await asyncpg.connect(settings.postgres.dsn.get_secret_value())
        try:
            sql = await conn.fetchval(
                "SELECT write_status FROM integration_logs WHERE log_id = $1", STUCK
            )
        finally:
            await conn.close()
        row = {r["log_id"]: r for r in make_rows(60)}[STUCK]
        mapping = settings.table_mapping()
        key = {
            "PK": {"S": mapping.partition_template.render(row)},
            "SK": {"S": mapping.sort_template.render(row)},
        }
        async with dynamo_client(settings) as client:
            item = await client.get_item(TableName=settings.dynamodb.table, Key=key)
        return sql, item["Item"]["WriteStatus"]["S"]

    assert anyio.run(status) == ("Failed", "Pending")  # neither side overwritten

    # An edited plan is refused (exit 2), never applied.
    edited = json.loads(plan.read_text())
    edited["actions"][0]["reason"] = "changed"
    plan.write_text(json.dumps(edited))
    assert main(["--config", str(config), "repair", "--apply", "--plan", str(plan)]) == 2
    assert "was changed after it was saved" in capsys.readouterr().err


class Killed(BaseException):
    """The process "dies" here: nothing after it runs, no handler catches it."""


def test_a_repair_killed_mid_way_resumes_without_applying_anything_twice(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed_faults(settings)
    config = write_config(tmp_path / "c.toml", settings)
    plan = tmp_path / "plan.json"
    cli(capsys, config, "--save-plan", str(plan), *WINDOW)
    writes = [0]

    async def die_before_fifth_write() -> None:
        writes[0] += 1
        if writes[0] == 5:  # complete_commit of STUCK: SQL marked, DynamoDB not yet
            raise Killed

    def run(hook: Any) -> Any:
        request = RepairRequest(
            now=datetime.now(UTC), apply=True, plan_file=plan, by="t", before_write=hook
        )
        return anyio.run(run_repair, settings, request)

    with pytest.raises(Killed):
        run(die_before_fifth_write)

    async def stuck_sql() -> Any:
        conn = await asyncpg.connect(settings.postgres.dsn.get_secret_value())
        try:
            return await conn.fetchrow(
                "SELECT write_status, updated_at FROM integration_logs WHERE log_id = $1", STUCK
            )
        finally:
            await conn.close()

    half = anyio.run(stuck_sql)
    assert half["write_status"] == "Committed"
    writes[0] = 0

    async def count_writes() -> None:
        writes[0] += 1

    report = run(count_writes)
    assert report.ok
    results = {r.entry.action.key: (r.result, r.note) for r in report.results}
    assert results[LOST] == ("applied", "applied by an earlier run")
    assert results[STUCK][0] == "applied"
    # The first run wrote LOST (put), CRASHED (put, SQL mark) and STUCK's SQL mark. The second
    # writes STUCK's DynamoDB status and the three actions after it, nothing else.
    assert writes[0] == 1 + 3
    assert anyio.run(stuck_sql)["updated_at"] == half["updated_at"]  # SQL not marked twice

    async def audit() -> list[Any]:
        conn = await asyncpg.connect(settings.postgres.dsn.get_secret_value())
        try:
            return list(await conn.fetch("SELECT * FROM dualwrite_monitor.repair_audit"))
        finally:
            await conn.close()

    rows = anyio.run(audit)
    keys = [json.loads(r["record_key"])["log_id"] for r in rows]
    assert sorted(keys) == sorted(set(keys))  # one audit row per action
    assert {r["result"] for r in rows} == {"applied"}
    stuck = next(r for r in rows if json.loads(r["record_key"])["log_id"] == STUCK)
    after = json.loads(stuck["after"])
    assert after["resumed"] is True
    assert after["steps"] == ["sql sql_status: already done", "dynamodb status: written"]


def test_after_a_rollback_the_gap_is_copied_back_to_sql_not_compensated(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Records written to DynamoDB alone while the phase was dynamo_only (10:00:05 to the
    rollback at 10:00:10, plus the writers' 5 s phase cache) are copied back to SQL as they are;
    a DynamoDB-only item outside that period is still compensated."""
    rows = make_rows(60)  # 10:00:00 .. 10:00:14.75
    in_gap, outside = (30, 40), 5
    seed(settings, rows, drop_from_sql={*in_gap, outside})
    history(
        settings,
        (None, "sql_only", BASE_TIME - timedelta(hours=2)),
        ("sql_only", "dual_write", BASE_TIME - timedelta(hours=1)),
        ("dual_write", "dynamo_reads", BASE_TIME - timedelta(minutes=30)),
        ("dynamo_reads", "dynamo_only", BASE_TIME + timedelta(seconds=5)),
        ("dynamo_only", "dynamo_reads", BASE_TIME + timedelta(seconds=10)),
    )
    config = write_config(tmp_path / "c.toml", settings)
    code, document = cli(capsys, config, *WINDOW)
    assert code == 0
    planned = by_key(document)
    assert planned[30] == planned[40] == ("copy_to_sql", "missing_in_sql")
    assert planned[outside] == ("compensate_item", "missing_in_sql")

    code, document = cli(capsys, config, *WINDOW, "--apply")
    assert code == 0, document
    assert {a["key"]["log_id"]: a["result"] for a in document["actions"]} == {
        30: "applied",
        40: "applied",
        outside: "applied",
    }

    async def copied() -> list[dict[str, Any]]:
        conn = await asyncpg.connect(settings.postgres.dsn.get_secret_value())
        try:
            found = await conn.fetch(
                "SELECT * FROM integration_logs WHERE log_id = ANY($1::bigint[]) ORDER BY log_id",
                [*in_gap, outside],
            )
        finally:
            await conn.close()
        return [dict(r) for r in found]

    back = anyio.run(copied)
    assert [r["log_id"] for r in back] == list(in_gap)  # the compensated one stays absent
    for row in back:
        original = rows[row["log_id"] - 1]
        assert {k: v for k, v in row.items() if k != "updated_at"} == {
            k: v for k, v in original.items() if k != "updated_at"
        }
    # A second run finds nothing left to do.
    code, document = cli(capsys, config, *WINDOW)
    assert code == 0 and document["actions"] == []


def test_a_long_repair_shows_its_progress_on_a_terminal_and_nothing_elsewhere(
    settings: Settings,
) -> None:
    import io

    from monitor.repair.progress import RepairProgress

    seed_faults(settings)
    terminal = io.StringIO()
    progress = RepairProgress(terminal, enabled=True)
    request = RepairRequest(now=UNTIL, since=SINCE, until=UNTIL, apply=True, progress=progress)
    report = anyio.run(run_repair, settings, request)
    progress.finish()
    assert report.ok
    drawn = terminal.getvalue()
    assert "repair: planning, counts" in drawn and "records" in drawn
    assert f"repair: {len(EXPECTED)}/{len(EXPECTED)} actions (6 applied, 1 left)" in drawn
    assert drawn.endswith("\r\033[K")  # cleared at the end
    piped = io.StringIO()  # not a terminal: nothing drawn
    RepairProgress(piped).applying(1, 2, ["applied"])
    assert piped.getvalue() == ""
