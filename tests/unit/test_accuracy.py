"""Record-level field accuracy: verdicts, the tally, and when the interval supports an alert."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.config import Settings, field_specs
from monitor.core.accuracy import AccuracyTally, accuracy_ok, interval_json, judge_pair
from monitor.core.stats import wilson_interval
from monitor.model import FindingKind
from monitor.stores.wire import decode_item
from tests.wire_items import wire_item

SETTINGS = Settings()
MAPPING = SETTINGS.table_mapping()
SPECS = field_specs(SETTINGS.mapping.fields, "mapping.fields")
ATTRIBUTES = tuple(s.attribute for s in SPECS)

ROW: dict[str, Any] = {
    "log_id": 7,
    "application_id": "APP-1",
    "service_name": "FraudScreen",
    "log_type": "Response",
    "log_timestamp": datetime(2026, 1, 1, 10, tzinfo=UTC),
    "request_data": '{"a": 1, "b": [1, 2]}',
    "status_code": "200",
    "is_success": True,
    "write_status": "Committed",
}
RECORD = MAPPING.record_from_row(ROW)


def item_of(row: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """The item the writer puts for `row`, as the DynamoDB adapter hands it to the core."""
    return decode_item(wire_item(row, MAPPING) | changes)


def judge(**changes: Any) -> Any:
    return judge_pair(MAPPING, SPECS, RECORD, item_of(ROW, **changes))


def test_an_equal_record_is_good() -> None:
    verdict = judge()
    assert not verdict.bad and verdict.findings == () and verdict.bad_fields == ()


def test_three_bad_fields_are_one_bad_record() -> None:
    verdict = judge(
        LogType={"S": "Error"},
        StatusCode={"S": "500"},
        RequestData={"S": '{"a": 2, "b": [1, 2]}'},
    )
    assert verdict.bad and not verdict.missing
    assert verdict.bad_fields == ("LogType", "StatusCode", "RequestData")
    assert [f.kind for f in verdict.findings] == [FindingKind.FIELD_MISMATCH] * 3
    assert verdict.findings[2].detail == "differs at $.a"
    assert all(f.dynamodb_status == "Committed" for f in verdict.findings)
    tally = AccuracyTally(ATTRIBUTES)
    tally.add(verdict)
    tally.add(judge())
    assert (tally.sampled, tally.bad, tally.good) == (2, 1, 1)
    assert tally.by_field == {
        "LogType": 1,
        "IsSuccess": 0,
        "StatusCode": 1,
        "LogTimestamp": 0,
        "RequestData": 1,
    }
    assert tally.interval() == wilson_interval(1, 2)


def test_a_missing_item_is_bad_and_named() -> None:
    verdict = judge_pair(MAPPING, SPECS, RECORD, None)
    assert verdict.bad and verdict.missing
    (finding,) = verdict.findings
    assert finding.kind is FindingKind.MISSING_IN_DYNAMODB
    assert (finding.key, finding.sk, finding.sql_status) == (7, RECORD.sk, "Committed")


def test_invalid_json_is_bad_unless_both_stores_hold_the_same_text() -> None:
    broken = judge(RequestData={"S": "{nope"})
    assert broken.bad and broken.bad_fields == ("RequestData",)
    assert broken.findings[0].kind is FindingKind.INVALID_DATA
    record = MAPPING.record_from_row(ROW | {"request_data": "{nope"})
    item = item_of(ROW | {"request_data": "{nope"})
    faithful = judge_pair(MAPPING, SPECS, record, item)
    assert not faithful.bad and faithful.findings[0].kind is FindingKind.INVALID_DATA
    # Equal ignoring case is still different (the seed's lenient fallback is gone).
    record = MAPPING.record_from_row(ROW | {"request_data": "NOPE"})
    item = item_of(ROW | {"request_data": "nope"})
    assert judge_pair(MAPPING, SPECS, record, item).bad


def test_an_unreadable_item_or_another_key_is_bad() -> None:
    no_key = {k: v for k, v in item_of(ROW).items() if k != "LogId"}
    verdict = judge_pair(MAPPING, SPECS, RECORD, no_key)
    assert verdict.bad and verdict.findings[0].field == "LogId"
    assert "cannot be read" in (verdict.findings[0].detail or "")
    other = judge(LogId={"N": "8"})
    assert other.bad and other.findings[0].kind is FindingKind.INVALID_DATA


def test_accuracy_alerts_only_on_what_the_data_supports() -> None:
    # 0 errors in 1000: the point is 100 %; nothing to alert on.
    assert accuracy_ok(wilson_interval(1000, 1000), alert_below=0.999)
    # 1 bad in 300: point 99.67 % is below 99.9 %, but the interval reaches above it.
    assert accuracy_ok(wilson_interval(299, 300), alert_below=0.999)
    # 10 bad in 200: the whole interval is below 99.9 %.
    assert not accuracy_ok(wilson_interval(190, 200), alert_below=0.999)
    assert accuracy_ok(None, alert_below=0.999)
    assert not accuracy_ok(wilson_interval(10, 10), alert_below=None, alert_above=0.5)
    assert interval_json(None) is None
    assert interval_json(wilson_interval(1, 3)) == {
        "point": 0.333333,
        "lower": 0.061492,
        "upper": 0.79234,
    }


@given(
    st.integers(min_value=1, max_value=100_000).flatmap(
        lambda n: st.tuples(st.integers(min_value=0, max_value=n), st.just(n))
    ),
    st.floats(min_value=0.5, max_value=0.99999),
)
@settings(deadline=None)
def test_never_alerts_while_the_point_estimate_is_at_or_above_the_threshold(
    pair: tuple[int, int], threshold: float
) -> None:
    good, total = pair
    interval = wilson_interval(good, total)
    if interval.point >= threshold:
        assert accuracy_ok(interval, alert_below=threshold)
    if not accuracy_ok(interval, alert_below=threshold):
        assert interval.upper < threshold
