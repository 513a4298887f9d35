"""The generic mapping between a SQL table and a DynamoDB table (CONTRACT §1–2).

Key templates (`monitor.core.templates`) such as ``LOG#{service_name}#{log_timestamp:%Y-%m-%d}``
are parsed once and validated; a SQL row and a DynamoDB item both become a normalised `Record`. A SQL NULL and an
absent attribute are the same thing (`None`); every time is UTC-aware.

Nothing here knows the default `IntegrationLogs` names: another team's table is described by
another `TableMapping`, built from `config.toml` alone.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from monitor.core.item import (
    Attribute,
    AttributeType,
    Item,
    MalformedAttribute,
    exact_number,
    text_of,
)
from monitor.core.templates import (
    KeyTemplate,
    MappingError,
    Placeholder,
    TemplateError,
    as_utc,
    is_sql_identifier,
    pascal_case,
)
from monitor.core.timefmt import (
    format_time,
    is_sortable,
    last_granularity,
    next_bucket,
    resolution,
    truncate,
)
from monitor.model import KeyValue

__all__ = [  # the template names are re-exported: callers know them from here
    "FieldMap",
    "IndexMap",
    "KeyKind",
    "KeyTemplate",
    "MappingError",
    "Placeholder",
    "Record",
    "Slice",
    "StatusValues",
    "TableMapping",
    "TemplateError",
    "format_time",
    "is_sql_identifier",
    "next_bucket",
    "parse_number_key",
    "pascal_case",
    "truncate",
]


class KeyKind(enum.StrEnum):
    """What the SQL key column holds; an item's key attribute must be of the same kind."""

    NUMBER = "number"
    TEXT = "text"


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
        if not is_sortable(sk_format):
            raise TemplateError(
                f"the sort key's time format {sk_format!r} must run from %Y down without gaps"
                " (e.g. %Y-%m-%dT%H:%M:%S.%fZ) so that text order is time order",
                "sort_key_template",
            )
        pk_format = self.partition_template.time_format
        if pk_format is not None and not is_sortable(pk_format):
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
        return None if fmt is None else last_granularity(fmt)

    @property
    def sort_resolution(self) -> timedelta:
        """The finest time step the sort key can express; slice edges are aligned to it."""
        fmt = self.sort_template.time_format
        assert fmt is not None  # checked in __post_init__
        return resolution(fmt)

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
            timestamp=None if timestamp is None else as_utc(timestamp, self.timestamp_column),
            values={f.column: row.get(f.column) for f in self.fields},
        )

    def key_from_item(self, item: Item) -> KeyValue:
        """The record key of a DynamoDB item, exact for numbers."""
        raw = item.get(self.key_attribute)
        if raw is None:
            raise MappingError(f"item has no {self.key_attribute} attribute")
        if raw.type is AttributeType.N:
            if self.key_kind is KeyKind.TEXT:
                raise MappingError(f"{self.key_attribute} is N (a number); the key column is text")
            if isinstance(raw.value, int):
                return raw.value
            raise MappingError(f"{self.key_attribute} is not an integer key")
        if raw.type is AttributeType.S:
            if self.key_kind is KeyKind.NUMBER:
                raise MappingError(f"{self.key_attribute} is S (text); the key column is a number")
            return str(raw.value)
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

    def status_from_item(self, item: Item) -> str | None:
        raw = item.get(self.status_attribute)
        if raw is None:
            return None
        if raw.type is not AttributeType.S:
            raise MappingError(f"{self.status_attribute} is not a string attribute")
        return str(raw.value)

    def record_from_item(self, item: Item) -> Record:
        sk = text_of(item, self.sort_key)
        timestamp: datetime | None = None
        if sk is not None:
            parsed = self.sort_template.match(sk)
            if parsed is not None:
                fmt = self.sort_template.time_format
                assert fmt is not None
                timestamp = datetime.strptime(parsed[self.timestamp_column], fmt).replace(
                    tzinfo=UTC
                )
        return Record(
            key=self.key_from_item(item),
            status=self.status_from_item(item),
            pk=text_of(item, self.partition_key),
            sk=sk,
            timestamp=timestamp,
            values={f.column: _plain(item.get(f.attribute)) for f in self.fields},
        )

    def embedded_key_mismatch(self, item: Item) -> str | None:
        """When the sort key embeds the record key and disagrees with `key_attribute`: why."""
        if self.key_column not in self.sort_template.columns:
            return None
        sk = text_of(item, self.sort_key)
        if sk is None:
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
    """Number text used as a key must be an exact integer (bigints survive as `int`)."""
    number = exact_number(text)
    if number is None:
        raise MappingError(f"{attribute} is not a number")
    if not isinstance(number, int):
        raise MappingError(f"{attribute} is not an integer key")
    return number


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _plain(attribute: Attribute | None) -> Any:
    """An attribute's Python value; None when absent (the same as NULL)."""
    if attribute is None:
        return None
    try:
        return attribute.plain()
    except MalformedAttribute as exc:
        raise MappingError(str(exc)) from None
