"""Hostile configuration values: each is one line naming its key (exit 2), never a crash."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.config import settings_from_dict
from monitor.core.dsn import DsnError, dsn_hosts, dsn_is_local
from monitor.core.mapping import is_sql_identifier
from monitor.core.sqlnames import MAX_IDENTIFIER_BYTES, index_name, quote_literal
from monitor.errors import ConfigError


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"mapping": {"sql_table": "integration_logs\n"}}, "mapping.sql_table"),
        ({"mapping": {"key_column": "log_id\n"}}, "mapping.key_column"),
        ({"postgres": {"state_schema": "dm2\n"}}, "postgres.state_schema"),
        (
            {"mapping": {"partition_key_template": "LOG#{service_name\n}"}},
            "mapping.partition_key_template",
        ),
        ({"mapping": {"status_values": {"pending": ""}}}, "mapping.status_values.pending"),
        ({"mapping": {"status_values": {"pending": "a\x00b"}}}, "mapping.status_values.pending"),
        ({"checks": {"max_window": "1h", "sampling": {"window": "2h"}}}, "checks"),
    ],
)
def test_each_problem_names_its_key(data: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings_from_dict(data)
    assert caught.value.key == key


def test_identifiers_are_full_matches() -> None:
    assert is_sql_identifier("integration_logs")
    assert not is_sql_identifier("integration_logs\n")
    assert not is_sql_identifier("x" * 64)
    assert not is_sql_identifier("é")


@given(st.text(alphabet=string.ascii_letters + string.digits + "_", min_size=1, max_size=63))
def test_index_names_fit_and_are_deterministic(base: str) -> None:
    table = "t" + base[:62]
    names = {index_name(table, p) for p in ("slice", "window", "pending")}
    assert len(names) == 3
    assert all(len(n.encode()) <= MAX_IDENTIFIER_BYTES and is_sql_identifier(n) for n in names)
    assert index_name(table, "slice") == index_name(table, "slice")


def test_long_names_that_share_a_prefix_stay_distinct() -> None:
    a, b = "x" * 60 + "a", "x" * 60 + "b"
    assert index_name(a, "slice") != index_name(b, "slice")
    assert index_name("s." + a, "slice") == index_name(a, "slice")  # lives in the table's schema


@given(st.text(min_size=0, max_size=40).filter(lambda v: "\x00" not in v))
def test_a_literal_never_leaves_its_quotes(value: str) -> None:
    quoted = quote_literal(value)
    assert quoted.startswith("E'") and quoted.endswith("'")
    inner = quoted[2:-1]
    # Inside an escape string, every quote is doubled and every backslash escaped.
    assert inner.replace("''", "").replace("\\\\", "").count("'") == 0
    assert "\\" not in inner.replace("\\\\", "")


# Userinfo characters that need no percent-encoding (RFC 3986), and "%" itself.
# The marker keeps a password from being a word of the error message itself ("number").
PASSWORD = st.text(
    alphabet=string.ascii_letters + string.digits + "!$&()*+,;=~-._:%", min_size=6, max_size=20
).map(lambda text: "Pw7q" + text)


@given(PASSWORD, st.sampled_from(["notaport", "99999", "-1", "5432x", "٣"]))
def test_a_bad_port_never_echoes_the_password(password: str, port: str) -> None:
    dsn = f"postgresql://monitor:{password}@db.example:{port}/loans"
    with pytest.raises(DsnError) as caught:
        dsn_hosts(dsn)
    assert password not in str(caught.value)
    with pytest.raises(ConfigError) as config_error:
        settings_from_dict({"postgres": {"dsn": dsn}})
    assert config_error.value.key == "postgres.dsn"
    assert password not in str(config_error.value)


@pytest.mark.parametrize(
    ("dsn", "hosts"),
    [
        ("postgresql://localhost:5432/loans", ["localhost:5432"]),
        ("postgres://u:p@db/loans", ["db:5432"]),
        ("postgresql://u@h1:5433,h2/loans", ["h1:5433", "h2:5432"]),
        ("postgresql://[::1]:6000/x", ["::1:6000"]),
        ("postgresql:///loans?host=/run/postgresql&port=5433", ["/run/postgresql:5433"]),
        ("postgresql:///loans", ["local socket:5432"]),
    ],
)
def test_valid_dsns_name_their_servers(dsn: str, hosts: list[str]) -> None:
    assert dsn_hosts(dsn) == hosts


@pytest.mark.parametrize(
    ("dsn", "local"),
    [
        ("postgresql://localhost:5432/loans", True),
        ("postgresql://u:p@127.0.0.1:6000/loans", True),
        ("postgresql://[::1]:6000/x", True),
        ("postgresql:///loans", True),
        ("postgresql:///loans?host=/run/postgresql&port=5433", True),
        ("postgresql://u@db.example/loans", False),
        ("postgresql://u@10.0.0.7/loans", False),
        ("postgresql://u@localhost,db.example/loans", False),
        ("postgresql:///loans?host=db.example", False),
    ],
)
def test_a_dsn_is_local_when_every_server_it_names_is_on_this_machine(
    dsn: str, local: bool
) -> None:
    assert dsn_is_local(dsn) is local
