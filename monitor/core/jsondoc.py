"""JSON documents read strictly and compared by path, without ever showing a value.

A document is JSON text (read with every number a `Decimal`, NaN and Infinity refused) or an
already-parsed value such as a DynamoDB map (checked to be JSON). Two documents differ at the
paths `json_diff_paths` lists. What cannot be read is an `Invalid` with a value-free reason;
`monitor.core.compare` turns it into an `invalid_*` result.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Final, TypeAlias


@dataclass(frozen=True, slots=True)
class Invalid:
    """A value that cannot be read as the field's kind; `reason` is value-free."""

    reason: str


def short_hash(value: object) -> str:
    if isinstance(value, str):
        # surrogatepass: a lone surrogate is still a value to fingerprint, not a crash.
        data = value.encode("utf-8", "surrogatepass")
    elif isinstance(value, bytes | bytearray):
        data = bytes(value)
    else:
        data = repr(value).encode("utf-8", "surrogatepass")
    return "sha256:" + hashlib.sha256(data).hexdigest()[:8]


def python_type(value: object) -> str:
    return type(value).__name__


def to_decimal(value: object) -> Decimal | None:
    """A number as an exact Decimal, or None when it is not a number (bool is not one)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        # The shortest repr that round-trips: the float 0.1 equals the text "0.1".
        return Decimal(repr(value))
    if isinstance(value, Decimal):
        # A signalling NaN raises on comparison; no store holds one.
        return None if value.is_snan() else value
    return None


#: A JSON value after normalisation: every number a finite Decimal, arrays as lists.
Json: TypeAlias = None | bool | Decimal | str | list["Json"] | dict[str, "Json"]


class _NonStandardConstant(ValueError):
    pass


def _reject_constant(name: str) -> object:
    # Python's json reads NaN and Infinity; RFC 8259 and the other store's readers do not.
    raise _NonStandardConstant(name)


def loads(text: str | bytes | bytearray) -> Json | Invalid:
    try:
        # Decimal for every number: 1 == 1.0, 0.1 stays 0.1, and no int digit limit.
        parsed: Json = json.loads(
            text, parse_float=Decimal, parse_int=Decimal, parse_constant=_reject_constant
        )
    except json.JSONDecodeError as error:
        # msg is a fixed phrase ("Expecting value"); the position is an offset, not data.
        return Invalid(f"is not valid JSON ({error.msg} at char {error.pos})")
    except _NonStandardConstant:
        return Invalid("is not valid JSON (non-standard NaN or infinite constant)")
    except UnicodeDecodeError:
        return Invalid("is not valid JSON (undecodable bytes)")
    except RecursionError:
        return Invalid("is not valid JSON (nested too deeply to read)")
    except ValueError:
        return Invalid("is not valid JSON")
    return parsed


_MISSING: Final = object()


def normalise_json(value: object) -> Json | Invalid:
    """An already-parsed JSON value (e.g. a DynamoDB map) in normal form, or why it is not JSON."""

    def leaf(item: object) -> Json | Invalid:
        if item is None or isinstance(item, bool | str):
            return item
        if isinstance(item, float | int | Decimal):
            number = to_decimal(item)
            if number is None or not number.is_finite():
                return Invalid("is not valid JSON (NaN or infinite number)")
            return number
        return Invalid(f"is not valid JSON (holds a {python_type(item)})")

    if not isinstance(value, Mapping | list | tuple):
        return leaf(value)
    # Iterative, so depth is bounded by memory, not the recursion limit; `ancestors`
    # rejects a container that holds itself (it would never end).
    root: list[Json] = [None]
    ancestors: set[int] = set()
    # (source, where its normal form goes, key or index); parent None marks leaving `source`.
    work: list[tuple[object, dict[str, Json] | list[Json] | None, str | int]] = [(value, root, 0)]
    while work:
        source, parent, slot = work.pop()
        if parent is None:
            ancestors.discard(id(source))
            continue
        out: Json | Invalid
        if isinstance(source, Mapping | list | tuple):
            if id(source) in ancestors:
                return Invalid("is not valid JSON (it contains itself)")
            ancestors.add(id(source))
            work.append((source, None, 0))
            if isinstance(source, Mapping):
                obj: dict[str, Json] = {}
                for key, item in source.items():
                    if not isinstance(key, str):
                        return Invalid(f"is not valid JSON (a {python_type(key)} object key)")
                    obj[key] = None
                    work.append((item, obj, key))
                out = obj
            else:
                arr: list[Json] = [None] * len(source)
                work.extend((item, arr, index) for index, item in enumerate(source))
                out = arr
        else:
            out = leaf(source)
            if isinstance(out, Invalid):
                return out
        # Two branches, not one `or`: each narrows the container and its slot together.
        if isinstance(parent, dict) and isinstance(slot, str):  # noqa: SIM114
            parent[slot] = out
        elif isinstance(parent, list) and isinstance(slot, int):
            parent[slot] = out
    return root[0]


def read_json(value: object) -> Json | Invalid:
    if isinstance(value, str | bytes | bytearray):
        return loads(value)
    if isinstance(value, Mapping | list | tuple):
        return normalise_json(value)
    return Invalid(f"has type {python_type(value)}, not JSON text")


_IDENTIFIER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)


def _key_segment(key: str, *, hide: bool = False) -> str:
    """`.name` for an identifier key; else `["a key"]`, or with `hide` its hash (`[sha256:…]`):
    an object keyed by data (an e-mail address, a customer name) would print that data."""
    if _IDENTIFIER.fullmatch(key):
        return "." + key
    if hide:
        return "[" + short_hash(key) + "]"
    return "[" + json.dumps(key, ensure_ascii=False) + "]"


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, Decimal):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def diff_normalised(a: Json, b: Json, *, hide_keys: bool = False) -> list[str]:
    """Differing paths of two normalised values, depth first, object keys sorted.

    `hide_keys`: object keys that are not identifiers are written as their hash."""
    paths: list[str] = []
    # Iterative, like normalise_json: a deep document must not hit the recursion limit.
    work: list[tuple[str, object, object]] = [("$", a, b)]
    while work:
        path, left, right = work.pop()
        if isinstance(left, dict) and isinstance(right, dict):
            # Pushed in reverse onto a stack, so paths come out in key order.
            work.extend(
                (
                    path + _key_segment(key, hide=hide_keys),
                    left.get(key, _MISSING),
                    right.get(key, _MISSING),
                )
                for key in sorted(left.keys() | right.keys(), reverse=True)
            )
        elif isinstance(left, list) and isinstance(right, list):
            work.extend(
                (
                    f"{path}[{index}]",
                    left[index] if index < len(left) else _MISSING,
                    right[index] if index < len(right) else _MISSING,
                )
                for index in range(max(len(left), len(right)) - 1, -1, -1)
            )
        # A node present on one side only, of another kind (true vs 1), or another
        # scalar; Decimal compares exactly, so 1 == 1.0.
        elif left is _MISSING or right is _MISSING or _kind(left) != _kind(right) or left != right:
            paths.append(path)
    return paths


def json_diff_paths(a: object, b: object, *, hide_keys: bool = False) -> list[str]:
    """Every JSON path at which two parsed JSON values differ, e.g. ["$.a.b[2]", "$.c"].

    Both arguments are parsed values (dict / list / str / number / bool / None), not
    JSON text: a str is a JSON string. Object key order does not matter, 1 equals 1.0,
    true does not equal 1. A key or index present on one side only is its own path; a
    node whose type differs is reported once, without its children. Keys that are not
    identifiers are written as `$["a key"]` (with `hide_keys`, as their hash: what a free-text
    field's finding shows, since such a key may be data). An empty list means equal. Raises
    ValueError when either value is not JSON (a set, NaN, a non-str key).
    """
    left, right = normalise_json(a), normalise_json(b)
    if isinstance(left, Invalid):
        raise ValueError(f"the first value {left.reason}")
    if isinstance(right, Invalid):
        raise ValueError(f"the second value {right.reason}")
    return diff_normalised(left, right, hide_keys=hide_keys)
