"""Preflight judgements from DescribeTable-shaped answers and measured figures."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from monitor.core.preflight import (
    Item,
    WantedIndex,
    judge_backups,
    judge_capacity,
    judge_table,
    passed,
    percentile,
)

TABLE = {
    "TableStatus": "ACTIVE",
    "KeySchema": [
        {"AttributeName": "PK", "KeyType": "HASH"},
        {"AttributeName": "SK", "KeyType": "RANGE"},
    ],
    "GlobalSecondaryIndexes": [
        {
            "IndexName": "PendingByDate",
            "KeySchema": [
                {"AttributeName": "GSI3PK", "KeyType": "HASH"},
                {"AttributeName": "GSI3SK", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["LogId"]},
        }
    ],
}


def test_table_judgement_names_each_problem() -> None:
    wanted = [WantedIndex("PendingByDate", "GSI3PK", "GSI3SK", ("LogId",))]
    assert judge_table(TABLE, "PK", "SK", wanted).passed
    item = judge_table(
        TABLE,
        "PK",
        "SK",
        [
            WantedIndex("PendingByDate", "GSI3PK", "GSI3SK", ("LogId", "WriteStatus")),
            WantedIndex("ByApplication", "GSI1PK", "GSI1SK"),
        ],
    )
    assert not item.passed
    assert item.detail == (
        "index PendingByDate does not project WriteStatus; index ByApplication is missing"
    )
    other = judge_table({**TABLE, "TableStatus": "CREATING"}, "pk", "SK", [])
    assert other.detail.startswith("status is CREATING, not ACTIVE; key schema is ('PK', 'SK')")


def test_capacity_on_demand_and_provisioned() -> None:
    assert judge_capacity(
        {"BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"}}, 99, 500
    ).passed
    provisioned = {"ProvisionedThroughput": {"WriteCapacityUnits": 10, "ReadCapacityUnits": 600}}
    assert judge_capacity(provisioned, 5, 500).passed  # 2 writes per record: 10 WCU needed
    short = judge_capacity(provisioned, 6, 700)
    assert not short.passed
    assert (
        short.detail
        == "10 WCU < 12.0 needed for the last hour's writes; 600 RCU < the monitor's read budget 700"
    )


def test_backups_advisory_unless_required() -> None:
    ok = judge_backups("ENABLED", "on", {}, False)
    assert ok.passed
    t0, t1 = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
    failing = judge_backups(
        "ENABLED", "on", {"last_archived_time": t0, "last_failed_time": t1}, True
    )
    assert not failing.passed and failing.required and "failing" in failing.detail
    off = judge_backups("DISABLED", "off", {}, False)
    assert not off.passed and not off.required
    assert passed([off]) and not passed([failing])


@given(st.lists(st.floats(0, 10, allow_nan=False), min_size=1, max_size=50), st.floats(0, 1))
def test_percentile_is_a_member_and_monotonic(samples: list[float], q: float) -> None:
    value = percentile(samples, q)
    assert value in samples
    assert percentile(samples, 0.5) <= percentile(samples, 0.99)
    assert min(samples) <= value <= max(samples)


def test_required_failures_refuse_advisory_do_not() -> None:
    advisory = Item("latency_dynamodb", False, False, "slow")
    required = Item("capacity", False, True, "short")
    assert passed([advisory]) and not passed([advisory, required])
