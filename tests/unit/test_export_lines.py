"""The export's lines as DuckDB reads them, and a line it cannot read named by file and line."""

from __future__ import annotations

import gzip
from pathlib import Path

import duckdb
import pytest

from monitor.verify.export_lines import MAX_LINE_BYTES, export_lines, unreadable_line


def write(path: Path, *lines: bytes) -> Path:
    with gzip.open(path, "wb") as out:
        out.writelines(line + b"\n" for line in lines)
    return path


def test_each_line_is_one_value_as_written_whatever_it_holds(tmp_path: Path) -> None:
    lines = [
        rb'{"Item":{"S":{"S":"a,b;\"c\"\\x01\\td"}}}',  # the text \x01 is no delimiter
        rb'{"Item":{"S":{"S":"\u00e9\t"}}}',
        rb'{"Item":{}}',
    ]
    path = write(tmp_path / "a.json.gz", *lines[:2], b"", lines[2])
    con = duckdb.connect()
    rows = con.execute(f"SELECT line FROM {export_lines([path])} WHERE line IS NOT NULL").fetchall()
    assert [r[0].encode() for r in rows] == lines


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ([b'{"Item":{}}', b'{"Item": {"PK"'], "b.json.gz line 2: not JSON"),
        ([b'{"Item":{}}', b'"\xff"'], "b.json.gz line 2: not UTF-8"),
        ([b'{"Item":{"x":{"S":"' + b"y" * MAX_LINE_BYTES + b'"}}}'], "line 1: longer than 4 MB"),
        (None, "b.json.gz not a gzip file"),
    ],
)
def test_a_line_that_cannot_be_read_is_named_never_shown(
    tmp_path: Path, content: list[bytes] | None, says: str
) -> None:
    good = write(tmp_path / "a.json.gz", b'{"Item":{}}')
    bad = tmp_path / "b.json.gz"
    if content is None:
        bad.write_bytes(b"PK secret, not gzip")
    else:
        write(bad, *content)
    con = duckdb.connect()
    with pytest.raises(duckdb.Error):
        con.execute(
            f"SELECT json_extract_string(line, '/Item') FROM {export_lines([good, bad])}"
        ).fetchall()
    found = unreadable_line(con, [good, bad])
    assert found is not None and found.endswith(says.split(" ", 1)[1]) and "b.json.gz" in found
    assert "secret" not in found and "PK" not in found
