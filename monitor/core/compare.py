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
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Final, Literal, get_args

from monitor.core.jsondoc import (
    Invalid,
    diff_normalised,
    json_diff_paths,
    loads,
    normalise_json,
    python_type,
    read_json,
    short_hash,
    to_decimal,
)

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


def _hashes(sql_value: object, dynamodb_value: object) -> str:
    return f"{short_hash(sql_value)}≠{short_hash(dynamodb_value)}"


def _invalid_result(
    sql: object,
    dynamodb: object,
    sql_raw: object = None,
    dynamodb_raw: object = None,
) -> FieldResult:
    """The invalid_* result for a pair in which at least one side is `Invalid`.

    When both are invalid the SQL side (the system of record) is the finding, and the
    detail says whether the two raw values are at least byte-identical.
    """
    if isinstance(sql, Invalid):
        detail = f"sql value {sql.reason}"
        if isinstance(dynamodb, Invalid):
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
    reason = dynamodb.reason if isinstance(dynamodb, Invalid) else "is invalid"
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


def _parse_number(value: object) -> Decimal | Invalid:
    if isinstance(value, str):
        if not (_NUMBER_TEXT.fullmatch(value) or _SPECIAL_TEXT.fullmatch(value)):
            return Invalid("is not a number")
        try:
            return Decimal(value)
        except (decimal.InvalidOperation, ValueError):  # e.g. an exponent out of range
            return Invalid("is a number out of range")
    number = to_decimal(value)
    if number is None:
        return Invalid(f"has type {python_type(value)}, not a number")
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
    if isinstance(a, Invalid) or isinstance(b, Invalid):
        return _invalid_result(a, b, sql_value, dynamodb_value)
    detail = _numbers_differ(spec, a, b, sql_value, dynamodb_value)
    return _EQUAL if detail is None else FieldResult("mismatch", detail)


# --- timestamps -------------------------------------------------------------------

# fromisoformat accepts any character between date and time; insist on 'T', 't' or ' '.
_ISO_PREFIX: Final = re.compile(r"\d{4}(?:-\d{2}-\d{2}[Tt ]|\d{4}[Tt])", re.ASCII)


def _parse_timestamp(value: object) -> datetime | Invalid:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        if not _ISO_PREFIX.match(value):
            return Invalid("is not an ISO-8601 timestamp")
        try:
            # Python 3.11 reads 'Z' and any offset form; its error message quotes the value.
            moment = datetime.fromisoformat(value)
        except ValueError:
            return Invalid("is not an ISO-8601 timestamp")
    else:
        return Invalid(f"has type {python_type(value)}, not a timestamp")
    if moment.utcoffset() is None:
        return Invalid("is a timestamp without a UTC offset (local time is never assumed)")
    return moment


def _format_seconds(delta: timedelta) -> str:
    micros = delta // timedelta(microseconds=1)
    return format(Decimal(micros).scaleb(-6).normalize(), "f") + "s"


def _compare_timestamp(spec: FieldSpec, sql_value: object, dynamodb_value: object) -> FieldResult:
    a, b = _parse_timestamp(sql_value), _parse_timestamp(dynamodb_value)
    if isinstance(a, Invalid) or isinstance(b, Invalid):
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
# (reading documents and listing the paths at which they differ: monitor.core.jsondoc)


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
    if same_text and not isinstance(loads(sql_value), Invalid):  # type: ignore[arg-type]
        return _EQUAL
    return _compare_json_documents(spec, sql_value, dynamodb_value)


def _compare_json_documents(
    spec: FieldSpec, sql_value: object, dynamodb_value: object
) -> FieldResult:
    """Both sides read and walked: the general path of `_compare_json`."""
    a, b = read_json(sql_value), read_json(dynamodb_value)
    if isinstance(a, Invalid) or isinstance(b, Invalid):
        return _invalid_result(a, b, sql_value, dynamodb_value)
    paths = diff_normalised(a, b, hide_keys=spec.free_text)
    return _EQUAL if not paths else FieldResult("mismatch", _paths_detail(paths))


# --- exact ------------------------------------------------------------------------


def _exact_side(value: object) -> object:
    # A naive datetime cannot be placed in time: bad data, not a difference.
    if isinstance(value, datetime) and value.utcoffset() is None:
        return Invalid("is a timestamp without a UTC offset (local time is never assumed)")
    # A signalling NaN raises on every comparison; no store holds one.
    if isinstance(value, Decimal) and value.is_snan():
        return Invalid("is a signalling NaN")
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
    if isinstance(a, Invalid) or isinstance(b, Invalid):
        return _invalid_result(a, b)
    number_a, number_b = to_decimal(a), to_decimal(b)
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
        left, right = normalise_json(a), normalise_json(b)
        if not isinstance(left, Invalid) and not isinstance(right, Invalid):
            paths = diff_normalised(left, right)
            return _EQUAL if not paths else FieldResult("mismatch", _paths_detail(paths))
    if type(a) is not type(b):
        return FieldResult("mismatch", f"type {python_type(a)} vs {python_type(b)}")
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
