"""The export's data files read as lines of text by DuckDB, and which line could not be read.

`read_csv` with a delimiter no JSON line holds, and no quoting, reads each line as one value as
written, in parallel across files: about half the cost of `read_json_objects`, which scans each
object's structure before an extract parses it again. JSON escapes every control character
inside a string, so the character U+0001 never appears in a line that is JSON. (The delimiter
is the character itself: DuckDB would read the text `\\x01` as a four-character delimiter, which
a JSON string may hold.)

When a line cannot be read DuckDB's message quotes it; the reason given instead names the file
and the line, found again here, never the content.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Sequence
from pathlib import Path

import duckdb

#: The longest data line read: an item is at most 400 KB; as JSON at most ~2.4 MB (a string
#: of control characters, each escaped as six). DuckDB sizes its read buffers from this (16x
#: by default, per file read at once), hence the explicit, smaller buffer.
MAX_LINE_BYTES = 4 << 20
_BUFFER_BYTES = 2 * MAX_LINE_BYTES


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def export_lines(paths: Sequence[Path], *, filename: bool = False) -> str:
    """The data files (gzipped JSON lines) as a DuckDB table function of one `line` column."""
    files = "[" + ", ".join(_literal(str(p)) for p in paths) + "]"
    return (
        f"read_csv({files}, columns = {{'line': 'VARCHAR'}}, header = false, delim = '\x01',"
        f" quote = '', escape = '', auto_detect = false, compression = 'gzip',"
        f" max_line_size = {MAX_LINE_BYTES}, buffer_size = {_BUFFER_BYTES},"
        f" filename = {str(filename).lower()})"
    )


def unreadable_line(con: duckdb.DuckDBPyConnection, paths: Sequence[Path]) -> str | None:
    """`<file> line <n>: <what>` of the first line that is not JSON, None when none is found.

    DuckDB names the file (one pass); the line number is found by reading that file again.
    """
    suspects = list(paths)
    try:
        row = con.execute(
            f"SELECT filename FROM {export_lines(paths, filename=True)}"
            " WHERE line IS NOT NULL AND NOT json_valid(line) LIMIT 1"
        ).fetchone()
    except duckdb.Error:
        row = None  # a file DuckDB cannot read at all (not gzip, not UTF-8): look at each
    if row is not None:
        suspects = [Path(row[0])]
    for path in suspects:
        found = _first_bad_line(path)
        if found is not None:
            return f"{path.name} {found}"
    return None


def _first_bad_line(path: Path) -> str | None:
    number = 0
    try:
        with gzip.open(path, "rb") as stream:
            for number, line in enumerate(stream, start=1):
                if len(line) > MAX_LINE_BYTES:
                    return f"line {number}: longer than {MAX_LINE_BYTES >> 20} MB"
                if line.strip():
                    json.loads(line)
    except (OSError, EOFError, zlib.error):
        return f"damaged after line {number}" if number else "not a gzip file"
    except UnicodeDecodeError:
        return f"line {number}: not UTF-8"
    except json.JSONDecodeError:
        return f"line {number}: not JSON"
    return None
