"""A change read from a stream, in the monitor's terms (pure).

A DynamoDB stream record becomes a `Change`: the item's key, its new image (None when the item
was removed), the change's time and where it sits in its shard. Only the image is kept, never
logged: it holds request and response data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from monitor.core.item import Item
from monitor.core.mapping import MappingError, TableMapping
from monitor.model import KeyValue
from monitor.stores.wire import decode_attribute, decode_item


@dataclass(frozen=True, slots=True)
class Position:
    """Where a change sits: a shard of the stream (or the PostgreSQL slot) and its sequence."""

    shard: str
    sequence: str


@dataclass(frozen=True, slots=True)
class Change:
    pk: str
    sk: str
    changed_at: datetime
    position: Position
    #: The item after the change (decoded once, here); None: the item was removed.
    image: Item | None = None
    #: The item before a removal, to name the record's key.
    old_image: Item | None = None

    @property
    def identity(self) -> tuple[str, str]:
        return (self.pk, self.sk)

    def key(self, mapping: TableMapping) -> KeyValue | None:
        """The record's key: from the image, else the sort key's embedded key; None if neither."""
        for image in (self.image, self.old_image):
            if image is not None:
                try:
                    return mapping.key_from_item(image)
                except MappingError:
                    break
        return mapping.key_from_sort_key(self.sk)


class UnreadableRecord(ValueError):
    """A stream record without the table's string keys (another table's stream?)."""


def _as_utc(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), UTC)
    raise UnreadableRecord("the record has no ApproximateCreationDateTime")


def change_from_record(mapping: TableMapping, shard: str, record: Mapping[str, Any]) -> Change:
    data = record.get("dynamodb") or {}
    keys = data.get("Keys") or {}
    pk = decode_attribute(keys.get(mapping.partition_key)).text
    sk = decode_attribute(keys.get(mapping.sort_key)).text
    if pk is None or sk is None:
        raise UnreadableRecord(
            f"the record's keys are not {mapping.partition_key}/{mapping.sort_key} strings"
        )
    removed = record.get("eventName") == "REMOVE"
    if not removed and not isinstance(data.get("NewImage"), Mapping):
        raise UnreadableRecord("the record has no NewImage (the stream needs NEW_AND_OLD_IMAGES)")
    old = data.get("OldImage")
    return Change(
        pk=pk,
        sk=sk,
        changed_at=_as_utc(data.get("ApproximateCreationDateTime")),
        position=Position(shard, str(data.get("SequenceNumber", ""))),
        image=None if removed else decode_item(data["NewImage"]),
        old_image=decode_item(old) if removed and isinstance(old, Mapping) else None,
    )
