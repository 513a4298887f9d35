"""The business-rule expression language: grammar, errors, three-valued evaluation."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.core.ruleexpr import (
    MAX_DEPTH,
    And,
    Column,
    Compare,
    Expr,
    IsNull,
    Literal,
    Not,
    Or,
    RuleSyntaxError,
    RuleTypeError,
    columns_of,
    evaluate,
    parse,
    render,
)

A, B, C = Column("a"), Column("b"), Column("c")

# --- parsing ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("is_success = false", Compare("=", Column("is_success"), Literal(False))),
        ("error_message is not null", IsNull(Column("error_message"), negated=True)),
        ("a IS NULL", IsNull(A)),
        ("a or b and c", Or((A, And((B, C))))),
        ("(a or b) and c", And((Or((A, B)), C))),
        ("a and b and c", And((A, B, C))),
        ("not a = 1", Not(Compare("=", A, Literal(1)))),
        ("NOT not a", Not(Not(A))),
        ("a <> 'x'", Compare("!=", A, Literal("x"))),
        ('a != "x"', Compare("!=", A, Literal("x"))),
        ("a = 'it''s'", Compare("=", A, Literal("it's"))),
        ("a >= -3", Compare(">=", A, Literal(-3))),
        ("a < 2.50", Compare("<", A, Literal(Decimal("2.50")))),
        ("a <= 1e3", Compare("<=", A, Literal(Decimal("1E+3")))),
        ("1 > a", Compare(">", Literal(1), A)),
        ("true", Literal(True)),
        ("  a  ", A),
        ("a='π ✓'", Compare("=", A, Literal("π ✓"))),
    ],
)
def test_parses(text: str, tree: Expr) -> None:
    assert parse(text) == tree


def test_true_and_one_are_different_literals() -> None:
    assert Literal(True) != Literal(1)
    assert parse("a = true") != parse("a = 1")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty rule at character 1"),
        ("   ", "empty rule"),
        ("a =", "expected a column, a text, a number, true or false, found the end"),
        ("a = null", "null is not a value here; write `x is null` or `x is not null`"),
        ("(a", "expected `)`, found the end at character 3"),
        ("a)", "expected `and`, `or` or the end, found `)`"),
        ("a == 1", "use = (not ==) to compare at character 3"),
        ("a b", "expected `and`, `or` or the end, found a column name at character 3"),
        ("a = 'open", "unterminated text literal at character 5"),
        ("a = 1abc", "a number runs into a name"),
        ("a = 1;", "unexpected character at character 6"),
        ("a is 1", "expected `null`, found a number"),
        ("and", "expected a column, a text, a number, true or false, found `and`"),
        ("a = b = c", "expected `and`, `or` or the end, found `=`"),
        ("x" * 64 + " = 1", "a column name longer than 63"),
    ],
)
def test_errors_say_where_and_what(text: str, message: str) -> None:
    with pytest.raises(RuleSyntaxError) as error:
        parse(text)
    assert message in str(error.value)


def test_errors_never_echo_the_text() -> None:
    with pytest.raises(RuleSyntaxError) as error:
        parse("a = §secret")
    assert "secret" not in str(error.value) and "§" not in str(error.value)


def test_nesting_and_length_are_bounded() -> None:
    parse("(" * MAX_DEPTH + "a" + ")" * MAX_DEPTH)
    with pytest.raises(RuleSyntaxError, match="nested more than"):
        parse("(" * (MAX_DEPTH + 1) + "a" + ")" * (MAX_DEPTH + 1))
    with pytest.raises(RuleSyntaxError, match="nested more than"):
        parse("not " * (MAX_DEPTH + 1) + "a")
    with pytest.raises(RuleSyntaxError, match="longer than"):
        parse("a = 1 and " * 300 + "a = 1")


def test_columns_of() -> None:
    tree = parse("a = 1 and (b is null or not c = 'x') or 2 > d")
    assert columns_of(tree) == {"a", "b", "c", "d"}
    assert columns_of(parse("true")) == frozenset()


# --- round trip and robustness (hypothesis) -------------------------------------------------

_keywords = {"and", "or", "not", "is", "null", "true", "false"}
names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,20}", fullmatch=True).filter(
    lambda n: n.lower() not in _keywords
)
literals = st.one_of(
    st.text(max_size=20),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.booleans(),
).map(Literal)
operands = st.one_of(names.map(Column), literals)
comparisons = st.builds(
    Compare, st.sampled_from(["=", "!=", "<", "<=", ">", ">="]), operands, operands
)
leaves = st.one_of(operands, comparisons, st.builds(IsNull, operands, st.booleans()))


def _trees(children: st.SearchStrategy[Expr]) -> st.SearchStrategy[Expr]:
    several = st.lists(children, min_size=2, max_size=4).map(tuple)
    return st.one_of(children.map(Not), several.map(And), several.map(Or))


trees = st.recursive(leaves, _trees, max_leaves=12)


@given(trees)
@settings(max_examples=100, deadline=None)
def test_render_then_parse_is_the_identity(tree: Expr) -> None:
    assert parse(render(tree)) == tree


@given(st.text(max_size=200))
@settings(max_examples=300, deadline=None)
def test_random_text_parses_or_raises_a_clean_error(text: str) -> None:
    try:
        tree = parse(text)
    except RuleSyntaxError as exc:
        assert "at character" in str(exc)
    else:
        assert parse(render(tree)) == tree


@given(st.text(alphabet=list("ab ()=<>!'\"0123456789.-eE_ andortisnulfe"), max_size=80))
@settings(max_examples=400, deadline=None)
def test_near_miss_text_parses_or_raises_a_clean_error(text: str) -> None:
    try:
        tree = parse(text)
    except RuleSyntaxError:
        return
    assert parse(render(tree)) == tree


row_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=5),
    st.decimals(),
    st.floats(),
    st.datetimes(timezones=st.just(UTC)),
    st.dates(),
)


@given(trees, st.dictionaries(names, row_values))
@settings(max_examples=100, deadline=None)
def test_evaluation_returns_a_truth_value_or_a_type_error(
    tree: Expr, row: dict[str, object]
) -> None:
    full = {name: row.get(name) for name in columns_of(tree)}
    try:
        result = evaluate(tree, full)
    except RuleTypeError:
        return
    assert result in (True, False, None)


# --- evaluation ------------------------------------------------------------------------------


def _kleene_and(x: bool | None, y: bool | None) -> bool | None:
    if x is False or y is False:
        return False
    return None if x is None or y is None else True


@given(st.sampled_from([True, False, None]), st.sampled_from([True, False, None]))
@settings(deadline=None)
def test_three_valued_logic_is_kleenes(x: bool | None, y: bool | None) -> None:
    row = {"a": x, "b": y}
    assert evaluate(parse("a and b"), row) == _kleene_and(x, y)
    negated = {k: (None if v is None else not v) for k, v in row.items()}
    expected_or = _kleene_and(negated["a"], negated["b"])
    assert evaluate(parse("a or b"), row) == (None if expected_or is None else not expected_or)
    assert evaluate(parse("not a"), row) == (None if x is None else not x)


@pytest.mark.parametrize(
    ("text", "row", "expected"),
    [
        ("a = 1", {"a": 1}, True),
        ("a = 1", {"a": Decimal("1.0")}, True),
        ("a = 1.5", {"a": 1.5}, True),
        ("a < 2", {"a": 1.999}, True),
        ("a = 1", {"a": None}, None),
        ("a != 1", {"a": None}, None),
        ("a is null", {"a": None}, True),
        ("a is not null", {"a": 0}, True),
        ("a = 'x'", {"a": "x"}, True),
        ("a < 'b'", {"a": "a"}, True),
        ("a = false", {"a": False}, True),
        ("a != true", {"a": False}, True),
        ("a", {"a": True}, True),
        ("a", {"a": None}, None),
        ("a = b", {"a": 3, "b": 3}, True),
        ("a >= '2026-01-01T00:00:00Z'", {"a": datetime(2026, 1, 1, tzinfo=UTC)}, True),
        (
            "a < '2026-01-01T01:00:00+01:00'",
            {"a": datetime(2025, 12, 31, 23, 59, tzinfo=UTC)},
            True,
        ),
        ("a = '2026-01-02'", {"a": date(2026, 1, 2)}, True),
        ("a = 1", {"a": Decimal("NaN")}, False),
        ("a != 1", {"a": float("nan")}, True),
        ("a < 1", {"a": Decimal("sNaN")}, False),
    ],
)
def test_evaluates(text: str, row: dict[str, object], expected: bool | None) -> None:
    assert evaluate(parse(text), row) is expected


def test_every_part_is_evaluated_so_a_type_clash_is_never_hidden() -> None:
    # No short circuit: a rule that cannot be evaluated on some rows is always reported.
    with pytest.raises(RuleTypeError):
        evaluate(parse("false and a = 'x'"), {"a": 5})


@pytest.mark.parametrize(
    ("text", "row", "message"),
    [
        ("a = 1", {"a": "1"}, "cannot compare text with number"),
        ("a > 'x'", {"a": 5}, "cannot compare number with text"),
        ("a < true", {"a": False}, "booleans have no order"),
        ("a = 1", {"a": True}, "cannot compare boolean with number"),
        ("a", {"a": 5}, "number used as a condition"),
        ("a = 'soon'", {"a": datetime(2026, 1, 1, tzinfo=UTC)}, "not a timestamp"),
        ("a = '2026-01-01T00:00:00'", {"a": datetime(2026, 1, 1, tzinfo=UTC)}, "time zone"),
        ("a = 1", {}, "column 'a' was not read"),
        ("a = b", {"a": date(2026, 1, 1), "b": datetime(2026, 1, 1, tzinfo=UTC)}, "cannot compare"),
    ],
)
def test_type_clashes_are_errors_naming_types_not_values(
    text: str, row: dict[str, object], message: str
) -> None:
    with pytest.raises(RuleTypeError) as error:
        evaluate(parse(text), row)
    assert message in str(error.value)
    for value in row.values():
        if isinstance(value, str) and value:
            assert value not in str(error.value)


def test_timestamps_compare_as_instants() -> None:
    moment = datetime(2026, 1, 1, 12, tzinfo=UTC)
    later = moment + timedelta(seconds=1)
    assert evaluate(parse("a < b"), {"a": moment, "b": later}) is True
