"""The snapshot's SQL: key templates rendered by to_char, every value bound, ranges exact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from monitor.config import settings_from_dict
from monitor.stores.pg_snapshot import ExportedField, snapshot_query, split_blocks, to_char_format


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
    assert params[-4:] == [end, start, (10, 0), (20, 0)]
    assert "ctid >= $" in sql and "ctid < $" in sql
    assert 'md5("request_data"::text)' in sql
    assert 'extract(epoch FROM "log_timestamp")' in sql
    assert sql.startswith('SELECT "log_id", "write_status", ')


@given(pages=st.integers(1, 10**7), streams=st.integers(1, 16))
def test_block_ranges_cover_the_table_exactly_once_to_its_end(pages: int, streams: int) -> None:
    ranges = split_blocks(pages, streams)
    assert ranges[0][0] == 0 and ranges[-1][1] is None  # pages added since: still read
    assert all(b is not None and a < b for a, b in ranges[:-1])
    assert all(ranges[i][1] == ranges[i + 1][0] for i in range(len(ranges) - 1))
    assert len(ranges) == min(streams, pages)


def test_the_first_and_last_streams_have_one_bound_and_one_stream_none() -> None:
    mapping = settings_from_dict({}).table_mapping()
    end = datetime(2026, 1, 2, tzinfo=UTC)
    first, _ = snapshot_query(mapping, [], None, end, (0, 100))
    last, params = snapshot_query(mapping, [], None, end, (100, None))
    whole, _ = snapshot_query(mapping, [], None, end, None)
    assert "ctid < $" in first and "ctid >=" not in first
    assert "ctid >= $" in last and "ctid <" not in last and params[-1] == (100, 0)
    assert "ctid" not in whole


def test_a_day_of_time_window_has_both_bounds() -> None:
    mapping = settings_from_dict({}).table_mapping()
    end = datetime(2026, 1, 2, tzinfo=UTC)
    sql, params = snapshot_query(mapping, [], None, end, None)
    assert '"log_timestamp" < $' in sql and ">=" not in sql
    assert params[-1] == end and end - timedelta(days=1) not in params
