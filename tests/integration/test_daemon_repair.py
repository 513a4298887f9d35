"""The daemon's own repair on the real stores: off by default (nothing outside the monitor's
schema is written), and with `[repair] enabled` it repairs every fault, a limited number of
actions per run, audited as `daemon`."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import asyncpg

from monitor.config import Settings
from monitor.daemon import Daemon
from monitor.model import CheckReport
from monitor.sinks import ReportSink, SinkContext
from tests.conftest import make_settings
from tests.integration.test_repair import EXPECTED, seed_faults, snapshot


def _settings(database: str, endpoint: str, **repair: Any) -> Settings:
    return make_settings(
        database,
        endpoint,
        repair=repair,
        telemetry={"listen": "127.0.0.1:0"},
        daemon={"check_timeout": "20s", "drain_timeout": "5s"},
    )


def test_the_daemon_never_writes_the_data_without_repair_enabled(
    database: str, dynamo_endpoint: str
) -> None:
    settings = _settings(database, dynamo_endpoint)
    seed_faults(settings, start=datetime.now(UTC) - timedelta(minutes=10))
    data_before, _, items_before = snapshot(settings)
    seen: set[str] = set()

    @asynccontextmanager
    async def recording(_: SinkContext) -> AsyncIterator[ReportSink]:
        async def sink(check: str, report: CheckReport | None, error: BaseException | None) -> None:
            seen.add(check)
            if seen >= {"orphans", "counts", "quality", "sample"}:
                daemon.request_stop()

        yield sink

    daemon = Daemon(settings, sinks=[recording], environ={})

    async def main() -> None:
        with anyio.fail_after(60):
            await daemon.run()

    anyio.run(main, backend="asyncio")
    assert daemon.status()["repair"] == {"enabled": False}
    data_after, _, items_after = snapshot(settings)
    assert (data_after, items_after) == (data_before, items_before)  # every check ran; nothing


def test_with_repair_enabled_the_daemon_repairs_every_fault_a_few_actions_per_run(
    database: str, dynamo_endpoint: str
) -> None:
    settings = _settings(
        database, dynamo_endpoint, enabled=True, interval="1s", max_actions_per_run=2
    )
    seed_faults(settings, start=datetime.now(UTC) - timedelta(minutes=10))
    daemon = Daemon(settings, environ={})

    async def stop_when_nothing_is_left() -> None:
        while True:
            last = daemon.status()["repair"].get("last_run") or {}
            summary = last.get("summary")
            if summary is not None and summary["planned"] == summary["applied"] == 0:
                daemon.request_stop()
                return
            await anyio.sleep(0.1)

    async def main() -> None:
        with anyio.fail_after(120):
            async with anyio.create_task_group() as group:
                group.start_soon(stop_when_nothing_is_left)
                await daemon.run()

    anyio.run(main, backend="asyncio")

    async def audit() -> list[Any]:
        conn = await asyncpg.connect(settings.postgres.dsn.get_secret_value())
        try:
            return list(
                await conn.fetch(
                    "SELECT plan_id, action, record_key, result, changed_by"
                    " FROM dualwrite_monitor.repair_audit ORDER BY id"
                )
            )
        finally:
            await conn.close()

    rows = anyio.run(audit)
    repaired = {json.loads(r["record_key"])["log_id"]: r["action"] for r in rows}
    wanted = {k: a for k, (a, _) in EXPECTED.items() if a != "leave"}
    assert repaired == wanted
    assert all(r["result"] == "applied" and r["changed_by"] == "daemon" for r in rows)
    per_plan: dict[str, int] = {}
    for r in rows:
        per_plan[r["plan_id"]] = per_plan.get(r["plan_id"], 0) + 1
    assert max(per_plan.values()) <= 2 and len(per_plan) >= len(wanted) // 2
    assert daemon.status()["repair"]["runs"] >= 4
