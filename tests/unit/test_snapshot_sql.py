"""The snapshot's SQL: key templates rendered by to_char, every value bound, ranges exact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from monitor.config import settings_from_dict
from monitor.stores.pg_snapshot import ExportedField, snapshot_query, split_range, to_char_format


def test_strftime_directives_become_to_char_patterns_and_the_rest_is_quoted() -> None:
    assert to_char_format("%Y-%m-%dT%H:%M:%S.%fZ") == 'YYYY"-"MM"-"DD"T"HH24":"MI":"SS"."US"Z"'
    assert to_char_format('%Y"\\') == 'YYYY"\\""' + '"\\\\"'


def test_every_template_literal_and_bound_is_a_parameter() -> None:
    mapping = settings_from_dict(
        {
            "mapping": {
                "partition_key_template": "LOG'; DROP TABLE x; --#{service_name}#{log_timestamp:%Y-%m-%d}"
            }
        }
    ).table_mapping()
    start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
    sql, params = snapshot_query(
        mapping,
        [ExportedField("request_data", "md5"), ExportedField("log_timestamp", "epoch_us")],
        start,
        end,
        (10, 20),
    )
    assert "DROP" not in sql and "'" not in sql
    assert "LOG'; DROP TABLE x; --#" in params
    assert params[-4:] == [end, start, 10, 20]
    assert 'md5("request_data"::text)' in sql
    assert 'extract(epoch FROM "log_timestamp")' in sql
    assert sql.startswith('SELECT "log_id", "write_status", ')


@given(low=st.integers(-(2**63), 2**63 - 1), span=st.integers(0, 10**6), streams=st.integers(1, 16))
def test_key_ranges_cover_the_keys_exactly_once(low: int, span: int, streams: int) -> None:
    high = low + span
    ranges = split_range(low, high, streams)
    assert ranges[0][0] == low and ranges[-1][1] == high + 1
    assert all(a < b for a, b in ranges)
    assert all(ranges[i][1] == ranges[i + 1][0] for i in range(len(ranges) - 1))
    assert len(ranges) == min(streams, span + 1)


def test_a_day_of_time_window_has_both_bounds() -> None:
    mapping = settings_from_dict({}).table_mapping()
    end = datetime(2026, 1, 2, tzinfo=UTC)
    sql, params = snapshot_query(mapping, [], None, end, None)
    assert '"log_timestamp" < $' in sql and ">=" not in sql
    assert params[-1] == end and end - timedelta(days=1) not in params
