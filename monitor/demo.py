"""`dualwrite-monitor demo`: the product on one machine with no setup.

Starts a throwaway PostgreSQL and a local DynamoDB-API server (the same code the tests use),
runs `setup`, writes a few thousand records with a known handful missing on each side, runs
`check counts`, prints the report, and stops everything it started — also on Ctrl-C.
"""

from __future__ import annotations

import os
import random
import sys
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import anyio
import asyncpg
from aiobotocore.session import get_session

from monitor.checks.context import open_context
from monitor.checks.registry import CheckRequest, run_check
from monitor.config import Settings, settings_from_dict
from monitor.local import LocalDynamo, LocalPostgres, local_aws_env
from monitor.model import CheckReport, FindingKind
from monitor.report import render_json, render_text
from monitor.setup import run_setup
from monitor.writer.bulk import copy_rows, put_items
from monitor.writer.items import DEFAULT_COLUMNS, default_item

SERVICES = ("CreditCheckService", "IncomeVerification", "FraudScreen", "DocumentStore")


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)  # noqa: T201


def demo_rows(count: int, now: datetime, seed: int = 7) -> list[dict[str, Any]]:
    """`count` records spread over the settled part of the default counts window."""
    rng = random.Random(seed)
    start = now - timedelta(minutes=11)
    span = timedelta(minutes=8).total_seconds()
    rows = []
    for i in range(count):
        moment = start + timedelta(seconds=span * i / max(count, 1))
        ok = rng.random() > 0.1
        rows.append(
            {
                "log_id": 1_000_000 + i,
                "application_id": f"APP-{rng.randrange(500):04d}",
                "service_name": SERVICES[i % len(SERVICES)],
                "log_type": "Response" if ok else "Error",
                "log_timestamp": moment,
                "request_data": f'{{"applicant": "redacted", "amount": {rng.randrange(10**5)}}}',
                "response_data": f'{{"score": {rng.randrange(900)}}}',
                "status_code": "200" if ok else "503",
                "is_success": ok,
                "error_message": None if ok else "upstream timeout",
                "processing_time_ms": rng.randrange(5, 900),
                "correlation_id": f"corr-{i}",
                "transaction_id": f"tx-{i}",
                "write_status": "Committed",
                "updated_at": moment,
            }
        )
    return rows


async def _write(
    settings: Settings, rows: list[dict[str, Any]], not_sql: set[int], not_dynamo: set[int]
) -> None:
    mapping = settings.table_mapping()
    conn = await asyncpg.connect(settings.postgres.dsn.get_secret_value())
    try:
        await copy_rows(
            conn,
            mapping.sql_table,
            DEFAULT_COLUMNS,
            [r for r in rows if r["log_id"] not in not_sql],
        )
    finally:
        await conn.close()
    items = [default_item(r, mapping) for r in rows if r["log_id"] not in not_dynamo]
    async with get_session().create_client(
        "dynamodb",
        region_name=settings.dynamodb.region,
        endpoint_url=settings.dynamodb.endpoint_url,
    ) as client:
        await put_items(client, settings.dynamodb.table, items)


async def _run(
    settings: Settings, records: int, missing: int
) -> tuple[CheckReport, set[int], set[int]]:
    _say("creating tables (setup) ...")
    await run_setup(settings)
    now = datetime.now(UTC)
    rows = demo_rows(records, now)
    picks = random.Random(11).sample([r["log_id"] for r in rows], 2 * missing)
    not_dynamo, not_sql = set(picks[:missing]), set(picks[missing:])
    _say(f"writing {records} records, {missing} kept out of each store ...")
    await _write(settings, rows, not_sql, not_dynamo)
    _say("running check counts ...")
    async with open_context(settings) as context:
        request = CheckRequest(now=datetime.now(UTC), interactive=True)
        report = await run_check("counts", context, request)
    return report, not_dynamo, not_sql


def run_demo(
    *,
    records: int = 5000,
    missing: int = 5,
    dynamodb_backend: Literal["auto", "moto", "ddblocal"] = "auto",
    output_format: str = "text",
) -> int:
    if records < 2 * missing or missing < 0:
        from monitor.errors import UsageError

        raise UsageError("--records must be at least twice --missing")
    os.environ.update({k: v for k, v in local_aws_env().items() if k not in os.environ})
    _say("starting a local PostgreSQL and a local DynamoDB-API server ...")
    with LocalPostgres() as pg, LocalDynamo(dynamodb_backend) as dynamo:
        _say(f"  PostgreSQL at {pg.dsn}; DynamoDB ({dynamo.backend}) at {dynamo.endpoint_url}")
        settings = settings_from_dict(
            {"postgres": {"dsn": pg.dsn}, "dynamodb": {"endpoint_url": dynamo.endpoint_url}}
        )
        report, not_dynamo, not_sql = anyio.run(_run, settings, records, missing)
        if output_format == "json":
            print(render_json([report], combined=False))  # noqa: T201
        else:
            print(render_text(report, colour=sys.stdout.isatty()))  # noqa: T201
        found_dynamo = {f.key for f in report.findings if f.kind is FindingKind.MISSING_IN_DYNAMODB}
        found_sql = {f.key for f in report.findings if f.kind is FindingKind.MISSING_IN_SQL}
        exact = found_dynamo == not_dynamo and found_sql == not_sql
        _say(
            f"\nplanted: {len(not_dynamo)} missing in DynamoDB, {len(not_sql)} missing in SQL;"
            f" found exactly those: {'yes' if exact else 'NO'}. Stopping the local servers ..."
        )
    return 0 if exact else 1
