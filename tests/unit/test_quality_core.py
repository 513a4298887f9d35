"""The pure quality core: grades, DynamoDB types, the plan built from config, one record inspected."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.config import RuleSettings, Settings, quality_plan, settings_from_dict
from monitor.core.compare import FieldSpec
from monitor.core.mapping import Record
from monitor.core.quality import (
    GRADE_FLOORS,
    Grade,
    PlanError,
    QualityPlan,
    build_plan,
    expected_tags,
    grade_for,
    inspect_record,
    value_problem,
)
from monitor.errors import ConfigError
from monitor.stores.wire import decode_attribute, decode_item
from tests.wire_items import wire_item

# --- grades ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("clean", "total", "grade"),
    [
        (1000, 1000, Grade.EXCELLENT),
        (999, 1000, Grade.EXCELLENT),
        (998, 1000, Grade.GOOD),
        (990, 1000, Grade.GOOD),
        (989, 1000, Grade.FAIR),
        (950, 1000, Grade.FAIR),
        (949, 1000, Grade.POOR),
        (900, 1000, Grade.POOR),
        (899, 1000, Grade.CRITICAL),
        (0, 1000, Grade.CRITICAL),
        (1, 1, Grade.EXCELLENT),
        (0, 1, Grade.CRITICAL),
        (99, 100, Grade.GOOD),
    ],
)
def test_grade_thresholds(clean: int, total: int, grade: Grade) -> None:
    assert grade_for(clean, total) is grade


def test_an_empty_sample_has_no_grade() -> None:
    assert grade_for(0, 0) is None
    with pytest.raises(ValueError):
        grade_for(3, 2)


@given(
    st.integers(min_value=1, max_value=10**7).flatmap(
        lambda n: st.tuples(st.integers(min_value=0, max_value=n), st.just(n))
    )
)
@settings(deadline=None)
def test_grade_is_the_first_floor_the_exact_share_reaches(pair: tuple[int, int]) -> None:
    clean, total = pair
    share = Fraction(clean, total)
    expected = next(
        (g for g, floor in GRADE_FLOORS if share >= Fraction(str(floor))), Grade.CRITICAL
    )
    assert grade_for(clean, total) is expected


@given(st.integers(min_value=1, max_value=5000), st.data())
@settings(deadline=None)
def test_more_clean_records_never_lower_the_grade(total: int, data: st.DataObject) -> None:
    a = data.draw(st.integers(min_value=0, max_value=total))
    b = data.draw(st.integers(min_value=a, max_value=total))
    worse, better = grade_for(a, total), grade_for(b, total)
    assert worse is not None and better is not None and better.at_least(worse)


def test_grade_order() -> None:
    assert Grade.EXCELLENT.at_least(Grade.GOOD) and Grade.GOOD.at_least(Grade.GOOD)
    assert not Grade.FAIR.at_least(Grade.GOOD)
    assert [g.rank for g in Grade] == [0, 1, 2, 3, 4]


# --- wire values and declared types ----------------------------------------------------------


def wire_value(wire: object) -> object:
    return decode_attribute(wire).plain()


def wire_tag(wire: object) -> str | None:
    return decode_attribute(wire).type


def test_wire_values() -> None:
    assert wire_value({"N": "12"}) == 12 and isinstance(wire_value({"N": "1.5"}), Decimal)
    assert wire_value({"M": {"a": {"L": [{"BOOL": True}, {"NULL": True}]}}}) == {"a": [True, None]}
    assert wire_value({"SS": ["a", "b"]}) == frozenset({"a", "b"})
    assert wire_tag({"S": "x"}) == "S" and wire_tag({"X": 1}) is None and wire_tag("x") is None
    with pytest.raises(ValueError):
        wire_value({"S": "a", "N": "1"})


@pytest.mark.parametrize(
    ("spec", "sql_value", "tags"),
    [
        (FieldSpec("c", "C"), True, {"BOOL"}),
        (FieldSpec("c", "C"), 5, {"N"}),
        (FieldSpec("c", "C"), Decimal("1.5"), {"N"}),
        (FieldSpec("c", "C"), "x", {"S"}),
        (FieldSpec("c", "C"), datetime(2026, 1, 1, tzinfo=UTC), {"S"}),
        (FieldSpec("c", "C"), b"x", {"B"}),
        (FieldSpec("c", "C"), None, None),
        (FieldSpec("c", "C", "json"), None, {"S", "M", "L"}),
        (FieldSpec("c", "C", "number"), "7", {"N"}),
        (FieldSpec("c", "C", "timestamp"), None, {"S"}),
    ],
)
def test_expected_tags(spec: FieldSpec, sql_value: object, tags: set[str] | None) -> None:
    assert expected_tags(spec, sql_value) == (None if tags is None else frozenset(tags))


@pytest.mark.parametrize(
    ("spec", "value", "problem"),
    [
        (FieldSpec("c", "C", "json"), '{"a": 1}', None),
        (FieldSpec("c", "C", "json"), '{"a": ', "is not valid JSON (Expecting value at char 6)"),
        (FieldSpec("c", "C", "json"), "NaN", "is not valid JSON (non-standard NaN or infinite constant)"),
        (FieldSpec("c", "C", "timestamp"), "2026-01-01T00:00:00Z", None),
        (FieldSpec("c", "C", "timestamp"), "2026-01-01T00:00:00", "is a timestamp without a UTC offset (local time is never assumed)"),
        (FieldSpec("c", "C", "timestamp"), "tomorrow", "is not an ISO-8601 timestamp"),
        (FieldSpec("c", "C", "number"), "1e3", None),
        (FieldSpec("c", "C", "number"), "lots", "is not a number"),
        (FieldSpec("c", "C"), "anything", None),
        (FieldSpec("c", "C"), None, None),
    ],
)  # fmt: skip
def test_value_problem_agrees_with_the_comparator(
    spec: FieldSpec, value: object, problem: str | None
) -> None:
    assert value_problem(spec, value) == problem


# --- the plan ----------------------------------------------------------------------------------


def test_the_default_plan() -> None:
    plan = quality_plan(Settings())
    assert [i.name for i in plan.indexes] == ["ByApplication", "ErrorsByDate", "PendingByDate"]
    assert plan.indexes[-1].pending and plan.indexes[-1].sort_key == "GSI3SK"
    assert [r.name for r in plan.rules] == [
        "errors_have_message",
        "error_logs_are_failures",
        "processing_time_not_negative",
    ]
    # Only the columns the checks need, never whole rows.
    assert set(plan.sql_columns) == {
        "log_id", "write_status", "log_timestamp", "service_name", "log_type", "is_success",
        "status_code", "request_data", "application_id", "response_data", "error_message",
        "processing_time_ms",
    }  # fmt: skip
    assert {"PK", "SK", "LogId", "WriteStatus", "GSI1PK", "GSI2SK", "GSI3PK"} <= set(
        plan.item_attributes
    )


def _rule(name: str, when: str = "true", require: str = "a = 1") -> RuleSettings:
    return RuleSettings(name=name, when=when, require=require)


def test_plan_errors_name_the_key() -> None:
    mapping = Settings().table_mapping()
    with pytest.raises(PlanError) as error:
        build_plan(mapping, (), [_rule("a"), _rule("b", require="a = ")], ())
    assert error.value.key == "rules[1].require"
    with pytest.raises(PlanError) as error:
        build_plan(mapping, (), [_rule("a"), _rule("a")], ())
    assert error.value.key == "rules[1].name" and "used twice" in error.value.message


@pytest.mark.parametrize(
    ("quality", "key"),
    [
        ({"rules": [{"name": "x", "when": "is_success ==", "require": "true"}]}, "checks.quality.rules[0].when"),
        ({"rules": [{"name": "x", "require": "(a"}]}, "checks.quality.rules[0].require"),
        (
            {"indexes": [{"name": "I", "partition_key": "P", "partition_key_template": "APP#{app id}"}]},
            "checks.quality.indexes[0].partition_key_template",
        ),
        (
            {"indexes": [{"name": "I", "partition_key": "P", "partition_key_template": "A#{a}", "when": "x y"}]},
            "checks.quality.indexes[0].when",
        ),
        ({"fields": [{"column": "c", "attribute": "C", "tolerance": "1s"}]}, "checks.quality.fields[0]"),
        ({"min_grade": "Splendid"}, "checks.quality.min_grade"),
    ],
)  # fmt: skip
def test_bad_quality_settings_are_config_errors(quality: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as error:
        settings_from_dict({"checks": {"quality": quality}})
    assert error.value.key == key


def test_a_tolerance_on_an_exact_mapping_field_is_a_config_error() -> None:
    fields = [{"column": "c", "attribute": "C", "compare": "exact", "tolerance": "1s"}]
    with pytest.raises(ConfigError) as error:
        settings_from_dict({"mapping": {"fields": fields}})
    assert error.value.key == "mapping.fields[0]"
    assert "tolerance applies only to compare = 'timestamp'" in str(error.value)


def test_parts_reading_missing_columns_are_dropped_with_a_warning() -> None:
    plan = quality_plan(Settings())
    have = set(plan.sql_columns) - {"error_message", "application_id"}
    restricted, warnings = plan.restricted_to(have)
    assert [r.name for r in restricted.rules] == [
        "error_logs_are_failures",
        "processing_time_not_negative",
    ]
    assert [i.name for i in restricted.indexes] == ["ErrorsByDate", "PendingByDate"]
    assert {f.attribute for f in restricted.fields} >= {"LogType", "RequestData"}
    assert "ErrorMessage" not in {f.attribute for f in restricted.fields}
    assert warnings == (
        "checks.quality: integration_logs has no column 'application_id'; the type check of"
        " ApplicationId is skipped",
        "checks.quality: integration_logs has no column 'error_message'; the type check of"
        " ErrorMessage is skipped",
        "checks.quality: integration_logs has no column 'application_id'; index ByApplication"
        " is not checked",
        "checks.quality: integration_logs has no column 'error_message'; rule"
        " errors_have_message is not checked",
    )


# --- one record ----------------------------------------------------------------------------------

PLAN: QualityPlan = quality_plan(Settings())
MAPPING = PLAN.mapping


def _row(**changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "log_id": 42,
        "application_id": "APP-0001",
        "service_name": "FraudScreen",
        "log_type": "Error",
        "log_timestamp": datetime(2026, 1, 1, 10, 0, 1, 5, tzinfo=UTC),
        "request_data": '{"a": 1}',
        "response_data": '{"b": [1, 2]}',
        "status_code": "500",
        "is_success": False,
        "error_message": "timeout",
        "processing_time_ms": 12,
        "correlation_id": "c",
        "transaction_id": "t",
        "write_status": "Committed",
    }
    row.update(changes)
    return row


def inspect(row: Mapping[str, Any], item: Mapping[str, Any] | None) -> set[tuple[str, str | None]]:
    record: Record = MAPPING.record_from_row(row)
    found = inspect_record(PLAN, row, record, None if item is None else decode_item(item))
    assert not found.errors
    for f in found.findings:
        assert f.key == 42 and f.sk == record.sk and f.pk == record.pk
    return {(str(f.kind), f.field or f.rule) for f in found.findings}


def test_a_clean_record_has_no_finding() -> None:
    row = _row()
    assert inspect(row, wire_item(row, MAPPING)) == set()
    pending = _row(write_status="Pending", is_success=True, log_type="Response", error_message=None)
    assert inspect(pending, wire_item(pending, MAPPING)) == set()


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"IsSuccess": {"S": "false"}}, {("invalid_data", "IsSuccess")}),
        ({"LogTimestamp": {"N": "1"}}, {("invalid_data", "LogTimestamp")}),
        ({"ResponseData": {"S": "{"}}, {("invalid_data", "ResponseData")}),
        ({"ResponseData": {"M": {"b": {"L": []}}}}, set()),
        ({"ProcessingTimeMs": {"S": "12"}}, {("invalid_data", "ProcessingTimeMs")}),
        ({"LogId": {"S": "42"}}, {("invalid_data", "LogId")}),
        ({"LogId": {"N": "43"}}, {("invalid_data", "LogId")}),
        ({"LogId": {"BOOL": True}}, {("invalid_data", "LogId")}),
        ({"WriteStatus": {"N": "1"}}, {("invalid_data", "WriteStatus")}),
        ({"GSI1PK": {"S": "APP#APP-0002"}}, {("index_integrity", "GSI1PK")}),
        ({"GSI1PK": {"N": "1"}}, {("index_integrity", "GSI1PK")}),
        ({"GSI2SK": {"S": "other"}}, {("index_integrity", "GSI2SK")}),
        ({"GSI3PK": {"S": "PENDING#2026-01-01"}}, {("index_integrity", "GSI3PK")}),
        ({"ServiceName": {"NULL": True}}, set()),
        ({"ErrorMessage": {"SS": ["x"]}}, {("invalid_data", "ErrorMessage")}),
    ],
)
def test_each_problem_is_found_on_its_attribute(
    changes: dict[str, Any], expected: set[tuple[str, str | None]]
) -> None:
    row = _row()
    item = wire_item(row, MAPPING) | changes
    assert inspect(row, item) == expected


def test_index_attributes_follow_the_sql_row_and_the_item_status() -> None:
    success = _row(is_success=True, log_type="Response", error_message=None)
    item = wire_item(success, MAPPING)
    item["GSI2PK"] = {"S": "ERR#2026-01-01"}
    assert inspect(success, item) == {("index_integrity", "GSI2PK")}
    failure = _row()
    item = {k: v for k, v in wire_item(failure, MAPPING).items() if k != "GSI2SK"}
    assert inspect(failure, item) == {("index_integrity", "GSI2SK")}
    # A NULL application id: no writer can build GSI1PK, so it must be absent.
    nameless = _row(application_id=None)
    item = wire_item(_row(), MAPPING)
    assert inspect(nameless, item) == {
        ("index_integrity", "GSI1PK"),
        ("index_integrity", "GSI1SK"),
    }
    item.pop("GSI1PK")
    item.pop("ApplicationId")
    assert inspect(nameless, item) == {("index_integrity", "GSI1SK")}


def test_rules_and_sql_types_are_checked_without_an_item() -> None:
    row = _row(error_message=None, request_data="{oops", processing_time_ms=-1)
    assert inspect(row, None) == {
        ("rule_violation", "errors_have_message"),
        ("rule_violation", "processing_time_not_negative"),
        ("invalid_data", "RequestData"),
    }


attributes = st.recursive(
    st.one_of(
        st.builds(lambda s: {"S": s}, st.text(max_size=10)),
        st.builds(lambda n: {"N": str(n)}, st.integers() | st.decimals(allow_nan=False, allow_infinity=False)),
        st.builds(lambda b: {"BOOL": b}, st.booleans()),
        st.just({"NULL": True}),
        st.builds(lambda s: {"SS": s}, st.lists(st.text(max_size=3), min_size=1, max_size=3)),
        st.builds(lambda b: {"B": b}, st.binary(max_size=5)),
    ),
    lambda inner: st.one_of(
        st.builds(lambda items: {"L": items}, st.lists(inner, max_size=3)),
        st.builds(lambda items: {"M": items}, st.dictionaries(st.text(max_size=3), inner, max_size=3)),
    ),
    max_leaves=8,
)  # fmt: skip


@given(st.dictionaries(st.sampled_from(PLAN.item_attributes), attributes))
@settings(max_examples=100, deadline=None)
def test_any_attribute_values_give_findings_never_a_crash(changes: dict[str, Any]) -> None:
    row = _row()
    item = wire_item(row, MAPPING) | changes
    record = MAPPING.record_from_row(row)
    found = inspect_record(PLAN, row, record, None if item is None else decode_item(item))
    for f in found.findings:
        assert f.detail is not None and f.key == 42


def test_the_default_quality_settings_load_for_another_table() -> None:
    # Another team's mapping (tests/integration/test_other_mapping.py) with no [checks.quality].
    other = settings_from_dict(
        {
            "mapping": {
                "sql_table": "audit.events",
                "key_column": "event_id",
                "timestamp_column": "created_at",
                "status_column": "state",
                "partition_key": "pk",
                "sort_key": "sk",
                "partition_key_template": "EVT#{tenant}#{created_at:%Y-%m}",
                "sort_key_template": "TS#{created_at:%Y-%m-%dT%H:%M:%S.%f}#{event_id}",
                "pending_index": False,
                "fields": [],
            }
        }
    )
    plan, warnings = quality_plan(other).restricted_to(
        {"event_id", "tenant", "created_at", "state"}
    )
    assert (plan.rules, plan.indexes, plan.fields) == ((), (), ())
    assert len(warnings) == 3 + 2 + 5 and all("audit.events has no column" in w for w in warnings)
