"""Field comparators: is one column of a SQL row equal to its DynamoDB attribute?

Values arrive already normalised by the mapping layer: None is a SQL NULL or an
absent attribute; otherwise str, int, float, Decimal, bool, datetime, bytes, or the
raw text / parsed form of a JSON field. A comparator never raises on bad data: a
value that cannot be read as its declared kind is an `invalid_sql` /
`invalid_dynamodb` result (a data-type finding), never a lenient fallback
(SEED-REVIEW #11, #12).

A result's `detail` never carries a field value: it holds JSON paths, short hashes,
type names, or the size of a numeric / time difference. Keys and statuses are not
sensitive; values are.
"""

from __future__ import annotations

import decimal
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Final, Literal, TypeAlias, get_args

__all__ = [
    "CompareKind",
    "FieldResult",
    "FieldSpec",
    "FieldStatus",
    "compare_field",
    "json_diff_paths",
]

CompareKind = Literal["exact", "timestamp", "json", "number"]
FieldStatus = Literal["equal", "mismatch", "invalid_sql", "invalid_dynamodb"]

_COMPARE_KINDS: Final = frozenset(get_args(CompareKind))
#: How many differing JSON paths a detail names before it says "… and N more".
_MAX_PATHS: Final = 5
#: A path longer than this is cut in a detail (a key may be arbitrarily long).
_MAX_PATH_CHARS: Final = 120


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One compared field: which column, which attribute, and how to compare them."""

    column: str
    attribute: str
    compare: CompareKind = "exact"
    #: timestamp only: the largest difference still equal; None means 0 (same microsecond).
    tolerance: timedelta | None = None
    #: number only: equal when |a - b| <= max(abs_tolerance, rel_tolerance * max(|a|, |b|)).
    abs_tolerance: float = 0.0
    rel_tolerance: float = 0.0
    #: A free-text field's details carry hashes only, never a difference's size.
    #: JSON fields are always free text (set in __post_init__); str values are hashed anyway.
    free_text: bool = False

    def __post_init__(self) -> None:
        if not self.column or not self.attribute:
            raise ValueError("a compared field needs both a column and an attribute")
        where = f"field {self.column!r}"
        if self.compare not in _COMPARE_KINDS:
            kinds = ", ".join(sorted(_COMPARE_KINDS))
            raise ValueError(f"{where}: compare must be one of {kinds}, got {self.compare!r}")
        if self.tolerance is not None:
            if self.compare != "timestamp":
                raise ValueError(f"{where}: tolerance applies only to compare = 'timestamp'")
            if self.tolerance < timedelta(0):
                raise ValueError(f"{where}: tolerance must not be negative")
        for name in ("abs_tolerance", "rel_tolerance"):
            value = getattr(self, name)
            is_real = isinstance(value, int | float) and not isinstance(value, bool)
            if not (is_real and 0.0 <= value < float("inf")):  # also rejects NaN
                raise ValueError(f"{where}: {name} must be a finite number >= 0, got {value!r}")
            if value and self.compare != "number":
                raise ValueError(f"{where}: {name} applies only to compare = 'number'")
        if self.compare == "json":
            # JSON text is request / response data: only paths may ever be shown.
            object.__setattr__(self, "free_text", True)


@dataclass(frozen=True, slots=True)
class FieldResult:
    """The outcome of comparing one field; `detail` is value-free (paths, hashes, types, deltas)."""

    status: FieldStatus
    detail: str | None = None


_EQUAL: Final = FieldResult("equal")


# --- shared helpers ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Invalid:
    """A value that cannot be read as the field's kind; `reason` is value-free."""

    reason: str


def _short_hash(value: object) -> str:
    if isinstance(value, str):
        # surrogatepass: a lone surrogate is still a value to fingerprint, not a crash.
        data = value.encode("utf-8", "surrogatepass")
    elif isinstance(value, bytes | bytearray):
        data = bytes(value)
    else:
        data = repr(value).encode("utf-8", "surrogatepass")
    return "sha256:" + hashlib.sha256(data).hexdigest()[:8]


def _hashes(sql_value: object, dynamodb_value: object) -> str:
    return f"{_short_hash(sql_value)}≠{_short_hash(dynamodb_value)}"


def _python_type(value: object) -> str:
    return type(value).__name__


def _invalid_result(
    sql: object,
    dynamodb: object,
    sql_raw: object = None,
    dynamodb_raw: object = None,
) -> FieldResult:
    """The invalid_* result for a pair in which at least one side is `_Invalid`.

    When both are invalid the SQL side (the system of record) is the finding, and the
    detail says whether the two raw values are at least byte-identical.
    """
    if isinstance(sql, _Invalid):
        detail = f"sql value {sql.reason}"
        if isinstance(dynamodb, _Invalid):
            # Byte for byte, text only: `==` on other types may be lenient, or raise (sNaN).
            if (
                isinstance(sql_raw, str | bytes)
                and type(sql_raw) is type(dynamodb_raw)
                and sql_raw == dynamodb_raw
            ):
                detail += "; dynamodb value is identical"
            else:
                detail += f"; dynamodb value also invalid: {dynamodb.reason}"
        return FieldResult("invalid_sql", detail)
    reason = dynamodb.reason if isinstance(dynamodb, _Invalid) else "is invalid"
    return FieldResult("invalid_dynamodb", f"dynamodb value {reason}")


# --- numbers ----------------------------------------------------------------------

# A context that never traps and never overflows: a difference is computed to 60
# digits, far past any tolerance a config can express.
_CTX: Final = decimal.Context(
    prec=60, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN, traps=[], flags=[]
)
_NUMBER_TEXT: Final = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
# PostgreSQL writes NaN / Infinity, Python nan / inf: both mean the IEEE value.
_SPECIAL_TEXT: Final = re.compile(r"[+-]?(?:nan|inf|infinity)", re.ASCII | re.IGNORECASE)


def _to_decimal(value: object) -> Decimal | None:
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


def _parse_number(value: object) -> Decimal | _Invalid:
    if isinstance(value, str):
        if not (_NUMBER_TEXT.fullmatch(value) or _SPECIAL_TEXT.fullmatch(value)):
            return _Invalid("is not a number")
        try:
            return Decimal(value)
        except (decimal.InvalidOperation, ValueError):  # e.g. an exponent out of range
            return _Invalid("is a number out of range")
    number = _to_decimal(value)
    if number is None:
        return _Invalid(f"has type {_python_type(value)}, not a number")
    return number


def _format_delta(delta: Decimal) -> str:
    return format(delta, ".6g")


def _numbers_differ(
    spec: FieldSpec, a: Decimal, b: Decimal, sql: object, dyn: object
) -> str | None:
    """None when equal within tolerance, else a value-free detail."""
    if a.is_nan() or b.is_nan():
        # NaN equals NaN here: both stores hold the same "not a number".
        if a.is_nan() and b.is_nan():
            return None
        return (
            "NaN in sql, a number in dynamodb" if a.is_nan() else "a number in sql, NaN in dynamodb"
        )
    if a == b:
        return None
    if a.is_infinite() or b.is_infinite():
        return (
            "infinite on one side" if a.is_infinite() != b.is_infinite() else "opposite infinities"
        )
    delta = _CTX.abs(_CTX.subtract(a, b))
    allowed = Decimal(repr(spec.abs_tolerance))
    if spec.rel_tolerance:
        largest = max(_CTX.abs(a), _CTX.abs(b))
        allowed = max(allowed, _CTX.multiply(Decimal(repr(spec.rel_tolerance)), largest))
    if delta <= allowed:
        return None
    if spec.free_text:
        return _hashes(sql, dyn)
    return f"differs by {_format_delta(delta)}"


def _compare_number(spec: FieldSpec, sql_value: object, dynamodb_value: object) -> FieldResult:
    a, b = _parse_number(sql_value), _parse_number(dynamodb_value)
    if isinstance(a, _Invalid) or isinstance(b, _Invalid):
        return _invalid_result(a, b, sql_value, dynamodb_value)
    detail = _numbers_differ(spec, a, b, sql_value, dynamodb_value)
    return _EQUAL if detail is None else FieldResult("mismatch", detail)


# --- timestamps -------------------------------------------------------------------

# fromisoformat accepts any character between date and time; insist on 'T', 't' or ' '.
_ISO_PREFIX: Final = re.compile(r"\d{4}(?:-\d{2}-\d{2}[Tt ]|\d{4}[Tt])", re.ASCII)


def _parse_timestamp(value: object) -> datetime | _Invalid:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        if not _ISO_PREFIX.match(value):
            return _Invalid("is not an ISO-8601 timestamp")
        try:
            # Python 3.11 reads 'Z' and any offset form; its error message quotes the value.
            moment = datetime.fromisoformat(value)
        except ValueError:
            return _Invalid("is not an ISO-8601 timestamp")
    else:
        return _Invalid(f"has type {_python_type(value)}, not a timestamp")
    if moment.utcoffset() is None:
        return _Invalid("is a timestamp without a UTC offset (local time is never assumed)")
    return moment


def _format_seconds(delta: timedelta) -> str:
    micros = delta // timedelta(microseconds=1)
    return format(Decimal(micros).scaleb(-6).normalize(), "f") + "s"


def _compare_timestamp(spec: FieldSpec, sql_value: object, dynamodb_value: object) -> FieldResult:
    a, b = _parse_timestamp(sql_value), _parse_timestamp(dynamodb_value)
    if isinstance(a, _Invalid) or isinstance(b, _Invalid):
        return _invalid_result(a, b, sql_value, dynamodb_value)
    return _timestamps_result(spec, a, b, sql_value, dynamodb_value)


def _timestamps_result(
    spec: FieldSpec, a: datetime, b: datetime, sql_value: object, dynamodb_value: object
) -> FieldResult:
    # Aware datetimes subtract as instants, whatever their offsets: a UTC comparison.
    tolerance = spec.tolerance or timedelta(0)
    delta = b - a
    if abs(delta) <= tolerance:
        return _EQUAL
    if spec.free_text:
        return FieldResult("mismatch", _hashes(sql_value, dynamodb_value))
    side = "later" if delta > timedelta(0) else "earlier"
    detail = f"differs by {_format_seconds(abs(delta))}, dynamodb {side}"
    if tolerance:
        detail += f" (tolerance {_format_seconds(tolerance)})"
    return FieldResult("mismatch", detail)


# --- JSON -------------------------------------------------------------------------

#: A JSON value after normalisation: every number a finite Decimal, arrays as lists.
_Json: TypeAlias = None | bool | Decimal | str | list["_Json"] | dict[str, "_Json"]


class _NonStandardConstant(ValueError):
    pass


def _reject_constant(name: str) -> object:
    # Python's json reads NaN and Infinity; RFC 8259 and the other store's readers do not.
    raise _NonStandardConstant(name)


def _loads(text: str | bytes | bytearray) -> _Json | _Invalid:
    try:
        # Decimal for every number: 1 == 1.0, 0.1 stays 0.1, and no int digit limit.
        parsed: _Json = json.loads(
            text, parse_float=Decimal, parse_int=Decimal, parse_constant=_reject_constant
        )
    except json.JSONDecodeError as error:
        # msg is a fixed phrase ("Expecting value"); the position is an offset, not data.
        return _Invalid(f"is not valid JSON ({error.msg} at char {error.pos})")
    except _NonStandardConstant:
        return _Invalid("is not valid JSON (non-standard NaN or infinite constant)")
    except UnicodeDecodeError:
        return _Invalid("is not valid JSON (undecodable bytes)")
    except RecursionError:
        return _Invalid("is not valid JSON (nested too deeply to read)")
    except ValueError:
        return _Invalid("is not valid JSON")
    return parsed


_MISSING: Final = object()


def _normalise_json(value: object) -> _Json | _Invalid:
    """An already-parsed JSON value (e.g. a DynamoDB map) in normal form, or why it is not JSON."""

    def leaf(item: object) -> _Json | _Invalid:
        if item is None or isinstance(item, bool | str):
            return item
        if isinstance(item, float | int | Decimal):
            number = _to_decimal(item)
            if number is None or not number.is_finite():
                return _Invalid("is not valid JSON (NaN or infinite number)")
            return number
        return _Invalid(f"is not valid JSON (holds a {_python_type(item)})")

    if not isinstance(value, Mapping | list | tuple):
        return leaf(value)
    # Iterative, so depth is bounded by memory, not the recursion limit; `ancestors`
    # rejects a container that holds itself (it would never end).
    root: list[_Json] = [None]
    ancestors: set[int] = set()
    # (source, where its normal form goes, key or index); parent None marks leaving `source`.
    work: list[tuple[object, dict[str, _Json] | list[_Json] | None, str | int]] = [(value, root, 0)]
    while work:
        source, parent, slot = work.pop()
        if parent is None:
            ancestors.discard(id(source))
            continue
        out: _Json | _Invalid
        if isinstance(source, Mapping | list | tuple):
            if id(source) in ancestors:
                return _Invalid("is not valid JSON (it contains itself)")
            ancestors.add(id(source))
            work.append((source, None, 0))
            if isinstance(source, Mapping):
                obj: dict[str, _Json] = {}
                for key, item in source.items():
                    if not isinstance(key, str):
                        return _Invalid(f"is not valid JSON (a {_python_type(key)} object key)")
                    obj[key] = None
                    work.append((item, obj, key))
                out = obj
            else:
                arr: list[_Json] = [None] * len(source)
                work.extend((item, arr, index) for index, item in enumerate(source))
                out = arr
        else:
            out = leaf(source)
            if isinstance(out, _Invalid):
                return out
        # Two branches, not one `or`: each narrows the container and its slot together.
        if isinstance(parent, dict) and isinstance(slot, str):  # noqa: SIM114
            parent[slot] = out
        elif isinstance(parent, list) and isinstance(slot, int):
            parent[slot] = out
    return root[0]


def _read_json(value: object) -> _Json | _Invalid:
    if isinstance(value, str | bytes | bytearray):
        return _loads(value)
    if isinstance(value, Mapping | list | tuple):
        return _normalise_json(value)
    return _Invalid(f"has type {_python_type(value)}, not JSON text")


_IDENTIFIER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)


def _key_segment(key: str, *, hide: bool = False) -> str:
    """`.name` for an identifier key; else `["a key"]`, or with `hide` its hash (`[sha256:…]`):
    an object keyed by data (an e-mail address, a customer name) would print that data."""
    if _IDENTIFIER.fullmatch(key):
        return "." + key
    if hide:
        return "[" + _short_hash(key) + "]"
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


def _diff_normalised(a: _Json, b: _Json, *, hide_keys: bool = False) -> list[str]:
    """Differing paths of two normalised values, depth first, object keys sorted.

    `hide_keys`: object keys that are not identifiers are written as their hash."""
    paths: list[str] = []
    # Iterative, like _normalise_json: a deep document must not hit the recursion limit.
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
    left, right = _normalise_json(a), _normalise_json(b)
    if isinstance(left, _Invalid):
        raise ValueError(f"the first value {left.reason}")
    if isinstance(right, _Invalid):
        raise ValueError(f"the second value {right.reason}")
    return _diff_normalised(left, right, hide_keys=hide_keys)


def _paths_detail(paths: list[str]) -> str:
    shown = [p if len(p) <= _MAX_PATH_CHARS else p[: _MAX_PATH_CHARS - 1] + "…" for p in paths]
    detail = "differs at " + ", ".join(shown[:_MAX_PATHS])
    if len(paths) > _MAX_PATHS:
        detail += f" … and {len(paths) - _MAX_PATHS} more"
    return detail


def _compare_json(spec: FieldSpec, sql_value: object, dynamodb_value: object) -> FieldResult:
    # The same text is the same document: read once, only to tell valid JSON from not (the
    # usual case for a dual write; reading and walking both documents cost ~2 ms a record).
    same_text = type(sql_value) is str and sql_value == dynamodb_value
    if same_text and not isinstance(_loads(sql_value), _Invalid):  # type: ignore[arg-type]
        return _EQUAL
    return _compare_json_documents(spec, sql_value, dynamodb_value)


def _compare_json_documents(
    spec: FieldSpec, sql_value: object, dynamodb_value: object
) -> FieldResult:
    """Both sides read and walked: the general path of `_compare_json`."""
    a, b = _read_json(sql_value), _read_json(dynamodb_value)
    if isinstance(a, _Invalid) or isinstance(b, _Invalid):
        return _invalid_result(a, b, sql_value, dynamodb_value)
    paths = _diff_normalised(a, b, hide_keys=spec.free_text)
    return _EQUAL if not paths else FieldResult("mismatch", _paths_detail(paths))


# --- exact ------------------------------------------------------------------------


def _exact_side(value: object) -> object:
    # A naive datetime cannot be placed in time: bad data, not a difference.
    if isinstance(value, datetime) and value.utcoffset() is None:
        return _Invalid("is a timestamp without a UTC offset (local time is never assumed)")
    # A signalling NaN raises on every comparison; no store holds one.
    if isinstance(value, Decimal) and value.is_snan():
        return _Invalid("is a signalling NaN")
    return value


def _strings_detail(a: str, b: str) -> str:
    # Hints that name the kind of difference without showing either value.
    if a.strip() == b.strip():
        return "differs only in leading/trailing whitespace: " + _hashes(a, b)
    if a.casefold() == b.casefold():
        return "differs only in letter case: " + _hashes(a, b)
    return _hashes(a, b)


def _compare_exact(spec: FieldSpec, sql_value: object, dynamodb_value: object) -> FieldResult:
    a, b = _exact_side(sql_value), _exact_side(dynamodb_value)
    if isinstance(a, _Invalid) or isinstance(b, _Invalid):
        return _invalid_result(a, b)
    number_a, number_b = _to_decimal(a), _to_decimal(b)
    if number_a is not None and number_b is not None:
        # int 5 equals Decimal("5") and 5.0; bool never gets here, so True != 1.
        detail = _numbers_differ(spec, number_a, number_b, a, b)
        return _EQUAL if detail is None else FieldResult("mismatch", detail)
    if isinstance(a, datetime) and isinstance(b, datetime):
        return _timestamps_result(spec, a, b, a, b)
    if isinstance(a, str) and isinstance(b, str):
        return _EQUAL if a == b else FieldResult("mismatch", _strings_detail(a, b))
    if isinstance(a, Mapping | list | tuple) and isinstance(b, Mapping | list | tuple):
        # A DynamoDB map or list compares as JSON when it is JSON (so True != 1 inside too).
        left, right = _normalise_json(a), _normalise_json(b)
        if not isinstance(left, _Invalid) and not isinstance(right, _Invalid):
            paths = _diff_normalised(left, right)
            return _EQUAL if not paths else FieldResult("mismatch", _paths_detail(paths))
    if type(a) is not type(b):
        return FieldResult("mismatch", f"type {_python_type(a)} vs {_python_type(b)}")
    return _EQUAL if a == b else FieldResult("mismatch", _hashes(a, b))


_COMPARATORS: Final[dict[str, Callable[[FieldSpec, object, object], FieldResult]]] = {
    "exact": _compare_exact,
    "timestamp": _compare_timestamp,
    "json": _compare_json,
    "number": _compare_number,
}


def compare_field(spec: FieldSpec, sql_value: object, dynamodb_value: object) -> FieldResult:
    """Compare one field's SQL value with its DynamoDB value, as `spec.compare` says.

    None (SQL NULL / absent attribute) equals only None. Never raises on bad data.
    """
    if sql_value is None and dynamodb_value is None:
        return _EQUAL
    if sql_value is None:
        return FieldResult("mismatch", "null in sql")
    if dynamodb_value is None:
        return FieldResult("mismatch", "absent in dynamodb")
    return _COMPARATORS[spec.compare](spec, sql_value, dynamodb_value)
