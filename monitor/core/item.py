"""A DynamoDB item as the core sees it: attribute name -> typed `Attribute`, decoded once.

The DynamoDB adapter turns the wire format (`{"S": "..."}`) into these values when it reads an
item, and back when it writes one; nothing outside `monitor.stores` handles the wire format.
An attribute keeps its DynamoDB type (`quality` judges it), and its value is exact: a number is
an `int` or a `Decimal`, never a float. Maps and lists hold `Attribute`s, so an item survives a
round trip unchanged; `plain()` gives the Python value the comparators work on.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from monitor.model import KeyValue


class AttributeType(enum.StrEnum):
    """DynamoDB's attribute types, by their wire tags."""

    S = "S"
    N = "N"
    B = "B"
    BOOL = "BOOL"
    NULL = "NULL"
    M = "M"
    L = "L"
    SS = "SS"
    NS = "NS"
    BS = "BS"


class MalformedAttribute(ValueError):
    """A value that is not a well-formed DynamoDB value was asked for its Python value."""


@dataclass(frozen=True, slots=True)
class Attribute:
    """One attribute value with its DynamoDB type.

    `type` is None for a value that is not a well-formed DynamoDB value (an unknown tag, a number
    that does not parse); DynamoDB itself never returns one, but such an item is reported, not
    fatal. Values by type: S str, N int | Decimal, B bytes, BOOL bool, NULL None, M a mapping of
    `Attribute`s, L a tuple of `Attribute`s, SS/NS/BS a frozenset of str / int | Decimal / bytes.
    """

    type: AttributeType | None
    value: Any = None

    @classmethod
    def string(cls, text: str) -> Attribute:
        return cls(AttributeType.S, text)

    @classmethod
    def number(cls, value: int | Decimal) -> Attribute:
        return cls(AttributeType.N, value)

    @property
    def text(self) -> str | None:
        """The value of an S attribute; None for any other type."""
        return self.value if self.type is AttributeType.S else None

    @property
    def is_null(self) -> bool:
        """NULL is the same as absent (CONTRACT §1)."""
        return self.type is AttributeType.NULL

    def plain(self) -> Any:
        """The Python value: maps and lists all the way down, numbers exact, sets as frozensets.

        Raises `MalformedAttribute` when this value, or one nested in it, is malformed.
        """
        if self.type is None:
            raise MalformedAttribute("malformed attribute value")
        if self.type is AttributeType.M:
            return {name: inner.plain() for name, inner in self.value.items()}
        if self.type is AttributeType.L:
            return [inner.plain() for inner in self.value]
        return self.value


#: An item: attribute name -> value. An attribute the item lacks is simply not a key.
Item = Mapping[str, Attribute]


def text_of(item: Item, name: str) -> str | None:
    """The S value of one attribute of an item; None when absent or of another type."""
    attribute = item.get(name)
    return None if attribute is None else attribute.text


def item_key_label(attribute: Attribute | None) -> KeyValue:
    """How a finding names an item whose key cannot be read: never the content of a bad value.

    A number or a text key is the key as stored (text cut to 64 characters); any other
    DynamoDB type is described by its type alone, because a map or a list can carry data.
    The finding that carries it also carries the item's location (pk/sk).
    """
    if attribute is None:
        return "<no key>"
    if attribute.type is None:
        return "<malformed key>"
    if attribute.type is AttributeType.N:
        value = attribute.value
        return value if isinstance(value, int) else str(value)[:64]
    if attribute.type is AttributeType.S:
        return str(attribute.value)[:64]
    return f"<{attribute.type} key>"


def exact_number(text: object) -> int | Decimal | None:
    """Number text exactly: an int when integral (bigints survive), else a Decimal; None if bad."""
    if not isinstance(text, str):
        return None
    if text.isascii() and text.isdigit():  # the common case, without a Decimal
        return int(text)
    try:
        number = Decimal(text)
    except (InvalidOperation, ValueError):
        return None
    if not number.is_finite():  # DynamoDB numbers are finite
        return None
    return int(number) if number == number.to_integral_value() else number
