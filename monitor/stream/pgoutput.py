"""PostgreSQL's `pgoutput` logical decoding messages, protocol version 1 (pure).

Built into PostgreSQL 10+ (no extension), read through `pg_logical_slot_peek_binary_changes`.
Only what the verifier needs is kept: each committed row change of a relation, with its
relation's column names, the tuple's text values, and the commit's time. Message layout:
https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

#: pgoutput times are microseconds since 2000-01-01 UTC.
PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


class DecodeError(ValueError):
    """A message this parser cannot read (a newer protocol, or a cut message)."""


@dataclass(frozen=True, slots=True)
class Relation:
    relation_id: int
    schema: str
    name: str
    columns: tuple[str, ...]

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass(frozen=True, slots=True)
class RowChange:
    relation: Relation
    #: "insert", "update" or "delete".
    operation: str
    #: Column -> text value (None: NULL; absent: unchanged TOAST or not sent, e.g. a delete's
    #: non-key columns).
    values: Mapping[str, str | None]
    committed_at: datetime
    #: The LSN of the message's row (for the slot's position).
    lsn: str
    #: A delete that carries the whole old row (the table has REPLICA IDENTITY FULL), not only
    #: its key.
    whole: bool = False


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def take(self, size: int) -> bytes:
        if self.at + size > len(self.data):
            raise DecodeError("message cut short")
        chunk = self.data[self.at : self.at + size]
        self.at += size
        return chunk

    def byte(self) -> str:
        return self.take(1).decode("ascii")

    def int8(self) -> int:
        return int(struct.unpack("!b", self.take(1))[0])

    def int16(self) -> int:
        return int(struct.unpack("!h", self.take(2))[0])

    def int32(self) -> int:
        return int(struct.unpack("!i", self.take(4))[0])

    def int64(self) -> int:
        return int(struct.unpack("!q", self.take(8))[0])

    def string(self) -> str:
        end = self.data.find(b"\x00", self.at)
        if end < 0:
            raise DecodeError("string without its terminator")
        text = self.data[self.at : end].decode("utf-8")
        self.at = end + 1
        return text

    def tuple_data(self, columns: tuple[str, ...]) -> dict[str, str | None]:
        count = self.int16()
        values: dict[str, str | None] = {}
        for index in range(count):
            kind = self.byte()
            name = columns[index] if index < len(columns) else f"#{index}"
            if kind == "n":
                values[name] = None
            elif kind == "u":
                continue  # unchanged TOASTed value: not sent
            elif kind in "tb":
                values[name] = self.take(self.int32()).decode("utf-8", "replace")
            else:
                raise DecodeError(f"unknown tuple value kind {kind!r}")
        return values


@dataclass(slots=True)
class Decoder:
    """Feeds on the slot's messages in order; remembers relations and the open transaction."""

    relations: dict[int, Relation] = field(default_factory=dict)
    committed_at: datetime | None = None
    #: Changes of the open transaction (a transaction's changes count once it commits).
    _open: list[RowChange] = field(default_factory=list)

    def feed(self, lsn: str, data: bytes) -> list[RowChange]:
        """The changes a message completes: those of a transaction, at its commit."""
        reader = _Reader(bytes(data))
        kind = reader.byte()
        if kind == "B":
            reader.int64()  # final LSN
            self.committed_at = PG_EPOCH + timedelta(microseconds=reader.int64())
            self._open = []
        elif kind == "C":
            done, self._open = self._open, []
            return done
        elif kind == "R":
            relation_id = reader.int32()
            schema, name = reader.string(), reader.string()
            reader.int8()  # replica identity setting
            columns = []
            for _ in range(reader.int16()):
                reader.int8()  # flags (part of the key)
                columns.append(reader.string())
                reader.int32()  # type oid
                reader.int32()  # type modifier
            self.relations[relation_id] = Relation(relation_id, schema, name, tuple(columns))
        elif kind in "IUD":
            self._open.append(self._row(kind, reader, lsn))
        # Others (Origin, Type, Truncate, Message) say nothing about a row's content.
        return []

    def _row(self, kind: str, reader: _Reader, lsn: str) -> RowChange:
        relation = self.relations.get(reader.int32())
        if relation is None:
            raise DecodeError("a row change before its relation message")
        values: dict[str, str | None] = {}
        marker = reader.byte()
        if kind == "U" and marker in "KO":  # the old key (or row), then the new row
            reader.tuple_data(relation.columns)
            marker = reader.byte()
        if marker not in "NKO":
            raise DecodeError(f"unexpected tuple marker {marker!r}")
        values = reader.tuple_data(relation.columns)
        operation = {"I": "insert", "U": "update", "D": "delete"}[kind]
        if self.committed_at is None:
            raise DecodeError("a row change outside a transaction")
        whole = kind == "D" and marker == "O"
        return RowChange(relation, operation, values, self.committed_at, lsn, whole)


def decode_all(messages: Iterable[tuple[str, bytes]], decoder: Decoder) -> list[RowChange]:
    out: list[RowChange] = []
    for lsn, data in messages:
        out += decoder.feed(lsn, data)
    return out
