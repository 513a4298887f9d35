"""The generic mapping between a SQL table and a DynamoDB table (CONTRACT §1–2).

Key templates such as ``LOG#{service_name}#{log_timestamp:%Y-%m-%d}`` are parsed once and
validated; a SQL row and a DynamoDB item both become a normalised `Record`. A SQL NULL and an
absent attribute are the same thing (`None`); every time is UTC-aware.

Nothing here knows the default `IntegrationLogs` names: another team's table is described by
another `TableMapping`, built from `config.toml` alone.
"""

from __future__ import annotations

import enum
import itertools
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from monitor.model import KeyValue

# strftime directives allowed inside a template, from the most to the least significant.
_TIME_DIRECTIVES = ("%Y", "%m", "%d", "%H", "%M", "%S", "%f")
_DIRECTIVE_PATTERNS = {
    "%Y": r"\d{4}",
    "%m": r"\d{2}",
    "%d": r"\d{2}",
    "%H": r"\d{2}",
    "%M": r"\d{2}",
    "%S": r"\d{2}",
    "%f": r"\d{6}",
}
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}", re.ASCII)
_PLACEHOLDER = re.compile(r"\{([^{}:]*)(?::([^{}]*))?\}")


class TemplateError(ValueError):
    """A key template that cannot be used; the message says why, `template` says which one."""

    def __init__(self, message: str, template: str = "") -> None:
        super().__init__(message)
        self.template = template


class MappingError(ValueError):
    """A row or an item that does not fit the mapping (missing key, wrong type)."""


class KeyKind(enum.StrEnum):
    """What the SQL key column holds; an item's key attribute must be of the same kind."""

    NUMBER = "number"
    TEXT = "text"


def pascal_case(name: str) -> str:
    """`log_id` -> `LogId`: the default attribute name of a column."""
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


def is_sql_identifier(name: str) -> bool:
    """A bare identifier we are willing to quote: letters, digits, underscore, at most 63 bytes."""
    # fullmatch: `$` would also match before a trailing newline ("integration_logs\n").
    return isinstance(name, str) and _IDENTIFIER.fullmatch(name) is not None


@dataclass(frozen=True, slots=True)
class Placeholder:
    column: str
    time_format: str | None = None


@dataclass(frozen=True, slots=True)
class KeyTemplate:
    """A parsed key template: literal text and placeholders, rendered and parsed back."""

    source: str
    parts: tuple[str | Placeholder, ...]
    timestamp_column: str
    _pattern: re.Pattern[str] = field(compare=False, repr=False)

    @classmethod
    def parse(cls, source: str, *, timestamp_column: str) -> KeyTemplate:
        parts: list[str | Placeholder] = []
        regex: list[str] = []
        position = 0
        seen: set[str] = set()
        for match in _PLACEHOLDER.finditer(source):
            literal = source[position : match.start()]
            _check_literal(source, literal)
            if literal:
                parts.append(literal)
                regex.append(re.escape(literal))
            column, fmt = match.group(1), match.group(2)
            if not is_sql_identifier(column):
                raise TemplateError(f"{{{column}}} is not a column name in {source!r}")
            if column in seen:
                raise TemplateError(f"column {column!r} appears twice in {source!r}")
            seen.add(column)
            if fmt is not None:
                if column != timestamp_column:
                    raise TemplateError(
                        f"only the timestamp column {timestamp_column!r} may carry a format,"
                        f" not {column!r}, in {source!r}"
                    )
                regex.append(f"(?P<{column}>{_time_format_pattern(fmt, source)})")
            elif column == timestamp_column:
                raise TemplateError(f"{{{column}}} needs a format such as %Y-%m-%d in {source!r}")
            else:
                regex.append(f"(?P<{column}>.+?)")
            parts.append(Placeholder(column, fmt))
            position = match.end()
        tail = source[position:]
        _check_literal(source, tail)
        if tail:
            parts.append(tail)
            regex.append(re.escape(tail))
        if not any(isinstance(part, Placeholder) for part in parts):
            raise TemplateError(f"{source!r} has no {{column}} placeholder")
        return cls(
            source, tuple(parts), timestamp_column, re.compile("".join(regex), re.DOTALL | re.ASCII)
        )

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(part.column for part in self.parts if isinstance(part, Placeholder))

    @property
    def time_format(self) -> str | None:
        for part in self.parts:
            if isinstance(part, Placeholder) and part.time_format is not None:
                return part.time_format
        return None

    def render(self, values: Mapping[str, Any]) -> str:
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            value = values.get(part.column)
            if value is None:
                raise MappingError(f"{part.column} is null; cannot build key {self.source!r}")
            if part.time_format is not None:
                out.append(format_time(_as_utc(value, part.column), part.time_format))
            else:
                out.append(str(value))
        return "".join(out)

    def match(self, rendered: str) -> dict[str, str] | None:
        """The placeholder values of a rendered key, as text; None when it does not fit."""
        found = self._pattern.fullmatch(rendered)
        return None if found is None else found.groupdict()


def _check_literal(source: str, literal: str) -> None:
    if "{" in literal or "}" in literal:
        raise TemplateError(f"unbalanced brace in {source!r}")


def _time_format_pattern(fmt: str, source: str) -> str:
    """A regex for a strftime format made of the directives we can sort and parse."""
    pattern: list[str] = []
    index = 0
    while index < len(fmt):
        if fmt[index] == "%":
            directive = fmt[index : index + 2]
            if directive not in _DIRECTIVE_PATTERNS:
                raise TemplateError(f"time format {directive!r} is not supported in {source!r}")
            pattern.append(_DIRECTIVE_PATTERNS[directive])
            index += 2
        else:
            pattern.append(re.escape(fmt[index]))
            index += 1
    return "".join(pattern)


def _directives(fmt: str) -> list[str]:
    return re.findall(r"%.", fmt)


def format_time(moment: datetime, fmt: str) -> str:
    return moment.astimezone(UTC).strftime(fmt)


def _as_utc(value: Any, column: str) -> datetime:
    if not isinstance(value, datetime):
        raise MappingError(f"{column} is not a timestamp")
    if value.tzinfo is None:
        raise MappingError(f"{column} has no time zone; refusing to guess local time")
    return value.astimezone(UTC)


# The bucket each directive closes: the partition key changes when this unit changes.
_GRANULARITY = {
    "%Y": "year",
    "%m": "month",
    "%d": "day",
    "%H": "hour",
    "%M": "minute",
    "%S": "second",
    "%f": "microsecond",
}
_RESOLUTION = {
    "%S": timedelta(seconds=1),
    "%f": timedelta(microseconds=1),
    "%M": timedelta(minutes=1),
    "%H": timedelta(hours=1),
    "%d": timedelta(days=1),
}


def _is_sortable(fmt: str) -> bool:
    """True when the directives go from most to least significant with no gap (lexical = time)."""
    found = _directives(fmt)
    return bool(found) and found == list(_TIME_DIRECTIVES[: len(found)])


def truncate(moment: datetime, granularity: str) -> datetime:
    moment = moment.astimezone(UTC)
    if granularity == "year":
        return moment.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    if granularity == "month":
        return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if granularity == "day":
        return moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if granularity == "hour":
        return moment.replace(minute=0, second=0, microsecond=0)
    if granularity == "minute":
        return moment.replace(second=0, microsecond=0)
    if granularity == "second":
        return moment.replace(microsecond=0)
    return moment


def next_bucket(start: datetime, granularity: str) -> datetime:
    if granularity == "year":
        return start.replace(year=start.year + 1)
    if granularity == "month":
        return (
            start.replace(year=start.year + 1, month=1)
            if start.month == 12
            else start.replace(month=start.month + 1)
        )
    step = {
        "day": timedelta(days=1),
        "hour": timedelta(hours=1),
        "minute": timedelta(minutes=1),
        "second": timedelta(seconds=1),
        "microsecond": timedelta(microseconds=1),
    }[granularity]
    return start + step


@dataclass(frozen=True, slots=True)
class FieldMap:
    """One compared field: the SQL column, its DynamoDB attribute and how they are compared."""

    column: str
    attribute: str
    compare: str = "exact"


@dataclass(frozen=True, slots=True)
class Record:
    """A record as either store holds it, normalised: None is NULL/absent, times are UTC."""

    key: KeyValue
    status: str | None
    pk: str | None
    sk: str | None
    timestamp: datetime | None
    values: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StatusValues:
    pending: str = "Pending"
    committed: str = "Committed"
    failed: str = "Failed"
    compensated: str = "Compensated"

    @property
    def final(self) -> frozenset[str]:
        return frozenset({self.committed, self.failed, self.compensated})

    @property
    def abandoned(self) -> frozenset[str]:
        """Final statuses of a transaction that did not happen. Such a record absent from the
        other store agrees with it (CONTRACT §7): no check reports or counts it."""
        return frozenset({self.failed, self.compensated})


@dataclass(frozen=True, slots=True)
class IndexMap:
    """A sparse GSI holding exactly the pending items (CONTRACT §1)."""

    name: str
    partition_key: str
    sort_key: str
    partition_template: KeyTemplate


@dataclass(frozen=True, slots=True)
class Slice:
    """One unit of reconciliation work: a partition value and a time range inside one bucket."""

    partition: tuple[str, ...]
    pk: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class TableMapping:
    """Everything the checks need to know about how a SQL row and a DynamoDB item correspond."""

    sql_table: str
    key_column: str
    timestamp_column: str
    status_column: str
    partition_key: str
    sort_key: str
    partition_template: KeyTemplate
    sort_template: KeyTemplate
    key_attribute: str
    status_attribute: str
    status_values: StatusValues = StatusValues()
    pending_index: IndexMap | None = None
    fields: tuple[FieldMap, ...] = ()
    #: The SQL key column's kind, read from the catalog when the stores open; None while unknown
    #: (then an item key of either DynamoDB type is accepted as it is).
    key_kind: KeyKind | None = None
    #: (column, every value) for each partition column, when configured; () when discovered.
    partition_values: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def __post_init__(self) -> None:
        if self.partition_values:
            given = tuple(column for column, _ in self.partition_values)
            if sorted(given) != sorted(self.partition_columns):
                raise TemplateError(
                    f"partition_values must list every partition column"
                    f" ({', '.join(self.partition_columns)}) and no other, not {', '.join(given)}",
                    "partition_values",
                )
        sk_format = self.sort_template.time_format
        first = self.sort_template.parts[0]
        lead = self.sort_template.parts[1] if isinstance(first, str) else first
        if (
            not isinstance(lead, Placeholder)
            or lead.column != self.timestamp_column
            or sk_format is None
        ):
            raise TemplateError(
                f"sort key template {self.sort_template.source!r} must begin with"
                f" {{{self.timestamp_column}:...}} (after an optional literal prefix), so a time"
                " range is one SK BETWEEN",
                "sort_key_template",
            )
        if not _is_sortable(sk_format):
            raise TemplateError(
                f"the sort key's time format {sk_format!r} must run from %Y down without gaps"
                " (e.g. %Y-%m-%dT%H:%M:%S.%fZ) so that text order is time order",
                "sort_key_template",
            )
        pk_format = self.partition_template.time_format
        if pk_format is not None and not _is_sortable(pk_format):
            raise TemplateError(
                f"the partition key's time format {pk_format!r} must run from %Y down without"
                " gaps (e.g. %Y-%m-%d)",
                "partition_key_template",
            )

    # --- derived facts -------------------------------------------------------------------

    @property
    def partition_columns(self) -> tuple[str, ...]:
        """The non-time columns the partition key is built from (enumerated per window)."""
        return tuple(c for c in self.partition_template.columns if c != self.timestamp_column)

    @property
    def known_partitions(self) -> frozenset[tuple[str, ...]] | None:
        """Every partition value, when configured (no discovery needed); None otherwise."""
        if not self.partition_values:
            return None
        lists = dict(self.partition_values)
        return frozenset(itertools.product(*(lists[c] for c in self.partition_columns)))

    @property
    def bucket_granularity(self) -> str | None:
        """How often the partition key changes with time (`day` for the default), or None."""
        fmt = self.partition_template.time_format
        return None if fmt is None else _GRANULARITY[_directives(fmt)[-1]]

    @property
    def sort_resolution(self) -> timedelta:
        """The finest time step the sort key can express; slice edges are aligned to it."""
        fmt = self.sort_template.time_format
        assert fmt is not None  # checked in __post_init__
        return _RESOLUTION.get(_directives(fmt)[-1], timedelta(days=1))

    @property
    def row_columns(self) -> tuple[str, ...]:
        """Columns a narrow read needs to build the key, status, PK and SK of a row."""
        wanted = [self.key_column, self.status_column, self.timestamp_column]
        wanted += self.partition_template.columns + self.sort_template.columns
        return tuple(dict.fromkeys(wanted))

    # --- windows and slices --------------------------------------------------------------

    def buckets(self, start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
        """The window cut at partition-key time boundaries (one piece when the PK has no time)."""
        granularity = self.bucket_granularity
        if granularity is None:
            if start < end:
                yield start, end
            return
        bucket = truncate(start, granularity)
        while bucket < end:
            following = next_bucket(bucket, granularity)
            yield max(bucket, start), min(following, end)
            bucket = following

    def partition_key_for(self, partition: Sequence[str], moment: datetime) -> str:
        values: dict[str, Any] = dict(zip(self.partition_columns, partition, strict=True))
        values[self.timestamp_column] = moment
        return self.partition_template.render(values)

    def partition_from_pk(self, pk: str) -> tuple[str, ...] | None:
        """The partition column values of a partition key found by a discovery Scan."""
        found = self.partition_template.match(pk)
        if found is None:
            return None
        return tuple(found[c] for c in self.partition_columns)

    def sort_key_bounds(self, start: datetime, end: datetime) -> tuple[str, str]:
        """`SK BETWEEN lo AND hi` selects exactly the half-open range [start, end).

        `lo` is the rendered time prefix of `start`; `hi` that of `end`, which sorts before any
        sort key of a record *at* `end` because such a key continues past the prefix.
        """
        return self._sort_prefix(start), self._sort_prefix(end)

    def _sort_prefix(self, moment: datetime) -> str:
        out: list[str] = []
        for part in self.sort_template.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            assert part.time_format is not None
            out.append(format_time(moment, part.time_format))
            break
        return "".join(out)

    # --- normalisation -------------------------------------------------------------------

    def record_from_row(self, row: Mapping[str, Any]) -> Record:
        key = row.get(self.key_column)
        if not isinstance(key, int | str) or isinstance(key, bool):
            raise MappingError(f"{self.key_column} is null or not an integer/text key")
        timestamp = row.get(self.timestamp_column)
        return Record(
            key=key,
            status=_optional_str(row.get(self.status_column)),
            pk=self._try_render(self.partition_template, row),
            sk=self._try_render(self.sort_template, row),
            timestamp=None if timestamp is None else _as_utc(timestamp, self.timestamp_column),
            values={f.column: row.get(f.column) for f in self.fields},
        )

    def key_from_item(self, item: Mapping[str, Any]) -> KeyValue:
        """The record key of a DynamoDB item (low-level wire format), exact for numbers."""
        raw = item.get(self.key_attribute)
        if not isinstance(raw, Mapping):
            raise MappingError(f"item has no {self.key_attribute} attribute")
        if "N" in raw:
            if self.key_kind is KeyKind.TEXT:
                raise MappingError(f"{self.key_attribute} is N (a number); the key column is text")
            return parse_number_key(str(raw["N"]), self.key_attribute)
        if "S" in raw:
            if self.key_kind is KeyKind.NUMBER:
                raise MappingError(f"{self.key_attribute} is S (text); the key column is a number")
            return str(raw["S"])
        raise MappingError(f"{self.key_attribute} is neither N nor S")

    def key_from_sort_key(self, sk: str) -> KeyValue | None:
        """The record key a sort key embeds (when its template has the key column), else None."""
        if self.key_column not in self.sort_template.columns:
            return None
        parsed = self.sort_template.match(sk)
        if parsed is None:
            return None
        text = parsed[self.key_column]
        if self.key_kind is KeyKind.TEXT:
            return text
        try:
            return parse_number_key(text, self.sort_key)
        except MappingError:
            return None if self.key_kind is KeyKind.NUMBER else text

    def status_from_item(self, item: Mapping[str, Any]) -> str | None:
        raw = item.get(self.status_attribute)
        if raw is None:
            return None
        if not isinstance(raw, Mapping) or "S" not in raw:
            raise MappingError(f"{self.status_attribute} is not a string attribute")
        return str(raw["S"])

    def record_from_item(self, item: Mapping[str, Any]) -> Record:
        sk = _plain(item.get(self.sort_key))
        timestamp: datetime | None = None
        if isinstance(sk, str):
            parsed = self.sort_template.match(sk)
            if parsed is not None:
                fmt = self.sort_template.time_format
                assert fmt is not None
                timestamp = datetime.strptime(parsed[self.timestamp_column], fmt).replace(
                    tzinfo=UTC
                )
        pk = _plain(item.get(self.partition_key))
        return Record(
            key=self.key_from_item(item),
            status=self.status_from_item(item),
            pk=pk if isinstance(pk, str) else None,
            sk=sk if isinstance(sk, str) else None,
            timestamp=timestamp,
            values={f.column: _plain(item.get(f.attribute)) for f in self.fields},
        )

    def embedded_key_mismatch(self, item: Mapping[str, Any]) -> str | None:
        """When the sort key embeds the record key and disagrees with `key_attribute`: why."""
        if self.key_column not in self.sort_template.columns:
            return None
        sk = _plain(item.get(self.sort_key))
        if not isinstance(sk, str):
            return f"{self.sort_key} is missing or not a string"
        parsed = self.sort_template.match(sk)
        if parsed is None:
            return f"{self.sort_key} does not match {self.sort_template.source!r}"
        if parsed[self.key_column] != str(self.key_from_item(item)):
            return f"{self.sort_key} embeds a different key than {self.key_attribute}"
        return None

    def sort_key_of(self, row: Mapping[str, Any]) -> str | None:
        """The sort key a SQL row should have in DynamoDB; None when a needed column is NULL."""
        return self._try_render(self.sort_template, row)

    @staticmethod
    def _try_render(template: KeyTemplate, row: Mapping[str, Any]) -> str | None:
        try:
            return template.render(row)
        except MappingError:
            return None


def parse_number_key(text: str, attribute: str) -> int:
    """An N attribute used as a key must be an exact integer (bigints survive as `int`)."""
    if text.isascii() and text.isdigit():  # the common case, without a Decimal
        return int(text)
    try:
        number = Decimal(text)
    except ArithmeticError as exc:
        raise MappingError(f"{attribute} is not a number") from exc
    if number != number.to_integral_value():
        raise MappingError(f"{attribute} is not an integer key")
    return int(number)


def item_key_label(attribute: Any) -> KeyValue:
    """How a finding names an item whose key cannot be read: never the content of a bad value.

    A number or a text key is the key as stored (cut to 64 characters); any other
    DynamoDB type is described by its type alone, because a map or a list can carry data.
    """
    if not isinstance(attribute, Mapping) or len(attribute) != 1:
        return "<no key>"
    ((tag, value),) = attribute.items()
    if tag == "N":
        try:
            return parse_number_key(str(value), "key")
        except MappingError:
            return str(value)[:64]
    if tag == "S" and isinstance(value, str):
        return value[:64]
    return f"<{tag} key>" if tag in _WIRE_TYPES else "<malformed key>"


_WIRE_TYPES = frozenset({"S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"})


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _plain(attribute: Any) -> Any:
    """A DynamoDB wire-format attribute as a Python value (N stays exact: int or Decimal)."""
    if attribute is None:
        return None
    if not isinstance(attribute, Mapping) or len(attribute) != 1:
        raise MappingError("malformed attribute value")
    ((tag, value),) = attribute.items()
    if tag == "S":
        return value
    if tag == "N":
        number = Decimal(value)
        return int(number) if number == number.to_integral_value() else number
    if tag == "BOOL":
        return bool(value)
    if tag == "NULL":
        return None
    if tag == "M":
        return {k: _plain(v) for k, v in value.items()}
    if tag == "L":
        return [_plain(v) for v in value]
    if tag in ("SS", "NS", "BS"):
        return frozenset(value)
    if tag == "B":
        return bytes(value)
    raise MappingError(f"unknown attribute type {tag}")
