"""The pure orphan logic: judging pairs, both directions without duplicates, figures, windows."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.config import MappingSettings, build_mapping
from monitor.core.mapping import StatusValues, TableMapping
from monitor.core.orphans import (
    Location,
    Observed,
    Unreadable,
    counterparts,
    figures,
    finding_for,
    judge,
    keys_to_look_up,
    observe_items,
    observe_rows,
    reconcile,
    rejudge,
)
from monitor.core.pending_index import index_partitions, index_problem
from monitor.core.thresholds import within_thresholds
from monitor.model import Finding, FindingKind, IndexInfo, KeyValue
from monitor.stores.wire import decode_item, describe_indexes

S = StatusValues()
MAPPING = build_mapping(MappingSettings())
P, C, F, X = "Pending", "Committed", "Failed", "Compensated"
K = FindingKind


def sql(key: KeyValue, status: str | None) -> Observed:
    return Observed(key, status, f"PK{key}", f"SK{key}")


def dyn(key: KeyValue, status: str | None) -> Observed:
    return Observed(key, status, f"PK{key}", f"SK{key}")


# --- judge ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql_status", "dynamo_status", "kind"),
    [
        (P, None, K.MISSING_IN_DYNAMODB),
        (None, P, K.MISSING_IN_SQL),
        (P, C, K.STATUS_DIVERGENCE),
        (C, P, K.STATUS_DIVERGENCE),
        (P, F, K.STATUS_DIVERGENCE),
        (F, P, K.STATUS_DIVERGENCE),
        (C, F, K.STATUS_DIVERGENCE),  # seen on a re-read: still a divergence
        (P, P, K.STUCK_PENDING),
        (C, C, None),
        (X, X, None),
        (C, None, None),  # a final record missing on one side is for `counts`
        (None, C, None),
        (None, None, None),
    ],
)
def test_judge(sql_status: str | None, dynamo_status: str | None, kind: K | None) -> None:
    left = None if sql_status is None else sql(1, sql_status)
    right = None if dynamo_status is None else dyn(1, dynamo_status)
    assert judge(left, right, S) is kind


def test_finding_is_located_at_the_item_and_names_both_statuses() -> None:
    row = Observed(5, P, "PK-sql", "SK-sql")
    item = Observed(5, C, "PK-item", "SK-item")
    found = finding_for(row, item, S)
    assert found == Finding(K.STATUS_DIVERGENCE, 5, "PK-item", "SK-item", P, C)


def test_a_row_without_a_dynamodb_key_is_missing_and_says_why() -> None:
    found = finding_for(Observed(9, P, None, None), None, S)
    assert found is not None and found.kind is K.MISSING_IN_DYNAMODB
    assert found.pk is None and found.detail is not None and "NULL" in found.detail


def test_an_unreadable_status_is_invalid_data() -> None:
    item = Observed(3, None, "PK", "SK", Unreadable("WriteStatus", "not a string attribute"))
    found = finding_for(sql(3, P), item, S)
    assert found is not None
    assert (found.kind, found.field, found.sql_status) == (K.INVALID_DATA, "WriteStatus", P)


# --- reconcile: both directions, each record once ------------------------------------------------

STATUS = st.sampled_from([None, P, C, F, X])  # None: the store has no such record


@settings(deadline=None)  # timing varies on a loaded machine; the property is what matters
@given(st.dictionaries(st.integers(0, 60), st.tuples(STATUS, STATUS), max_size=40))
def test_reconcile_judges_each_pending_record_exactly_once(
    world: Mapping[KeyValue, tuple[str | None, str | None]],
) -> None:
    """Built exactly as the check builds its inputs: pending rows, their items, pending items,
    and the SQL rows of the keys the SQL side did not judge."""
    sql_pending = [sql(k, s) for k, (s, _) in world.items() if s == P]
    found_in_dynamodb: dict[Location, str | Unreadable] = {
        (f"PK{k}", f"SK{k}"): d for k, (_, d) in world.items() if d is not None
    }
    dynamodb_pending = [dyn(k, d) for k, (_, d) in world.items() if d == P]
    wanted = keys_to_look_up(sql_pending, dynamodb_pending)
    sql_rows = {k: sql(k, world[k][0]) for k in wanted if world[k][0] is not None}

    findings = reconcile(sql_pending, found_in_dynamodb, dynamodb_pending, sql_rows, S)

    keys = [f.key for f in findings]
    assert len(keys) == len(set(keys))  # never twice
    expected = {}
    for key, (s, d) in world.items():
        kind = judge(None if s is None else sql(key, s), None if d is None else dyn(key, d), S)
        if P in (s, d):
            assert kind is not None  # a record pending anywhere is always an orphan
            expected[key] = kind
        else:
            assert kind is None or kind is K.STATUS_DIVERGENCE
    assert {f.key: f.kind for f in findings} == expected
    for finding in findings:
        s, d = world[finding.key]
        assert (finding.sql_status, finding.dynamodb_status) == (s, d)
    # Only keys the SQL side had not judged were looked up in SQL.
    assert set(wanted).isdisjoint(k for k, (s, _) in world.items() if s == P)


def test_duplicate_and_stale_pending_items_are_not_reported_twice() -> None:
    items = [dyn(1, P), dyn(1, P), dyn(2, C)]  # key 1 twice; key 2 a stale index entry
    findings = reconcile([], {}, items, {}, S)
    assert [(f.key, f.kind) for f in findings] == [(1, K.MISSING_IN_SQL)]


def test_rejudge_drops_a_divergence_that_healed_and_keeps_fresh_statuses() -> None:
    candidate = Finding(K.STATUS_DIVERGENCE, 4, "PK4", "SK4", P, C)
    assert rejudge(candidate, sql(4, C), C, S) is None
    again = rejudge(candidate, sql(4, F), C, S)
    assert again is not None and (again.sql_status, again.dynamodb_status) == (F, C)
    gone = rejudge(candidate, sql(4, P), None, S)
    assert gone is not None and gone.kind is K.MISSING_IN_DYNAMODB


# --- reading rows and items ----------------------------------------------------------------------


def _row(key: int, status: str, service: str | None = "Svc") -> dict[str, Any]:
    return {
        "log_id": key,
        "write_status": status,
        "log_timestamp": datetime(2026, 1, 1, 10, 0, tzinfo=UTC),
        "service_name": service,
    }


def test_rows_are_located_where_their_item_should_be() -> None:
    (row, nameless) = observe_rows(MAPPING, [_row(7, P), _row(8, P, service=None)])
    assert row == Observed(7, P, "LOG#Svc#2026-01-01", "2026-01-01T10:00:00.000000Z#7")
    assert nameless.location is None


def test_items_with_unreadable_keys_or_statuses() -> None:
    wire = [
        {"PK": {"S": "a"}, "SK": {"S": "b"}, "LogId": {"N": "1"}, "WriteStatus": {"S": P}},
        {"PK": {"S": "a"}, "SK": {"S": "c"}, "LogId": {"S": "x" * 100}, "WriteStatus": {"S": P}},
        {"PK": {"S": "a"}, "SK": {"S": "d"}, "LogId": {"N": "1.5"}, "WriteStatus": {"S": P}},
        {"PK": {"S": "a"}, "SK": {"S": "e"}, "LogId": {"N": "2"}, "WriteStatus": {"N": "1"}},
        {"PK": {"S": "a"}, "SK": {"S": "f"}, "LogId": {"N": "3"}},
    ]
    items = [decode_item(item) for item in wire]
    observed, invalid = observe_items(MAPPING, items)
    assert [o.key for o in observed] == [1, "x" * 100, 2, 3]
    assert observed[0].problem is None
    assert observed[2].problem is not None and observed[3].problem is not None
    assert [(f.kind, f.key, f.sk, f.field) for f in invalid] == [
        (K.INVALID_DATA, "1.5", "d", "LogId")
    ]
    found = counterparts(MAPPING, items)
    assert found[("a", "b")] == P and isinstance(found[("a", "e")], Unreadable)


def test_bigint_keys_stay_exact() -> None:
    big = 2**53 + 1
    item = {"PK": {"S": "a"}, "SK": {"S": "b"}, "LogId": {"N": str(big)}, "WriteStatus": {"S": P}}
    (observed,), _ = observe_items(MAPPING, [decode_item(item)])
    assert observed.key == big and isinstance(observed.key, int)


# --- figures -------------------------------------------------------------------------------------


def test_figures_follow_the_written_definitions() -> None:
    findings = [
        Finding(K.MISSING_IN_DYNAMODB, 1, sql_status=P),
        Finding(K.STATUS_DIVERGENCE, 2, sql_status=P, dynamodb_status=C),
        Finding(K.STUCK_PENDING, 3, sql_status=P, dynamodb_status=P),
        Finding(K.MISSING_IN_SQL, 4, dynamodb_status=P),
        Finding(K.STATUS_DIVERGENCE, 5, sql_status=C, dynamodb_status=P),
        Finding(K.INVALID_DATA, "x"),
    ]
    counts: dict[str | None, int] = {C: 202, P: 3, F: 1}
    numbers = figures(findings, counts, S)
    assert numbers.records == 207  # 206 SQL rows + 1 DynamoDB-only
    assert numbers.orphans == 5  # invalid_data is listed, not an orphan
    assert numbers.by_kind["status_divergence"] == 2 and numbers.by_kind["invalid_data"] == 1
    assert numbers.orphan_ratio == 5 / 207
    assert numbers.write_success == 201 / 207
    assert numbers.transaction_completion == 202 / 207


def test_an_empty_window_is_all_good() -> None:
    numbers = figures([], {}, S)
    assert (numbers.orphan_ratio, numbers.write_success, numbers.transaction_completion) == (
        0.0,
        1.0,
        1.0,
    )


@given(
    st.dictionaries(st.sampled_from([P, C, F, X, None, "Odd"]), st.integers(0, 500)),
    st.lists(
        st.tuples(
            st.sampled_from(
                [K.MISSING_IN_DYNAMODB, K.MISSING_IN_SQL, K.STATUS_DIVERGENCE, K.STUCK_PENDING]
            ),
            st.sampled_from([P, C, F, None]),
            st.sampled_from([P, C, F, None]),
        ),
        max_size=30,
    ),
)
def test_ratios_are_always_ratios(
    counts: dict[str | None, int], raw: list[tuple[K, str | None, str | None]]
) -> None:
    findings = [
        Finding(kind, i, sql_status=s, dynamodb_status=d) for i, (kind, s, d) in enumerate(raw)
    ]
    numbers = figures(findings, counts, S)
    for value in (numbers.orphan_ratio, numbers.write_success, numbers.transaction_completion):
        assert 0.0 <= value <= 1.0
    assert numbers.orphans == len(findings)


@pytest.mark.parametrize(
    ("percent", "below", "above", "ok"),
    [
        (0.999 * 100, 99.9, None, True),  # equal to the threshold is within (float noise too)
        (99.89, 99.9, None, False),
        (0.1, None, 0.1, True),
        (0.1000001, None, 0.1, False),
        (50.0, None, None, True),
    ],
)
def test_within(percent: float, below: float | None, above: float | None, ok: bool) -> None:
    assert within_thresholds(percent, alert_below=below, alert_above=above) is ok


# --- the pending index ---------------------------------------------------------------------------


def _table(**gsi: Any) -> dict[str, Any]:
    index = {
        "IndexName": "PendingByDate",
        "IndexStatus": "ACTIVE",
        "KeySchema": [
            {"AttributeName": "GSI3PK", "KeyType": "HASH"},
            {"AttributeName": "GSI3SK", "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["LogId", "WriteStatus"]},
    }
    index.update(gsi)
    return {"GlobalSecondaryIndexes": [index]}


def _indexes(**gsi: Any) -> list[IndexInfo]:
    return describe_indexes(_table(**gsi))


def _mapping(**index: Any) -> TableMapping:
    pending = {
        "name": "PendingByDate",
        "partition_key": "GSI3PK",
        "sort_key": "GSI3SK",
        "partition_key_template": "PENDING#{log_timestamp:%Y-%m-%d}",
    }
    return build_mapping(MappingSettings.model_validate({"pending_index": pending | index}))


def test_a_sound_index_is_used() -> None:
    assert index_problem(MAPPING, _indexes()) is None
    assert index_problem(MAPPING, _indexes(Projection={"ProjectionType": "ALL"})) is None


@pytest.mark.parametrize(
    ("table", "words"),
    [
        ({"GlobalSecondaryIndexes": []}, "does not exist"),
        ({}, "does not exist"),
        (_table(IndexStatus="CREATING"), "CREATING"),
        (_table(Projection={"ProjectionType": "KEYS_ONLY"}), "does not project LogId, WriteStatus"),
        (
            _table(Projection={"ProjectionType": "INCLUDE", "NonKeyAttributes": ["LogId"]}),
            "does not project WriteStatus",
        ),
        (_table(KeySchema=[{"AttributeName": "X", "KeyType": "HASH"}]), "keyed on X/None"),
    ],
)
def test_an_unusable_index_says_why(table: dict[str, Any], words: str) -> None:
    problem = index_problem(MAPPING, describe_indexes(table))
    assert problem is not None and words in problem


def test_index_templates_must_be_enumerable_by_time() -> None:
    no_index = build_mapping(MappingSettings.model_validate({"pending_index": False}))
    assert "pending_index = false" in (index_problem(no_index, _indexes()) or "")
    by_service = _mapping(partition_key_template="P#{service_name}#{log_timestamp:%Y-%m-%d}")
    assert "may use only" in (index_problem(by_service, _indexes()) or "")
    by_second = _mapping(partition_key_template="P#{log_timestamp:%Y-%m-%dT%H:%M:%S}")
    assert "every minute" in (index_problem(by_second, _indexes()) or "")
    assert (
        index_problem(_mapping(partition_key_template="P#{log_timestamp:%Y-%m}"), _indexes())
        is None
    )


def test_index_partitions_cover_midnight_with_one_query_per_day() -> None:
    assert MAPPING.pending_index is not None
    start = datetime(2026, 1, 1, 23, 50, tzinfo=UTC)
    parts = index_partitions(
        MAPPING.pending_index, "log_timestamp", start, start + timedelta(minutes=15)
    )
    assert parts == [
        ("PENDING#2026-01-01", start, datetime(2026, 1, 2, tzinfo=UTC)),
        ("PENDING#2026-01-02", datetime(2026, 1, 2, tzinfo=UTC), start + timedelta(minutes=15)),
    ]


MOMENTS = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@settings(deadline=None)  # up to ~1,000 partitions per example
@given(
    MOMENTS,
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=40)),
    st.sampled_from(["%Y-%m-%d", "%Y-%m", "%Y-%m-%dT%H", "%d.%m.%Y"]),
)
def test_index_partitions_tile_the_window(start: datetime, length: timedelta, fmt: str) -> None:
    index = _mapping(partition_key_template=f"P#{{log_timestamp:{fmt}}}").pending_index
    assert index is not None
    end = start + length
    parts = index_partitions(index, "log_timestamp", start, end)
    edges = [start] + [high for _, _, high in parts]
    assert [low for _, low, _ in parts] == edges[:-1]  # contiguous, no gap, no overlap
    assert edges[-1] == end if parts else start == end
    for pk, low, high in parts:
        assert low < high
        # Every moment of the piece renders the same partition value.
        assert (
            pk
            == f"P#{low.strftime(fmt)}"
            == f"P#{(high - timedelta(microseconds=1)).strftime(fmt)}"
        )
