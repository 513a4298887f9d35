"""Key templates and row/item normalisation, for the default and for another team's mapping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.config import settings_from_dict
from monitor.core.item import Attribute
from monitor.core.mapping import KeyTemplate, MappingError, TemplateError
from monitor.core.windows import align_down, settled_window
from monitor.stores.wire import decode_item

DEFAULT = settings_from_dict({}).table_mapping()
#: Another team's table: other names, a composite partition, monthly buckets, text keys.
OTHER = settings_from_dict(
    {
        "mapping": {
            "sql_table": "audit.events",
            "key_column": "event_id",
            "timestamp_column": "created_at",
            "status_column": "state",
            "partition_key": "pk",
            "sort_key": "sk",
            "partition_key_template": "EVT#{tenant}#{region}#{created_at:%Y-%m}",
            "sort_key_template": "TS#{created_at:%Y-%m-%dT%H:%M:%S.%f}#{event_id}",
            "status_values": {"pending": "P", "committed": "C", "failed": "F", "compensated": "X"},
            "pending_index": False,
            "fields": [],
        }
    }
).table_mapping()

moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)
)


def test_default_keys_render_as_the_contract_says() -> None:
    row = {
        "log_id": 42,
        "service_name": "Svc",
        "log_timestamp": datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
    }
    assert DEFAULT.partition_template.render(row) == "LOG#Svc#2026-01-02"
    assert DEFAULT.sort_template.render(row) == "2026-01-02T03:04:05.000006Z#42"
    assert DEFAULT.key_attribute == "LogId" and DEFAULT.status_attribute == "WriteStatus"


def test_times_are_rendered_in_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    row = {
        "log_id": 1,
        "service_name": "S",
        "log_timestamp": datetime(2026, 1, 2, 1, 0, tzinfo=plus_two),
    }
    assert DEFAULT.partition_template.render(row) == "LOG#S#2026-01-01"
    with pytest.raises(MappingError, match="no time zone"):
        DEFAULT.sort_template.render({"log_id": 1, "log_timestamp": datetime(2026, 1, 1)})


def test_other_mapping_composite_partition_and_months() -> None:
    assert OTHER.partition_columns == ("tenant", "region")
    assert OTHER.bucket_granularity == "month"
    moment = datetime(2026, 3, 31, 23, 0, tzinfo=UTC)
    assert OTHER.partition_key_for(("acme", "eu"), moment) == "EVT#acme#eu#2026-03"
    assert OTHER.partition_from_pk("EVT#acme#eu#2026-03") == ("acme", "eu")
    assert OTHER.partition_from_pk("LOG#x#2026-03-01") is None
    pieces = list(
        OTHER.buckets(datetime(2026, 3, 30, tzinfo=UTC), datetime(2026, 4, 2, tzinfo=UTC))
    )
    assert [p[0].month for p in pieces] == [3, 4]
    assert OTHER.sort_key_bounds(moment, moment + timedelta(seconds=1)) == (
        "TS#2026-03-31T23:00:00.000000",
        "TS#2026-03-31T23:00:01.000000",
    )


def test_items_become_records_with_exact_keys() -> None:
    item = decode_item(
        {
            "PK": {"S": "LOG#S#2026-01-01"},
            "SK": {"S": f"2026-01-01T00:00:00.000000Z#{2**53 + 1}"},
            "LogId": {"N": str(2**53 + 1)},
            "WriteStatus": {"S": "Committed"},
            "IsSuccess": {"BOOL": False},
            "StatusCode": {"NULL": True},
        }
    )
    record = DEFAULT.record_from_item(item)
    assert record.key == 2**53 + 1 and isinstance(record.key, int)
    assert record.timestamp == datetime(2026, 1, 1, tzinfo=UTC)
    assert record.values["is_success"] is False
    assert record.values["status_code"] is None and record.values["request_data"] is None
    assert DEFAULT.embedded_key_mismatch(item) is None
    assert DEFAULT.embedded_key_mismatch({**item, "LogId": Attribute.number(7)}) is not None
    with pytest.raises(MappingError):
        DEFAULT.key_from_item(decode_item({"LogId": {"N": "1.5"}}))
    with pytest.raises(MappingError):
        DEFAULT.key_from_item({})


def test_rows_become_records_with_null_as_none() -> None:
    row = {
        "log_id": 5,
        "write_status": "Pending",
        "service_name": "S",
        "log_timestamp": datetime(2026, 1, 1, tzinfo=UTC),
        "status_code": None,
        "log_type": "Request",
    }
    record = DEFAULT.record_from_row(row)
    assert (record.key, record.status, record.pk) == (5, "Pending", "LOG#S#2026-01-01")
    assert record.values["status_code"] is None


@given(moments, moments)
def test_sort_key_bounds_select_exactly_the_half_open_range(a: datetime, b: datetime) -> None:
    start, end = min(a, b), max(a, b)
    lo, hi = DEFAULT.sort_key_bounds(start, end)
    for moment in (start, end, start + (end - start) / 2):
        sk = DEFAULT.sort_template.render({"log_id": 12345, "log_timestamp": moment})
        assert (lo <= sk <= hi) == (start <= moment < end)


@given(moments, st.integers(0, 10**6), st.text(alphabet="abcXYZ_-.", min_size=1, max_size=12))
def test_templates_parse_back_what_they_render(moment: datetime, key: int, service: str) -> None:
    row = {"log_id": key, "service_name": service, "log_timestamp": moment}
    pk = DEFAULT.partition_template.render(row)
    assert DEFAULT.partition_from_pk(pk) == (service,)
    assert DEFAULT.sort_template.match(DEFAULT.sort_template.render(row)) is not None


@pytest.mark.parametrize(
    "template",
    [
        "LOG#{service_name",
        "LOG#{}",
        "{a}#{a}",
        "{log_timestamp}",
        "{log_timestamp:%Q}",
        "plain",
        "{x y}",
    ],
)
def test_bad_templates_are_rejected(template: str) -> None:
    with pytest.raises(TemplateError):
        KeyTemplate.parse(template, timestamp_column="log_timestamp")


def test_settled_window_clamps_and_rejects_inverted_ranges() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    window = settled_window(now, timedelta(minutes=10), timedelta(minutes=2))
    assert (window.start, window.end, window.clamped) == (
        now - timedelta(minutes=12),
        now - timedelta(minutes=2),
        False,
    )
    clamped = settled_window(now, timedelta(minutes=10), timedelta(minutes=2), until=now)
    assert clamped.clamped and clamped.end == now - timedelta(minutes=2)
    with pytest.raises(ValueError, match="after it ends"):
        settled_window(now, timedelta(minutes=10), timedelta(minutes=2), since=now)


def test_align_down() -> None:
    moment = datetime(2026, 1, 1, 0, 0, 1, 500_000, tzinfo=UTC)
    assert align_down(moment, timedelta(seconds=1)) == datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC)
    assert align_down(moment, timedelta(microseconds=1)) == moment


def test_an_item_key_of_the_other_type_than_the_key_column_is_refused() -> None:
    from dataclasses import replace

    from monitor.core.mapping import KeyKind
    from monitor.stores.postgres import key_kind_of

    assert key_kind_of("bigint") is KeyKind.NUMBER
    assert key_kind_of("character varying") is KeyKind.TEXT
    assert key_kind_of("uuid") is None
    mapping = settings_from_dict({}).table_mapping()
    assert (
        mapping.key_from_item(decode_item({"LogId": {"S": "5"}})) == "5"
    )  # kind unknown: taken as it is
    numeric = replace(mapping, key_kind=KeyKind.NUMBER)
    assert numeric.key_from_item(decode_item({"LogId": {"N": "5"}})) == 5
    with pytest.raises(MappingError, match="S \\(text\\)"):
        numeric.key_from_item(decode_item({"LogId": {"S": "5"}}))
    with pytest.raises(MappingError, match="N \\(a number\\)"):
        replace(mapping, key_kind=KeyKind.TEXT).key_from_item(decode_item({"LogId": {"N": "5"}}))
    assert numeric.key_from_sort_key("2026-01-01T10:00:00.000000Z#42") == 42
    assert numeric.key_from_sort_key("not a sort key") is None


def test_an_unreadable_item_key_is_named_by_type_never_by_content() -> None:
    from monitor.core.item import item_key_label as label_of
    from monitor.stores.wire import decode_attribute

    def item_key_label(wire: object) -> object:
        return label_of(None if wire is None else decode_attribute(wire))

    assert item_key_label({"N": "7"}) == 7
    assert item_key_label({"S": "x" * 100}) == "x" * 64
    secret = {"M": {"x": {"S": "card 4111-1111"}}}
    assert item_key_label(secret) == "<M key>"
    assert item_key_label({"L": [{"S": "payload"}]}) == "<L key>"
    assert item_key_label(None) == "<no key>"
    assert item_key_label({"N": "1.5"}) == "1.5"


def test_only_integer_key_columns_are_held_in_64_bits() -> None:
    from monitor.stores.postgres import key_fits_int64

    assert all(key_fits_int64(t) for t in ("smallint", "integer", "bigint"))
    assert not any(key_fits_int64(t) for t in ("numeric", "numeric(38,0)", "text", None))
