"""Final states that agree (CONTRACT §7), both ways, on the real stores.

A record `Compensated` or `Failed` in one store and absent from the other agrees (the transaction
did not happen): no check reports it and no figure counts it. The same record with a counterpart
in another status is still a divergence, and a committed record missing on one side is still
missing.
"""

from __future__ import annotations

from datetime import timedelta

import anyio
import pytest

from monitor.checks.registry import CheckRequest, run_check
from monitor.checks.sampling import SampleCache
from monitor.config import Settings
from monitor.model import CheckReport, FindingKind
from monitor.runtime import open_context
from tests.conftest import make_settings
from tests.integration.scenario import BASE_TIME, make_rows, seed

pytestmark = pytest.mark.services

COMPENSATED_SQL_ONLY = {3, 10}
FAILED_SQL_ONLY = {17}
COMPENSATED_DYNAMODB_ONLY = {24}
COMPENSATED_BUT_ITEM_COMMITTED = {31}
COMMITTED_SQL_ONLY = {38}


def _run(settings: Settings) -> dict[str, CheckReport]:
    rows = make_rows(60)
    for row in rows:
        if (
            row["log_id"]
            in COMPENSATED_SQL_ONLY | COMPENSATED_DYNAMODB_ONLY | COMPENSATED_BUT_ITEM_COMMITTED
        ):
            row["write_status"] = "Compensated"
        if row["log_id"] in FAILED_SQL_ONLY:
            row["write_status"] = "Failed"
    seed(
        settings,
        rows,
        drop_from_sql=COMPENSATED_DYNAMODB_ONLY,
        drop_from_dynamodb=COMPENSATED_SQL_ONLY | FAILED_SQL_ONLY | COMMITTED_SQL_ONLY,
        item_overrides={
            k: {"WriteStatus": {"S": "Committed"}} for k in COMPENSATED_BUT_ITEM_COMMITTED
        },
    )

    async def go() -> dict[str, CheckReport]:
        request = CheckRequest(
            now=BASE_TIME + timedelta(hours=1),
            since=BASE_TIME - timedelta(minutes=1),
            until=BASE_TIME + timedelta(minutes=30),
        )
        async with open_context(settings) as context:
            context.samples = SampleCache()
            return {
                name: await run_check(name, context, request)
                for name in ("orphans", "counts", "quality", "sample")
            }

    return anyio.run(go)


def _keys(report: CheckReport) -> dict[object, set[FindingKind]]:
    out: dict[object, set[FindingKind]] = {}
    for finding in report.findings:
        out.setdefault(finding.key, set()).add(finding.kind)
    return out


def test_abandoned_and_absent_agree_in_every_check_and_no_figure_counts_them(
    database: str, dynamo_endpoint: str
) -> None:
    settings = make_settings(database, dynamo_endpoint, checks={"sampling": {"sample_size": 500}})
    reports = _run(settings)
    agreed = COMPENSATED_SQL_ONLY | FAILED_SQL_ONLY | COMPENSATED_DYNAMODB_ONLY
    for name, report in reports.items():
        assert not agreed & set(_keys(report)), name

    counts = reports["counts"].summary
    assert counts["agreed_absent"] == len(agreed)
    # 60 rows; 3 abandoned SQL-only and 1 abandoned DynamoDB-only are left out of both counts.
    assert counts["sql_count"] == 60 - 1 - 3
    assert counts["dynamodb_count"] == 60 - 3 - 1 - 1
    assert counts["missing_in_sql"] == 0

    sample = reports["sample"].summary
    assert sample["agreed_absent"] == 3
    assert sample["sampled"] == 59 - 3
    assert sample["missing_in_dynamodb"] == 1
    assert reports["quality"].summary["agreed_absent"] == 3
    assert reports["quality"].summary["sampled"] == 59 - 3


def test_a_divergent_or_committed_counterpart_is_still_reported(
    database: str, dynamo_endpoint: str
) -> None:
    settings = make_settings(database, dynamo_endpoint, checks={"sampling": {"sample_size": 500}})
    reports = _run(settings)
    counts = _keys(reports["counts"])
    assert counts == {
        31: {FindingKind.STATUS_DIVERGENCE},
        38: {FindingKind.MISSING_IN_DYNAMODB},
    }
    assert _keys(reports["sample"]) == {38: {FindingKind.MISSING_IN_DYNAMODB}}
    assert reports["counts"].summary["missing_in_dynamodb"] == 1
