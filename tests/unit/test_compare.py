from __future__ import annotations

import hashlib
import inspect
import json
import re
import unicodedata
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from monitor.core import compare
from monitor.core.compare import FieldResult, FieldSpec, compare_field, json_diff_paths

EXACT = FieldSpec("c", "C", "exact")
TIMESTAMP = FieldSpec("c", "C", "timestamp", tolerance=timedelta(seconds=1))
TIMESTAMP_STRICT = FieldSpec("c", "C", "timestamp")
JSON = FieldSpec("c", "C", "json")
NUMBER = FieldSpec("c", "C", "number")
SPECS = [EXACT, TIMESTAMP, TIMESTAMP_STRICT, JSON, NUMBER]

T0 = datetime(2026, 11, 24, 10, 0, 0, tzinfo=UTC)


def status(spec: FieldSpec, sql: object, dynamodb: object) -> str:
    return compare_field(spec, sql, dynamodb).status


# --- strategies ---------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10)
)
json_keys = st.text(max_size=8)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(json_keys, children, max_size=4)
    ),
    max_leaves=20,
)
offsets = st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
aware_datetimes = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=offsets
)
#: Every fixed phrase a detail can hold is in the module's source; hypothesis also draws
#: string literals from the code under test, and such a phrase is not a leaked value.
VOCABULARY = inspect.getsource(compare)


def is_secret(text: str) -> bool:
    # Numbers are excluded: a numeric delta is allowed in a detail, and may equal one.
    return text.strip() == text and text not in VOCABULARY and not re.fullmatch(r"[\d.eE+-]+", text)


#: Strings long enough that finding one inside a detail is a leak, not a coincidence.
secrets = st.text(min_size=6, max_size=40).filter(is_secret)

any_value = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.decimals(),
    st.text(max_size=20),
    st.binary(max_size=8),
    st.datetimes(),
    aware_datetimes,
    aware_datetimes.map(datetime.isoformat),
    st.datetimes().map(datetime.isoformat),
    st.decimals(allow_nan=False).map(str),
    st.sampled_from(["NaN", "nan", "-Infinity", "Infinity", "inf", "1e999", "{", "[]", "{}"]),
    json_values,
    json_values.map(json.dumps),
)


# --- the JSON path format, written independently of the implementation -------------


def key_segment(key: str) -> str:
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key, re.ASCII):
        return "." + key
    return "[" + json.dumps(key, ensure_ascii=False) + "]"


def leaves(value: Any, path: str = "$") -> list[tuple[str, list[str | int]]]:
    """Every scalar in a JSON value: its path and the keys / indexes that reach it."""
    if isinstance(value, dict):
        return [
            (p, [key, *steps])
            for key in value
            for p, steps in leaves(value[key], path + key_segment(key))
        ]
    if isinstance(value, list):
        return [
            (p, [index, *steps])
            for index, item in enumerate(value)
            for p, steps in leaves(item, f"{path}[{index}]")
        ]
    return [(path, [])]


def replaced(value: Any, steps: list[str | int], new: Any) -> Any:
    if not steps:
        return new
    head, rest = steps[0], steps[1:]
    if isinstance(value, dict):
        return {**value, head: replaced(value[head], rest, new)}
    copy = list(value)
    copy[head] = replaced(copy[head], rest, new)  # type: ignore[index]
    return copy


def at(value: Any, steps: list[str | int]) -> Any:
    for step in steps:
        value = value[step]
    return value


def same_scalar(a: object, b: object) -> bool:
    """JSON scalar equality: 1 == 1.0, but true != 1."""
    numbers = (int, float)
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, numbers) and isinstance(b, numbers):
        return Decimal(repr(a)) == Decimal(repr(b))
    return type(a) is type(b) and a == b


# --- FieldSpec ----------------------------------------------------------------------


def test_json_fields_are_always_free_text() -> None:
    assert JSON.free_text is True
    assert EXACT.free_text is False
    assert FieldSpec("c", "C", "exact", free_text=True).free_text is True


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"compare": "fuzzy"}, "compare must be one of"),
        ({"compare": "exact", "tolerance": timedelta(seconds=1)}, "only to compare = 'timestamp'"),
        ({"compare": "timestamp", "tolerance": timedelta(seconds=-1)}, "must not be negative"),
        ({"compare": "number", "abs_tolerance": -1.0}, "abs_tolerance must be a finite"),
        ({"compare": "number", "rel_tolerance": float("nan")}, "rel_tolerance must be a finite"),
        ({"compare": "number", "abs_tolerance": float("inf")}, "abs_tolerance must be a finite"),
        ({"compare": "exact", "rel_tolerance": 0.1}, "only to compare = 'number'"),
        ({"compare": "number", "abs_tolerance": True}, "abs_tolerance must be a finite"),
        ({"compare": "number", "abs_tolerance": "0.1"}, "abs_tolerance must be a finite"),
    ],
)
def test_field_spec_rejects_bad_settings(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FieldSpec("c", "C", **kwargs)


def test_field_spec_needs_names() -> None:
    with pytest.raises(ValueError, match="column and an attribute"):
        FieldSpec("", "C")


# --- None ---------------------------------------------------------------------------


@pytest.mark.parametrize("spec", SPECS)
def test_null_and_absent(spec: FieldSpec) -> None:
    assert compare_field(spec, None, None) == FieldResult("equal")
    assert compare_field(spec, None, "x") == FieldResult("mismatch", "null in sql")
    assert compare_field(spec, "x", None) == FieldResult("mismatch", "absent in dynamodb")


# --- exact --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "dynamodb"),
    [
        (5, Decimal("5")),
        (5, 5.0),
        (Decimal("0.1"), 0.1),
        (Decimal("1.50"), Decimal("1.5")),
        (True, True),
        ("Response", "Response"),
        (float("nan"), Decimal("NaN")),
        (T0, T0.astimezone(timezone(timedelta(hours=5, minutes=30)))),
        ({"a": [1, True]}, {"a": [Decimal(1), True]}),
        ([], []),
        (b"\x00\x01", b"\x00\x01"),
        ({"x", "y"}, {"y", "x"}),
    ],
)
def test_exact_equal(sql: object, dynamodb: object) -> None:
    assert compare_field(EXACT, sql, dynamodb) == FieldResult("equal")


@pytest.mark.parametrize(
    ("sql", "dynamodb", "detail"),
    [
        (True, 1, "type bool vs int"),
        (1, True, "type int vs bool"),
        (False, Decimal(0), "type bool vs Decimal"),
        (5, "5", "type int vs str"),
        (1.5, Decimal("1.25"), "differs by 0.25"),
        (2**64 + 1, 2**64, "differs by 1"),
        (float("inf"), 1, "infinite on one side"),
        (T0, T0 + timedelta(milliseconds=1), "differs by 0.001s, dynamodb later"),
        ({"a": 1}, {"a": True}, "differs at $.a"),
        ([], {}, "differs at $"),
    ],
)
def test_exact_mismatch(sql: object, dynamodb: object, detail: str) -> None:
    assert compare_field(EXACT, sql, dynamodb) == FieldResult("mismatch", detail)


def test_exact_strings_are_compared_code_point_for_code_point() -> None:
    nfc = unicodedata.normalize("NFC", "Zoë café")
    nfd = unicodedata.normalize("NFD", "Zoë café")
    result = compare_field(EXACT, nfc, nfd)
    assert result.status == "mismatch"
    assert result.detail is not None
    assert re.fullmatch(r"sha256:[0-9a-f]{8}≠sha256:[0-9a-f]{8}", result.detail)


def test_exact_string_hints_name_the_difference_not_the_value() -> None:
    case = compare_field(EXACT, "Committed", "committed").detail
    space = compare_field(EXACT, "Committed", "Committed ").detail
    assert case is not None and case.startswith("differs only in letter case: sha256:")
    assert space is not None and space.startswith("differs only in leading/trailing whitespace")


def test_exact_free_text_hides_numeric_deltas() -> None:
    spec = FieldSpec("c", "C", "exact", free_text=True)
    detail = compare_field(spec, 1234, 1000).detail
    assert detail is not None and "234" not in detail and detail.startswith("sha256:")


def test_exact_naive_datetime_is_invalid_never_local_time() -> None:
    naive = datetime(2026, 11, 24, 10, 0)
    assert status(EXACT, naive, T0) == "invalid_sql"
    assert status(EXACT, T0, naive) == "invalid_dynamodb"
    assert status(EXACT, Decimal("sNaN"), 1) == "invalid_sql"


# --- timestamp ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "dynamodb",
    [
        "2026-11-24T10:00:00.000000Z",
        "2026-11-24T10:00:00Z",
        "2026-11-24T11:00:00+01:00",
        "2026-11-24 10:00:00+00",
        "20261124T100000Z",
        "2026-11-24T10:00:00.999999Z",  # within the 1 s tolerance
        T0.astimezone(timezone(timedelta(hours=-7))),
    ],
)
def test_timestamp_equal(dynamodb: object) -> None:
    assert compare_field(TIMESTAMP, T0, dynamodb) == FieldResult("equal")


def test_timestamp_mismatch_reports_the_gap_not_the_values() -> None:
    result = compare_field(TIMESTAMP, T0, "2026-11-24T10:00:03.2Z")
    assert result == FieldResult("mismatch", "differs by 3.2s, dynamodb later (tolerance 1s)")
    result = compare_field(TIMESTAMP_STRICT, "2026-11-24T10:00:00.000001Z", T0)
    assert result == FieldResult("mismatch", "differs by 0.000001s, dynamodb earlier")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("2026-11-24T10:00:00", "without a UTC offset"),
        (datetime(2026, 11, 24, 10, 0), "without a UTC offset"),
        ("2026-11-24", "not an ISO-8601 timestamp"),
        ("2026-11-24x10:00:00Z", "not an ISO-8601 timestamp"),
        ("24/11/2026 10:00", "not an ISO-8601 timestamp"),
        ("2026-13-40T10:00:00Z", "not an ISO-8601 timestamp"),
        ("", "not an ISO-8601 timestamp"),
        (1764000000, "has type int, not a timestamp"),
    ],
)
def test_timestamp_invalid(value: object, reason: str) -> None:
    result = compare_field(TIMESTAMP, value, T0)
    assert result.status == "invalid_sql"
    assert result.detail is not None and reason in result.detail
    assert status(TIMESTAMP, T0, value) == "invalid_dynamodb"


def test_timestamp_both_invalid_says_whether_they_are_identical() -> None:
    assert compare_field(TIMESTAMP, "soon", "soon") == FieldResult(
        "invalid_sql", "sql value is not an ISO-8601 timestamp; dynamodb value is identical"
    )


def test_timestamp_extremes_do_not_overflow() -> None:
    early = datetime.min.replace(tzinfo=timezone(timedelta(hours=23)))
    late = datetime.max.replace(tzinfo=timezone(timedelta(hours=-23)))
    assert status(TIMESTAMP, early, late) == "mismatch"


# --- json ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "dynamodb"),
    [
        ('{"a": 1, "b": [1, 2]}', '{"b":[1,2],"a":1}'),
        ('{"a": 1}', '{"a": 1.0}'),
        ('{"a": 1e2}', '{"a": 100}'),
        ('{"a": 0.1}', {"a": Decimal("0.1")}),
        ('{"a": 0.1}', {"a": 0.1}),
        ("[]", []),
        ("[]", "[ ]"),
        ('"NaN"', '"NaN"'),
        ("1" * 5000, "1" * 5000 + ".0"),  # past Python's int digit limit
        (b'{"a": 1}', '{"a": 1}'),
        ('{"\\u00e9": "\\ud83d\\ude00"}', '{"é": "😀"}'),
    ],
)
def test_json_equal(sql: object, dynamodb: object) -> None:
    assert compare_field(JSON, sql, dynamodb) == FieldResult("equal")


def _key_hash(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()[:8]


@pytest.mark.parametrize(
    ("sql", "dynamodb", "detail"),
    [
        ('{"a": true}', '{"a": 1}', "differs at $.a"),
        ('{"a": null}', "{}", "differs at $.a"),
        ('{"a": {"b": [1, 2, 3]}}', '{"a": {"b": [1, 2, 4]}}', "differs at $.a.b[2]"),
        ('{"a": [1]}', '{"a": [1, 2, 3]}', "differs at $.a[1], $.a[2]"),
        # A key that is not an identifier may be data (an e-mail address): only its hash.
        ('{"x y": 1}', '{"x y": 2}', f"differs at $[{_key_hash('x y')}]"),
        (
            '{"a@b.example": {"n": 1}}',
            '{"a@b.example": {"n": 2}}',
            f"differs at $[{_key_hash('a@b.example')}].n",
        ),
        ("[]", "{}", "differs at $"),
        ('"abc"', '"ABC"', "differs at $"),
        (
            json.dumps({str(i): i for i in range(8)}),
            json.dumps({str(i): -i - 1 for i in range(8)}),
            "differs at "
            + ", ".join(f"$[{_key_hash(str(i))}]" for i in range(5))
            + " … and 3 more",
        ),
    ],
)
def test_json_mismatch_names_paths(sql: object, dynamodb: object, detail: str) -> None:
    assert compare_field(JSON, sql, dynamodb) == FieldResult("mismatch", detail)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("{bad", "is not valid JSON (Expecting property name"),
        ('{"a": 1', "is not valid JSON"),
        ("NaN", "non-standard NaN or infinite constant"),
        ('{"a": Infinity}', "non-standard NaN or infinite constant"),
        ("", "is not valid JSON (Expecting value at char 0)"),
        ("[" * 100_000, "nested too deeply"),
        (b"\xff\xfe\xfd", "is not valid JSON"),
        (42, "has type int, not JSON text"),
        (True, "has type bool, not JSON text"),
        ({"a": {1, 2}}, "holds a set"),
        ({1: "a"}, "a int object key"),
        ({"a": float("nan")}, "NaN or infinite number"),
    ],
)
def test_json_invalid(value: object, reason: str) -> None:
    result = compare_field(JSON, value, "{}")
    assert result.status == "invalid_sql"
    assert result.detail is not None and reason in result.detail
    assert status(JSON, "{}", value) == "invalid_dynamodb"


def test_json_invalid_on_both_sides_is_compared_byte_for_byte() -> None:
    # SEED-REVIEW #11: never a case-insensitive fallback; the finding says whether the bytes match.
    same = compare_field(JSON, "{Bad", "{Bad")
    other = compare_field(JSON, "{Bad", "{bad")
    assert same.status == other.status == "invalid_sql"
    assert same.detail is not None and same.detail.endswith("dynamodb value is identical")
    assert other.detail is not None and "dynamodb value also invalid" in other.detail


def test_json_value_that_contains_itself_is_invalid_not_a_hang() -> None:
    loop: list[object] = []
    loop.append(loop)
    assert status(JSON, loop, "[]") == "invalid_sql"


def test_json_deep_but_parsable_documents_are_compared() -> None:
    depth = 900
    a = "[" * depth + "1" + "]" * depth
    b = "[" * depth + "2" + "]" * depth
    result = compare_field(JSON, a, b)
    assert result.status == "mismatch"
    assert result.detail is not None and result.detail.endswith("…")  # a long path is cut


def test_json_diff_paths_examples() -> None:
    assert json_diff_paths({"a": 1}, {"a": 1.0}) == []
    assert json_diff_paths({"a": True}, {"a": 1}) == ["$.a"]
    assert json_diff_paths([1, {"k": None}], [1, {"k": False}, 3]) == ["$[1].k", "$[2]"]
    assert json_diff_paths({"b": 1, "a": 1}, {"c": 1}) == ["$.a", "$.b", "$.c"]
    assert json_diff_paths("x", "y") == ["$"]
    with pytest.raises(ValueError, match="first value"):
        json_diff_paths({1, 2}, [])
    with pytest.raises(ValueError, match="second value"):
        json_diff_paths([], float("inf"))


# --- number -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "sql", "dynamodb", "expected"),
    [
        (NUMBER, 1, "1.0", "equal"),
        (NUMBER, "1e3", 1000, "equal"),
        (NUMBER, 0.1, "0.1", "equal"),
        (NUMBER, 1, 1.0000001, "mismatch"),
        (FieldSpec("c", "C", "number", abs_tolerance=0.01), 1, "1.01", "equal"),
        (FieldSpec("c", "C", "number", abs_tolerance=0.01), 1, "1.0101", "mismatch"),
        (FieldSpec("c", "C", "number", rel_tolerance=0.01), 1000, 1010, "equal"),
        (FieldSpec("c", "C", "number", rel_tolerance=0.01), 1000, 1011, "mismatch"),
        (NUMBER, float("nan"), "NaN", "equal"),
        (NUMBER, Decimal("NaN"), float("nan"), "equal"),
        (NUMBER, "nan", 1, "mismatch"),
        (NUMBER, float("inf"), "Infinity", "equal"),
        (NUMBER, "-inf", "inf", "mismatch"),
        (NUMBER, "1e999999999", "-1e-999999999", "mismatch"),
        (NUMBER, 10**400, float("1e300"), "mismatch"),
    ],
)
def test_number(spec: FieldSpec, sql: object, dynamodb: object, expected: str) -> None:
    assert status(spec, sql, dynamodb) == expected
    assert status(spec, dynamodb, sql) == expected


def test_number_details() -> None:
    assert compare_field(NUMBER, 1, "1.5") == FieldResult("mismatch", "differs by 0.5")
    assert compare_field(NUMBER, "NaN", 2) == FieldResult(
        "mismatch", "NaN in sql, a number in dynamodb"
    )
    hidden = FieldSpec("c", "C", "number", free_text=True)
    detail = compare_field(hidden, 1, "1.5").detail
    assert detail is not None and detail.startswith("sha256:")


@pytest.mark.parametrize(
    "value",
    [
        True,
        "abc",
        "1_000",
        " 1",
        "1 ",
        "0x10",
        "١٢٣",
        "sNaN",
        Decimal("sNaN"),
        "",
        "1e",
        [],
        "1e99999999999999999999",
    ],
)
def test_number_invalid(value: object) -> None:
    assert status(NUMBER, value, 1) == "invalid_sql"
    assert status(NUMBER, 1, value) == "invalid_dynamodb"


# --- odd inputs never crash ---------------------------------------------------------


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize(
    "value",
    [
        "NaN",
        "nan",
        "-Infinity",
        "Infinity",
        "inf",
        "1e999",
        '"NaN"',
        "null",
        "[]",
        "{}",
        "\ud800",
        "",
    ],
)
def test_nan_like_and_empty_values(spec: FieldSpec, value: str) -> None:
    for result in (compare_field(spec, value, value), compare_field(spec, value, "0")):
        assert result.status in {"equal", "mismatch", "invalid_sql", "invalid_dynamodb"}


def test_huge_values() -> None:
    big = "x" * 400_000
    other = big[:-1] + "y"
    assert status(EXACT, big, big) == "equal"
    detail = compare_field(EXACT, big, other).detail
    assert detail is not None and len(detail) < 100
    assert status(JSON, json.dumps({"a": big}), json.dumps({"a": big})) == "equal"
    assert compare_field(JSON, json.dumps({"a": big}), json.dumps({"a": other})) == FieldResult(
        "mismatch", "differs at $.a"
    )
    assert (
        status(JSON, json.dumps(list(range(50_000))), json.dumps(list(range(50_001)))) == "mismatch"
    )
    assert status(TIMESTAMP, big, T0) == "invalid_sql"
    assert status(NUMBER, "9" * 400_000, "9" * 400_000) == "equal"
    assert status(NUMBER, big, 1) == "invalid_sql"


# --- properties ---------------------------------------------------------------------

SWAPPED = {
    "equal": "equal",
    "mismatch": "mismatch",
    "invalid_sql": "invalid_dynamodb",
    "invalid_dynamodb": "invalid_sql",
}


@settings(max_examples=120, deadline=None)
@given(st.sampled_from(SPECS), any_value, any_value)
def test_compare_is_symmetric(spec: FieldSpec, a: object, b: object) -> None:
    forward = compare_field(spec, a, b).status
    backward = compare_field(spec, b, a).status
    a_invalid = a is not None and status(spec, a, a) == "invalid_sql"
    b_invalid = b is not None and status(spec, b, b) == "invalid_sql"
    if a_invalid and b_invalid:
        # Both unreadable: the system of record's side is the finding, either way round.
        assert forward == backward == "invalid_sql"
    else:
        assert backward == SWAPPED[forward]


@settings(max_examples=60, deadline=None)
@given(any_value)
def test_a_valid_value_equals_itself(value: object) -> None:
    for spec in SPECS:
        assert status(spec, value, value) in {"equal", "invalid_sql"}


@settings(max_examples=60, deadline=None)
@given(json_values)
def test_json_equals_itself_reserialised(value: Any) -> None:
    compact = json.dumps(value, separators=(",", ":"))
    pretty = json.dumps(value, sort_keys=True, indent=3, ensure_ascii=False)
    assert compare_field(JSON, compact, pretty) == FieldResult("equal")
    if isinstance(value, dict | list):  # a parsed form (a DynamoDB map or list) is accepted too
        assert compare_field(JSON, value, compact) == FieldResult("equal")
    assert json_diff_paths(value, json.loads(pretty)) == []


@settings(max_examples=60, deadline=None)
@given(st.data(), json_values)
def test_a_single_changed_leaf_yields_exactly_its_path(data: st.DataObject, value: Any) -> None:
    scalars = leaves(value)
    assume(scalars)  # e.g. [] or {"a": {}}: nothing to change
    path, steps = data.draw(st.sampled_from(scalars))
    old = at(value, steps)
    new = data.draw(json_scalars.filter(lambda candidate: not same_scalar(candidate, old)))
    changed = replaced(value, steps, new)
    assert json_diff_paths(value, changed) == [path]
    assert json_diff_paths(changed, value) == [path]
    result = compare_field(JSON, json.dumps(value), json.dumps(changed))
    assert result.status == "mismatch"
    (hidden,) = json_diff_paths(value, changed, hide_keys=True)
    if len(hidden) <= 120:
        assert result.detail == f"differs at {hidden}"


@settings(max_examples=60, deadline=None)
@given(
    aware_datetimes,
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=1)),
    st.floats(min_value=-1.0, max_value=1.0),
    offsets,
)
def test_timestamps_within_tolerance_are_equal_and_just_outside_are_not(
    moment: datetime, tolerance: timedelta, fraction: float, zone: timezone
) -> None:
    spec = FieldSpec("c", "C", "timestamp", tolerance=tolerance)
    inside = moment + tolerance * fraction
    assume(abs(inside - moment) <= tolerance)  # timedelta * float rounds to the microsecond
    assert status(spec, moment, inside.astimezone(zone)) == "equal"
    assert (
        status(spec, moment, inside.astimezone(UTC).isoformat().replace("+00:00", "Z")) == "equal"
    )
    step = timedelta(microseconds=1)
    assert status(spec, moment, (moment + tolerance + step).astimezone(zone)) == "mismatch"
    assert status(spec, (moment - tolerance - step).isoformat(), moment) == "mismatch"


def _all_details(secret: str, other: str) -> list[str | None]:
    results = [
        compare_field(EXACT, secret, other),
        compare_field(FieldSpec("c", "C", "exact", free_text=True), secret, other),
        compare_field(EXACT, secret, secret.upper() if secret.upper() != secret else secret + "!"),
        compare_field(EXACT, secret, " " + secret),
        compare_field(EXACT, secret, 5),
        compare_field(TIMESTAMP, secret, T0),
        compare_field(TIMESTAMP, secret, secret),
        compare_field(NUMBER, secret, 1),
        compare_field(JSON, secret, other),
        compare_field(JSON, secret, secret),
        compare_field(JSON, json.dumps({"k": secret}), json.dumps({"k": other})),
        compare_field(JSON, json.dumps([secret, 1]), json.dumps([other])),
        compare_field(JSON, '{"k": "' + secret, "{}"),
        compare_field(JSON, {"k": secret}, json.dumps({"k": [other]})),
    ]
    return [result.detail for result in results]


@settings(max_examples=60, deadline=None)
@given(secrets, secrets)
def test_no_detail_ever_contains_a_value(secret: str, other: str) -> None:
    assume(secret != other)
    for detail in _all_details(secret, other):
        assert detail is None or (secret not in detail and other not in detail)


@settings(max_examples=60, deadline=None)
@given(json_values, json_values)
def test_json_compare_agrees_with_json_diff_paths(a: Any, b: Any) -> None:
    paths = json_diff_paths(a, b)
    result = compare_field(JSON, json.dumps(a), json.dumps(b))
    assert (result.status == "equal") == (paths == [])
    assert sorted(json_diff_paths(b, a)) == sorted(paths)


@given(st.one_of(json_values.map(json.dumps), st.text(max_size=20)))
def test_identical_json_text_takes_the_short_path_with_the_same_verdict(text: str) -> None:
    # The same text on both sides is read once; the verdict is the one of both documents
    # read and walked.
    assert compare_field(JSON, text, text) == compare._compare_json_documents(JSON, text, text)
