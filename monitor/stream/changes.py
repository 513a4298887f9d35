"""A change read from a stream, in the monitor's terms (pure logic on decoded records).

A decoded DynamoDB stream record (`StreamRecord`, from the stream adapter) becomes a `Change`: the item's key, its new image (None when the item
was removed), the change's time and where it sits in its shard. Only the image is kept, never
logged: it holds request and response data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from monitor.core.item import Item
from monitor.core.mapping import MappingError, TableMapping
from monitor.model import KeyValue
from monitor.stores.streams import StreamRecord


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
    #: When the reader received it: the change was made before then.
    read_at: datetime | None = None

    @property
    def made_by(self) -> datetime:
        """A time the change was surely made by: its grace period counts from here. The
        record's own time is rounded down (by AWS to the second, by DynamoDB Local to the
        minute), so the change may be younger than it says; it is no younger than its reading."""
        return self.changed_at if self.read_at is None else max(self.changed_at, self.read_at)

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


def change_from_record(
    mapping: TableMapping, shard: str, record: StreamRecord, read_at: datetime | None = None
) -> Change:
    pk = record.keys.get(mapping.partition_key)
    sk = record.keys.get(mapping.sort_key)
    if pk is None or sk is None or pk.text is None or sk.text is None:
        raise UnreadableRecord(
            f"the record's keys are not {mapping.partition_key}/{mapping.sort_key} strings"
        )
    removed = record.event == "REMOVE"
    if not removed and record.new_image is None:
        raise UnreadableRecord("the record has no NewImage (the stream needs NEW_AND_OLD_IMAGES)")
    if record.created_at is None:
        raise UnreadableRecord("the record has no ApproximateCreationDateTime")
    return Change(
        pk=pk.text,
        sk=sk.text,
        changed_at=record.created_at,
        position=Position(shard, record.sequence),
        image=None if removed else record.new_image,
        old_image=record.old_image if removed else None,
        read_at=read_at,
    )
