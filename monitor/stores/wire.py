"""DynamoDB's low-level wire format (`{"S": "..."}`) <-> the neutral `Attribute`: the one decoder.

Only the DynamoDB adapter (and the local tooling that writes items directly) uses this module:
an item is decoded once, when it is read, and encoded once, when it is written.

Decoding never raises: a value DynamoDB would not return (an unknown tag, a number that does not
parse, a tag with the wrong payload) becomes an `Attribute` of type None, which the checks report
as `invalid_data` instead of failing the run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from monitor.core.item import Attribute, AttributeType, Item, exact_number
from monitor.core.mapping import KeyKind, TableMapping
from monitor.model import IndexInfo, KeyValue

_MALFORMED = Attribute(None)
_TYPES = {t.value: t for t in AttributeType}


def decode_attribute(wire: object) -> Attribute:
    # The common tags first, by exact type: `check counts` decodes three attributes of every
    # record in its window, and the general path's ABC checks cost more than the rest of it.
    if type(wire) is dict and len(wire) == 1:
        text = wire.get("S")
        if type(text) is str:
            return Attribute(AttributeType.S, text)
        digits = wire.get("N")
        if type(digits) is str:
            number = exact_number(digits)
            return _MALFORMED if number is None else Attribute(AttributeType.N, number)
    return decode_general(wire)


def decode_general(wire: object) -> Attribute:
    """Any attribute, every tag (what `decode_attribute` falls back to)."""
    if not isinstance(wire, Mapping) or len(wire) != 1:
        return _MALFORMED
    ((tag, value),) = wire.items()
    kind = _TYPES.get(tag) if isinstance(tag, str) else None
    if kind is None:
        return _MALFORMED
    decoded = _decode_value(kind, value)
    return _MALFORMED if decoded is _BAD else Attribute(kind, decoded)


_BAD: Any = object()


def _decode_value(kind: AttributeType, value: object) -> Any:
    match kind:
        case AttributeType.S:
            return value if isinstance(value, str) else _BAD
        case AttributeType.N:
            number = exact_number(value)
            return _BAD if number is None else number
        case AttributeType.B:
            return bytes(value) if isinstance(value, bytes | bytearray | memoryview) else _BAD
        case AttributeType.BOOL:
            return value if isinstance(value, bool) else _BAD
        case AttributeType.NULL:
            return None
        case AttributeType.M:
            if not isinstance(value, Mapping):
                return _BAD
            return {str(name): decode_attribute(inner) for name, inner in value.items()}
        case AttributeType.L:
            if not isinstance(value, list | tuple):
                return _BAD
            return tuple(decode_attribute(inner) for inner in value)
        case AttributeType.SS:
            return _decode_set(value, lambda v: v if isinstance(v, str) else _BAD)
        case AttributeType.NS:
            return _decode_set(value, lambda v: _BAD if (n := exact_number(v)) is None else n)
        case AttributeType.BS:
            return _decode_set(
                value, lambda v: bytes(v) if isinstance(v, bytes | bytearray) else _BAD
            )


def _decode_set(value: object, member: Any) -> Any:
    if not isinstance(value, list | tuple | set | frozenset):
        return _BAD
    members = [member(v) for v in value]
    return _BAD if any(m is _BAD for m in members) else frozenset(members)


def plain_key_statuses(
    wires: Iterable[Mapping[str, Any]], mapping: TableMapping
) -> tuple[list[tuple[KeyValue, str | None, str]], list[Mapping[str, Any]]]:
    """(key, status, sort key) of each narrow-read item whose three are plain, and the rest.

    The fast path of `check counts`, which reads these three attributes of every record of its
    window (one loop, no call per item): an S (or all-digit N) key of the mapped kind, an S or
    absent status, an S or absent sort key. The rest go through `decode_item` and the mapping,
    which give the same answer for what this accepts and explain what it does not.
    """
    key_name, status_name, sk_name = (
        mapping.key_attribute,
        mapping.status_attribute,
        mapping.sort_key,
    )
    texts, numbers = mapping.key_kind is not KeyKind.NUMBER, mapping.key_kind is not KeyKind.TEXT
    plain: list[tuple[KeyValue, str | None, str]] = []
    rest: list[Mapping[str, Any]] = []
    for wire in wires:
        key = wire.get(key_name)
        status = wire.get(status_name)
        sk = wire.get(sk_name)
        if type(key) is not dict or len(key) != 1:
            rest.append(wire)
            continue
        value: KeyValue
        if texts and type(text := key.get("S")) is str:
            value = text
        elif (
            numbers
            and type(digits := key.get("N")) is str
            and digits.isascii()
            and digits.isdigit()
        ):
            value = int(digits)
        else:
            rest.append(wire)
            continue
        if status is not None and (
            type(status) is not dict
            or len(status) != 1
            or type(status := status.get("S")) is not str
        ):
            rest.append(wire)
            continue
        if sk is None:
            sk = ""
        elif type(sk) is not dict or len(sk) != 1 or type(sk := sk.get("S")) is not str:
            rest.append(wire)
            continue
        plain.append((value, status, sk))
    return plain, rest


def decode_item(wire: Mapping[str, Any]) -> dict[str, Attribute]:
    """One item of a GetItem/Query/Scan/BatchGetItem response, decoded."""
    return {str(name): decode_attribute(value) for name, value in wire.items()}


def encode_attribute(attribute: Attribute) -> dict[str, Any]:
    """The wire form of an attribute. Raises ValueError for a malformed one (never written)."""
    kind, value = attribute.type, attribute.value
    if kind is None:
        raise ValueError("a malformed attribute cannot be written")
    match kind:
        case AttributeType.N:
            return {"N": str(value)}
        case AttributeType.NULL:
            return {"NULL": True}
        case AttributeType.M:
            return {"M": {name: encode_attribute(inner) for name, inner in value.items()}}
        case AttributeType.L:
            return {"L": [encode_attribute(inner) for inner in value]}
        case AttributeType.NS:
            return {"NS": sorted(str(v) for v in value)}
        case AttributeType.SS | AttributeType.BS:
            return {str(kind): sorted(value)}
        case _:  # S, B, BOOL
            return {str(kind): value}


def encode_item(item: Item) -> dict[str, dict[str, Any]]:
    return {name: encode_attribute(attribute) for name, attribute in item.items()}


def describe_indexes(table: Mapping[str, Any]) -> list[IndexInfo]:
    """The global secondary indexes of a `DescribeTable` response's `Table`."""
    out: list[IndexInfo] = []
    for gsi in table.get("GlobalSecondaryIndexes", ()):
        projection = gsi.get("Projection", {})
        out.append(
            IndexInfo(
                name=str(gsi.get("IndexName", "")),
                status=str(gsi.get("IndexStatus", "ACTIVE")),
                key_schema={
                    str(k.get("KeyType")): str(k.get("AttributeName"))
                    for k in gsi.get("KeySchema", ())
                },
                projection_type=str(projection.get("ProjectionType", "ALL")),
                non_key_attributes=tuple(projection.get("NonKeyAttributes", ())),
            )
        )
    return out
