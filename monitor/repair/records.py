"""What repair sees of one record in each store, as digests: never the data itself.

A plan, the audit trail and the report carry statuses, `updated_at` and SHA-256 digests of a
row's content and of an item, so that "is it still as the plan saw it?" can be answered later
without request or response data ever leaving the stores.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from monitor.core.item import Attribute, Item, text_of
from monitor.core.mapping import TableMapping
from monitor.stores.digests import document_digest, item_digest
from monitor.writer.items import attribute_value, pending_index_attributes


@dataclass(frozen=True, slots=True)
class RowSeen:
    status: str | None
    #: ISO-8601, or None when the table has no updated_at column (or it is NULL).
    updated_at: str | None
    #: Digest of every column but the status and updated_at ones.
    content: str

    def as_json(self) -> dict[str, Any]:
        return {"status": self.status, "updated_at": self.updated_at, "content": self.content}


@dataclass(frozen=True, slots=True)
class ItemSeen:
    status: str | None
    digest: str

    def as_json(self) -> dict[str, Any]:
        return {"status": self.status, "digest": self.digest}


@dataclass(frozen=True, slots=True)
class Seen:
    """Both sides of a record as the plan saw them (None: absent from that store)."""

    sql: RowSeen | None
    dynamodb: ItemSeen | None

    def as_json(self) -> dict[str, Any]:
        return {
            "sql": None if self.sql is None else self.sql.as_json(),
            "dynamodb": None if self.dynamodb is None else self.dynamodb.as_json(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Seen:
        sql, dynamo = data.get("sql"), data.get("dynamodb")
        return cls(
            None if sql is None else RowSeen(sql["status"], sql["updated_at"], sql["content"]),
            None if dynamo is None else ItemSeen(dynamo["status"], dynamo["digest"]),
        )


class RecordReader:
    """Turns whole rows and items into what repair compares."""

    def __init__(self, mapping: TableMapping, updated_at_column: str) -> None:
        self.mapping = mapping
        self.updated_at_column = updated_at_column or None

    def row_seen(self, row: Mapping[str, Any] | None) -> RowSeen | None:
        if row is None:
            return None
        skip = {self.mapping.status_column, self.updated_at_column}
        content = {k: v for k, v in dict(row).items() if k not in skip}
        return RowSeen(self.row_status(row), self.updated_at(row), document_digest(content))

    def row_status(self, row: Mapping[str, Any]) -> str | None:
        value = row.get(self.mapping.status_column)
        return None if value is None else str(value)

    def updated_at(self, row: Mapping[str, Any]) -> str | None:
        if self.updated_at_column is None:
            return None
        value = row.get(self.updated_at_column)
        return value.isoformat() if isinstance(value, datetime) else None

    def item_seen(self, item: Item | None) -> ItemSeen | None:
        if item is None:
            return None
        return ItemSeen(self.item_status(item), item_digest(item))

    def item_status(self, item: Item) -> str | None:
        return text_of(item, self.mapping.status_attribute)

    def keys_of(self, row: Mapping[str, Any]) -> tuple[str, str]:
        m = self.mapping
        return m.partition_template.render(row), m.sort_template.render(row)


def generic_item(
    row: Mapping[str, Any], mapping: TableMapping, columns: Mapping[str, str]
) -> dict[str, Attribute]:
    """The item for a row of another team's table: keys, key and status attributes, and every
    column whose attribute the configuration names (`columns`: column -> attribute)."""
    time_format = mapping.sort_template.time_format or "%Y-%m-%dT%H:%M:%S.%fZ"
    sk = mapping.sort_template.render(row)
    item: dict[str, Attribute] = {
        mapping.partition_key: Attribute.string(mapping.partition_template.render(row)),
        mapping.sort_key: Attribute.string(sk),
    }
    wanted = {
        mapping.key_column: mapping.key_attribute,
        mapping.status_column: mapping.status_attribute,
        **columns,
    }
    for column, attribute in wanted.items():
        value = attribute_value(row.get(column), time_format=time_format)
        if value is not None:
            item[attribute] = value
    item.update(pending_index_attributes(row, mapping, sk, row.get(mapping.status_column)))
    return item
