"""Key templates rendered in DuckDB from a snapshot's raw columns read as the Python renderer
(the online checks') and `to_char` in PostgreSQL render them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.core.templates import KeyTemplate
from monitor.verify.export_keys import render_template_sql

FORMATS = st.lists(
    st.sampled_from(["%Y", "%m", "%d", "%H", "%M", "%S", "%f", "-", "T", ":", ".", "Z", "#", " "]),
    min_size=1,
    max_size=9,
).map("".join)
MOMENTS = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)


@settings(max_examples=60, deadline=None)
@given(
    fmt=FORMATS.filter(lambda f: "%" in f),
    moment=MOMENTS,
    key=st.integers(min_value=-(10**18), max_value=10**18),
    service=st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12),
)
def test_duckdb_renders_a_template_as_python_does(
    fmt: str, moment: datetime, key: int, service: str
) -> None:
    template = KeyTemplate.parse(
        f"O'K#{{service_name}}#{{log_timestamp:{fmt}}}#{{log_id}}", timestamp_column="log_timestamp"
    )
    raw = {"service_name": "t_0", "log_timestamp": "t_1"}
    micros = (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    con = duckdb.connect()
    sql = render_template_sql(template, "log_id", raw)
    (rendered,) = con.execute(
        f"SELECT {sql} FROM (SELECT ?::HUGEINT AS key, ?::VARCHAR AS t_0, ?::BIGINT AS t_1)",
        [key, service, micros],
    ).fetchone() or (None,)
    values = {"service_name": service, "log_timestamp": moment, "log_id": key}
    assert rendered == template.render(values)
    (missing,) = con.execute(
        f"SELECT {sql} FROM (SELECT 1::HUGEINT AS key, NULL::VARCHAR AS t_0, 0::BIGINT AS t_1)"
    ).fetchone() or ("",)
    assert missing is None  # a NULL column renders no key, as in PostgreSQL
