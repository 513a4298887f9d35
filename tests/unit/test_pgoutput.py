"""The `pgoutput` decoder (protocol 1) on messages built byte by byte as PostgreSQL sends them."""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.stream.pgoutput import PG_EPOCH, DecodeError, Decoder, decode_all

AT = datetime(2026, 11, 24, 10, 0, 0, 123456, tzinfo=UTC)


def _s(text: str) -> bytes:
    return text.encode() + b"\x00"


def begin(at: datetime = AT) -> bytes:
    micros = (at - PG_EPOCH) // timedelta(microseconds=1)
    return b"B" + struct.pack("!qqi", 100, micros, 7)


def commit() -> bytes:
    return b"C" + struct.pack("!bqqq", 0, 100, 101, 0)


def relation(columns: list[str], relation_id: int = 16384) -> bytes:
    out = b"R" + struct.pack("!i", relation_id) + _s("public") + _s("integration_logs")
    out += struct.pack("!bh", ord("d"), len(columns))
    for name in columns:
        out += struct.pack("!b", 1) + _s(name) + struct.pack("!ii", 25, -1)
    return out


def tuple_data(values: list[str | None]) -> bytes:
    out = struct.pack("!h", len(values))
    for value in values:
        if value is None:
            out += b"n"
        else:
            raw = value.encode()
            out += b"t" + struct.pack("!i", len(raw)) + raw
    return out


def insert(values: list[str | None], relation_id: int = 16384) -> bytes:
    return b"I" + struct.pack("!i", relation_id) + b"N" + tuple_data(values)


def update(old: list[str | None], new: list[str | None]) -> bytes:
    return b"U" + struct.pack("!i", 16384) + b"O" + tuple_data(old) + b"N" + tuple_data(new)


def delete(key: list[str | None]) -> bytes:
    return b"D" + struct.pack("!i", 16384) + b"K" + tuple_data(key)


COLUMNS = ["log_id", "write_status", "request_data"]


def test_changes_count_at_their_commit_with_the_commit_time() -> None:
    decoder = Decoder()
    assert decoder.feed("0/1", begin()) == []
    assert decoder.feed("0/2", relation(COLUMNS)) == []
    assert decoder.feed("0/3", insert(["7", "Pending", None])) == []
    decoder.feed("0/4", update(["7", "Pending", None], ["7", "Committed", '{"a": 1}']))
    decoder.feed("0/5", delete(["8", None, None]))
    done = decoder.feed("0/6", commit())
    assert [(c.operation, c.values.get("log_id"), c.lsn) for c in done] == [
        ("insert", "7", "0/3"),
        ("update", "7", "0/4"),
        ("delete", "8", "0/5"),
    ]
    assert done[1].values == {
        "log_id": "7",
        "write_status": "Committed",
        "request_data": '{"a": 1}',
    }
    assert done[0].values["request_data"] is None
    assert {c.committed_at for c in done} == {AT}
    assert done[0].relation.qualified == "public.integration_logs"


@given(st.lists(st.one_of(st.none(), st.text(max_size=30)), min_size=3, max_size=3))
def test_any_text_values_survive(values: list[str | None]) -> None:
    messages = [("0/1", begin()), ("0/2", relation(COLUMNS)), ("0/3", insert(values))]
    changes = decode_all([*messages, ("0/4", commit())], Decoder())
    assert list(changes[0].values.values()) == values


def test_a_cut_message_or_an_unknown_relation_is_an_error() -> None:
    decoder = Decoder()
    decoder.feed("0/1", begin())
    with pytest.raises(DecodeError):
        decoder.feed("0/2", insert(["1", "x", None]))  # no relation message yet
    decoder.feed("0/3", relation(COLUMNS))
    with pytest.raises(DecodeError):
        decoder.feed("0/4", insert(["1", "x", None])[:-2])
