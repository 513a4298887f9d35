"""The partition key's hash computed once per group of rows is each row's own (DuckDB)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.core.templates import KeyTemplate
from monitor.verify.export_keys import partition_groups, quote, render_template_sql

DIRECTIVES = ["%Y", "%m", "%d", "%H", "%M", "%S"]
FORMATS = st.lists(
    st.sampled_from([*DIRECTIVES, "-", "T", ":", "#", " "]), min_size=1, max_size=7
).map("".join)
MOMENTS = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)
RAW = {"service_name": "t_0", "log_timestamp": "t_1"}


def micros(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


@settings(max_examples=60, deadline=None)
@given(
    fmt=FORMATS.filter(lambda f: "%" in f),
    moments=st.lists(MOMENTS, min_size=1, max_size=30),
    services=st.lists(st.sampled_from(["a", "b", "O'K", ""]) | st.none(), min_size=1, max_size=3),
)
def test_a_group_hashes_its_rows_partition_key_as_each_row_would(
    fmt: str, moments: list[datetime], services: list[str | None]
) -> None:
    template = KeyTemplate.parse(
        f"LOG#{{service_name}}#{{log_timestamp:{fmt}}}", timestamp_column="log_timestamp"
    )
    groups = partition_groups(template, "log_id", RAW)
    assert groups is not None
    con = duckdb.connect()
    con.execute("CREATE TABLE sql_raw (key HUGEINT, t_0 VARCHAR, t_1 BIGINT)")
    rows = [(i, services[i % len(services)], micros(m)) for i, m in enumerate(moments)]
    con.executemany("INSERT INTO sql_raw VALUES (?, ?, ?)", rows)
    cut = "".join(f", {sql} AS {quote(name)}" for name, sql in groups.cut)
    per_row = render_template_sql(template, "log_id", RAW)
    con.execute(
        f"CREATE TABLE grouped AS SELECT *, {per_row} AS row_key, hash({per_row}) AS row_hash"
        f"{cut} FROM sql_raw"
    )
    by = ", ".join(quote(c) for c in groups.columns)
    same = " AND ".join(f"r.{quote(c)} IS NOT DISTINCT FROM p.{quote(c)}" for c in groups.columns)
    found = con.execute(
        f"SELECT r.key, p.h, r.row_hash, p.rendered, r.row_key FROM grouped AS r JOIN ("
        f"  SELECT {by}, hash({groups.rendered}) AS h, {groups.rendered} AS rendered"
        f"  FROM (SELECT DISTINCT {by} FROM grouped)) AS p ON {same} ORDER BY r.key"
    ).fetchall()
    assert [key for key, *_ in found] == list(range(len(moments)))  # one group for each row
    for _, group_hash, row_hash, group_key, row_key in found:
        assert (group_key, group_hash) == (row_key, row_hash)


def test_no_grouping_where_it_cannot_pay() -> None:
    def groups(source: str) -> object:
        return partition_groups(
            KeyTemplate.parse(source, timestamp_column="log_timestamp"), "log_id", RAW
        )

    assert groups("LOG#{log_id}") is None  # the record key: one group per row
    assert groups("LOG#{service_name}#{log_id}") is None
    assert groups("T#{log_timestamp:%Y-%m-%dT%H:%M:%S.%f}") is None  # to the microsecond
    found = groups("LOG#{service_name}#{log_timestamp:%Y-%m}")
    assert found is not None and found.columns == ("t_0", "g_t_1")
