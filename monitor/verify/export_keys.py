"""A snapshot's partition and sort keys rendered in DuckDB from its raw columns, and the
partition key's hash computed once per distinct partition instead of once per row.

The snapshot carries the template columns raw (the timestamp in epoch microseconds), so DuckDB
renders the keys as PostgreSQL's `to_char` and the online checks' renderer do. The join needs
only the partition key's 64-bit hash; `strftime` for every row was most of the snapshot's cost,
and a partition key usually takes few values (a service and a day): when its template has no
record key and no time finer than a second, the rows are grouped by the template's columns with
each time cut down to the finest unit its format shows (a `%Y-%m-%d` time to its day), and the
key is rendered and hashed once per group. Cutting a time down never changes the fields its
format shows, so a group's key is each of its rows' key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from monitor.core.templates import KeyTemplate

#: strftime directive -> the unit a time is cut down to, and its microseconds (None: a
#: calendar unit, cut by `date_trunc`); finest first.
_UNITS: tuple[tuple[str, str, int | None], ...] = (
    ("%S", "second", 1_000_000),
    ("%M", "minute", 60_000_000),
    ("%H", "hour", 3_600_000_000),
    ("%d", "day", 86_400_000_000),
    ("%m", "month", None),
    ("%Y", "year", None),
)
_DIRECTIVE = re.compile(r"%.")


def quote(name: str) -> str:
    """A DuckDB identifier (any text: attribute names are not SQL identifiers)."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """A DuckDB string literal (no backslash escapes in DuckDB's standard strings)."""
    if "\x00" in text:
        raise ValueError("a NUL character cannot appear in a DuckDB string")
    return "'" + text.replace("'", "''") + "'"


def render_template_sql(template: KeyTemplate, key_column: str, raw: Mapping[str, str]) -> str:
    """A key template rendered in DuckDB from a snapshot's raw columns; NULL if one is NULL.

    `raw` maps each template column (but the record key, `key`) to its DuckDB column."""
    pieces: list[str] = []
    for part in template.parts:
        if isinstance(part, str):
            pieces.append(literal(part))
        elif part.column == key_column:
            pieces.append("key::VARCHAR")
        elif part.time_format is not None:
            pieces.append(
                f"strftime(make_timestamp({quote(raw[part.column])}), {literal(part.time_format)})"
            )
        else:
            pieces.append(quote(raw[part.column]))
    return "(" + " || ".join(pieces) + ")"


@dataclass(frozen=True, slots=True)
class PartitionGroups:
    """How rows are grouped so that one partition key is rendered per group."""

    #: (group column, its SQL over the raw columns) for each time cut down; a text column is
    #: its own group column.
    cut: tuple[tuple[str, str], ...]
    #: The group columns, in the template's order.
    columns: tuple[str, ...]
    #: The partition key rendered from the group columns.
    rendered: str


def partition_groups(
    template: KeyTemplate, key_column: str, raw: Mapping[str, str]
) -> PartitionGroups | None:
    """The grouping of a partition key template, or None when grouping cannot pay: the template
    holds the record key, or a time to the microsecond (`%f`)."""
    cut: list[tuple[str, str]] = []
    columns: list[str] = []
    names: dict[str, str] = {}
    for part in template.parts:
        if isinstance(part, str):
            continue
        if part.column == key_column:
            return None
        column = raw[part.column]
        if part.time_format is None:
            names[part.column] = column
            columns.append(column)
            continue
        shown = set(_DIRECTIVE.findall(part.time_format))
        finest = next((u for u in _UNITS if u[0] in shown), None)
        if finest is None or shown - {u[0] for u in _UNITS}:
            return None  # %f, or a directive this grouping does not know
        group = f"g_{column}"
        cut.append((group, _cut(quote(column), finest[1], finest[2])))
        names[part.column] = group
        columns.append(group)
    if not columns:
        return None
    return PartitionGroups(
        tuple(cut), tuple(columns), render_template_sql(template, key_column, names)
    )


def _cut(micros: str, unit: str, size: int | None) -> str:
    """Epoch microseconds cut down to the start of their unit (floored: before 1970 too)."""
    if size is not None:
        return f"({micros} - ((({micros} % {size}) + {size}) % {size}))"
    return f"epoch_us(date_trunc('{unit}', make_timestamp({micros})))"
