"""Seeded scenarios on the real stores: rows in PostgreSQL, items in DynamoDB, by the default
mapping, with chosen keys left out of one side or altered."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import asyncpg

from monitor.config import Settings
from monitor.setup import run_setup
from monitor.stores.aws_session import new_session
from monitor.writer.bulk import load
from monitor.writer.items import DEFAULT_COLUMNS
from tests.wire_items import wire_item

BASE_TIME = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
SERVICES = ("CreditCheckService", "IncomeVerification", "FraudScreen")


def make_rows(
    count: int,
    *,
    start: datetime = BASE_TIME,
    step: timedelta = timedelta(milliseconds=250),
    first_key: int = 1,
    status: str = "Committed",
) -> list[dict[str, Any]]:
    rows = []
    for i in range(count):
        moment = start + i * step
        ok = i % 7 != 0
        rows.append(
            {
                "log_id": first_key + i,
                "application_id": f"APP-{i % 50:04d}",
                "service_name": SERVICES[i % len(SERVICES)],
                "log_type": "Response" if ok else "Error",
                "log_timestamp": moment,
                "request_data": json.dumps({"applicant": f"A{i}", "amount": i * 10}),
                "response_data": json.dumps({"score": i % 900}),
                "status_code": "200" if ok else "500",
                "is_success": ok,
                "error_message": None if ok else "upstream timeout",
                "processing_time_ms": 20 + i % 300,
                "correlation_id": f"corr-{i}",
                "transaction_id": f"tx-{first_key + i}",
                "write_status": status,
                "updated_at": moment,
            }
        )
    return rows


async def _seed(
    settings: Settings,
    sql_rows: list[dict[str, Any]],
    dynamo_rows: list[dict[str, Any]],
    item_overrides: Mapping[int, Mapping[str, Any]],
) -> None:
    await run_setup(settings)
    mapping = settings.table_mapping()
    items = []
    for row in dynamo_rows:
        item = wire_item(row, mapping)
        item.update(item_overrides.get(row["log_id"], {}))
        items.append(item)
    await load(settings, DEFAULT_COLUMNS, sql_rows, items)


def dynamo_client(settings: Settings) -> Any:
    return new_session().create_client(
        "dynamodb",
        region_name=settings.dynamodb.region,
        endpoint_url=settings.dynamodb.endpoint_url,
    )


def seed(
    settings: Settings,
    rows: list[dict[str, Any]],
    *,
    drop_from_sql: Iterable[int] = (),
    drop_from_dynamodb: Iterable[int] = (),
    item_overrides: Mapping[int, Mapping[str, Any]] | None = None,
) -> None:
    """Write `rows` to both stores, except the keys dropped from one side."""
    not_sql, not_dynamo = set(drop_from_sql), set(drop_from_dynamodb)
    anyio.run(
        _seed,
        settings,
        [r for r in rows if r["log_id"] not in not_sql],
        [r for r in rows if r["log_id"] not in not_dynamo],
        item_overrides or {},
    )


def write_config(path: Path, settings: Settings, extra: str = "") -> Path:
    """A config.toml for CLI runs pointing at the test's stores."""
    path.write_text(
        "[postgres]\n"
        f'dsn = "{settings.postgres.dsn.get_secret_value()}"\n'
        'statement_timeout = "10s"\n'
        'connect_timeout = "3s"\n'
        "[dynamodb]\n"
        f'endpoint_url = "{settings.dynamodb.endpoint_url}"\n'
        f'table = "{settings.dynamodb.table}"\n'
        # The in-process moto answers a BatchGetItem of 100 items in ~1.5 s of CPU on a quiet
        # machine; on a loaded 2-core one that exceeds a few seconds, each retry times out alike.
        'request_timeout = "30s"\n' + extra
    )
    return path


def history(settings: Settings, *steps: tuple[str | None, str, Any]) -> None:
    """Replace the phase history with these (from, to, at) steps."""

    async def write() -> None:
        conn = await asyncpg.connect(settings.postgres.dsn.get_secret_value())
        try:
            await conn.execute("DELETE FROM dualwrite_monitor.phase_history")
            for source, target, at in steps:
                await conn.execute(
                    "INSERT INTO dualwrite_monitor.phase_history (from_phase, to_phase, at, changed_by)"
                    " VALUES ($1, $2, $3, 'test')",
                    source,
                    target,
                    at,
                )
        finally:
            await conn.close()

    anyio.run(write)
