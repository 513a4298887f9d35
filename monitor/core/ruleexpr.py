"""A small, safe expression language for business rules, evaluated on a SQL row.

    is_success = false
    error_message is not null and (status_code = '500' or status_code = '503')
    not (processing_time_ms < 0) and log_timestamp >= '2026-01-01T00:00:00Z'

Grammar (keywords are case-insensitive; `and` binds tighter than `or`; `not` looser than a
comparison)::

    expr       := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | predicate
    predicate  := "(" expr ")" | operand [ op operand | "is" ["not"] "null" ]
    op         := "=" | "!=" | "<>" | "<" | "<=" | ">" | ">="
    operand    := column | 'text' | number | true | false

Text literals use single or double quotes; a quote is doubled to escape it ('it''s'). Numbers
are exact (`Decimal`). There is no `eval`, no function call, no attribute access: a parse error
is a `RuleSyntaxError` that says where.

Evaluation follows SQL's three-valued logic: a comparison with NULL is unknown (`None`), and
`and`/`or`/`not` are Kleene's. Comparing values that cannot be compared (text with a number)
raises `RuleTypeError`, which names the types, never the values.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Final, TypeAlias

__all__ = [
    "And",
    "Column",
    "Compare",
    "Expr",
    "IsNull",
    "Literal",
    "Not",
    "Or",
    "RuleSyntaxError",
    "RuleTypeError",
    "columns_of",
    "evaluate",
    "parse",
    "render",
]

#: Longer rule text is refused: a rule is one line of config, not a program.
MAX_LENGTH: Final = 2000
#: Parentheses and `not` nest at most this deep (the parser is recursive).
MAX_DEPTH: Final = 50

LiteralValue: TypeAlias = str | int | Decimal | bool
Operator: TypeAlias = str

_OPERATORS: Final = ("=", "!=", "<", "<=", ">", ">=")
_KEYWORDS: Final = frozenset({"and", "or", "not", "is", "null", "true", "false"})
_IDENTIFIER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)
_NUMBER: Final = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
#: A column is a plain SQL identifier of at most 63 bytes (PostgreSQL's limit).
_MAX_IDENTIFIER: Final = 63


class RuleSyntaxError(ValueError):
    """Rule text that does not parse; the message gives the position and what was expected."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} at character {position + 1}")
        self.position = position


class RuleTypeError(ValueError):
    """Two values a rule compares cannot be compared (e.g. text with a number)."""


# --- the tree ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Column:
    name: str


@dataclass(frozen=True, slots=True)
class Literal:
    value: LiteralValue

    @property
    def kind(self) -> str:
        if isinstance(self.value, bool):
            return "boolean"
        return "text" if isinstance(self.value, str) else "number"

    def __eq__(self, other: object) -> bool:
        # True == 1 in Python; a rule's `true` and `1` are different literals (1 and 1.0 are not).
        return isinstance(other, Literal) and self.kind == other.kind and self.value == other.value

    def __hash__(self) -> int:
        return hash((self.kind, self.value))


Operand: TypeAlias = Column | Literal


@dataclass(frozen=True, slots=True)
class Compare:
    op: Operator
    left: Operand
    right: Operand


@dataclass(frozen=True, slots=True)
class IsNull:
    operand: Operand
    negated: bool = False


@dataclass(frozen=True, slots=True)
class Not:
    expr: Expr


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Expr, ...]


#: A bare operand is a predicate too (`is_success`, `true`): its value must be a boolean.
Expr: TypeAlias = Column | Literal | Compare | IsNull | Not | And | Or


# --- tokens -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "ident", "keyword", "string", "number", "op", "(", ")", "end"
    text: str
    position: int
    value: LiteralValue | None = None


def _tokens(source: str) -> list[_Token]:
    out: list[_Token] = []
    index = 0
    length = len(source)
    while index < length:
        char = source[index]
        if char.isspace():
            index += 1
            continue
        if char in "()":
            out.append(_Token(char, char, index))
            index += 1
            continue
        if char in "'\"":
            text, end = _string(source, index)
            out.append(_Token("string", source[index:end], index, text))
            index = end
            continue
        number = _NUMBER.match(source, index)
        if number and (char.isdigit() or char in ".-"):
            index = number.end()
            if index < length and (source[index].isalnum() or source[index] == "_"):
                raise RuleSyntaxError("a number runs into a name", index)
            start = number.start()
            out.append(_Token("number", number.group(), start, _number(number.group(), start)))
            continue
        name = _IDENTIFIER.match(source, index)
        if name:
            word = name.group()
            if word.lower() in _KEYWORDS:
                out.append(_Token("keyword", word.lower(), index))
            else:
                if len(word) > _MAX_IDENTIFIER:
                    raise RuleSyntaxError(f"a column name longer than {_MAX_IDENTIFIER}", index)
                out.append(_Token("ident", word, index))
            index = name.end()
            continue
        operator = _operator(source, index)
        if operator is not None:
            out.append(_Token("op", operator[0], index))
            index += operator[1]
            continue
        # Say what kind of character, not the character itself: it may be data pasted in.
        raise RuleSyntaxError("unexpected character", index)
    out.append(_Token("end", "", length))
    return out


def _operator(source: str, index: int) -> tuple[str, int] | None:
    pair = source[index : index + 2]
    if pair in ("!=", "<>"):
        return "!=", 2
    if pair in ("<=", ">="):
        return pair, 2
    if pair == "==":
        raise RuleSyntaxError("use = (not ==) to compare", index)
    if source[index] in "=<>":
        return source[index], 1
    return None


def _string(source: str, start: int) -> tuple[str, int]:
    quote = source[start]
    parts: list[str] = []
    index = start + 1
    while True:
        end = source.find(quote, index)
        if end < 0:
            raise RuleSyntaxError("unterminated text literal", start)
        parts.append(source[index:end])
        if source[end + 1 : end + 2] == quote:  # a doubled quote is one quote
            parts.append(quote)
            index = end + 2
            continue
        return "".join(parts), end + 1


def _number(text: str, position: int) -> int | Decimal:
    try:
        if re.fullmatch(r"-?\d+", text):
            return int(text)
        return Decimal(text)
    except (ValueError, InvalidOperation):  # e.g. more digits than int() converts
        raise RuleSyntaxError("a number that cannot be read", position) from None


# --- the parser -------------------------------------------------------------------------


class _Parser:
    def __init__(self, source: str) -> None:
        self.tokens = _tokens(source)
        self.index = 0
        self.depth = 0

    @property
    def current(self) -> _Token:
        return self.tokens[self.index]

    def take(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def at_keyword(self, word: str) -> bool:
        return self.current.kind == "keyword" and self.current.text == word

    def expect_keyword(self, word: str) -> None:
        if not self.at_keyword(word):
            raise self.error(f"expected `{word}`")
        self.take()

    def error(self, expected: str) -> RuleSyntaxError:
        token = self.current
        found = "the end" if token.kind == "end" else _describe(token)
        return RuleSyntaxError(f"{expected}, found {found}", token.position)

    def nested(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise RuleSyntaxError(f"nested more than {MAX_DEPTH} deep", self.current.position)

    def expr(self) -> Expr:
        items = [self.and_expr()]
        while self.at_keyword("or"):
            self.take()
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_expr(self) -> Expr:
        items = [self.not_expr()]
        while self.at_keyword("and"):
            self.take()
            items.append(self.not_expr())
        return items[0] if len(items) == 1 else And(tuple(items))

    def not_expr(self) -> Expr:
        if self.at_keyword("not"):
            self.take()
            self.nested()
            inner = self.not_expr()
            self.depth -= 1
            return Not(inner)
        return self.predicate()

    def predicate(self) -> Expr:
        if self.current.kind == "(":
            self.take()
            self.nested()
            inner = self.expr()
            self.depth -= 1
            if self.current.kind != ")":
                raise self.error("expected `)`")
            self.take()
            return inner
        left = self.operand()
        if self.current.kind == "op":
            op = self.take().text
            return Compare(op, left, self.operand())
        if self.at_keyword("is"):
            self.take()
            negated = self.at_keyword("not")
            if negated:
                self.take()
            self.expect_keyword("null")
            return IsNull(left, negated)
        return left

    def operand(self) -> Operand:
        token = self.current
        if token.kind == "ident":
            self.take()
            return Column(token.text)
        if token.kind in ("string", "number"):
            self.take()
            assert token.value is not None
            return Literal(token.value)
        if token.kind == "keyword" and token.text in ("true", "false"):
            self.take()
            return Literal(token.text == "true")
        if token.kind == "keyword" and token.text == "null":
            raise RuleSyntaxError(
                "null is not a value here; write `x is null` or `x is not null`", token.position
            )
        raise self.error("expected a column, a text, a number, true or false")


def _describe(token: _Token) -> str:
    if token.kind in ("keyword", "op", "(", ")"):
        return f"`{token.text}`"
    if token.kind == "ident":
        return "a column name"
    return f"a {token.kind}"


def parse(source: str) -> Expr:
    """Parse rule text; raises RuleSyntaxError (never anything else) when it is not a rule."""
    if not isinstance(source, str):
        raise RuleSyntaxError("a rule must be text", 0)
    if len(source) > MAX_LENGTH:
        raise RuleSyntaxError(f"longer than {MAX_LENGTH} characters", MAX_LENGTH)
    parser = _Parser(source)
    if parser.current.kind == "end":
        raise RuleSyntaxError("empty rule", 0)
    tree = parser.expr()
    if parser.current.kind != "end":
        raise parser.error("expected `and`, `or` or the end")
    return tree


# --- rendering (canonical text; parse(render(e)) == e) -----------------------------------


def _render_literal(value: LiteralValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal):
        return str(value)
    return "'" + value.replace("'", "''") + "'"


def _render_operand(operand: Operand) -> str:
    if isinstance(operand, Column):
        return operand.name
    return _render_literal(operand.value)


def render(expr: Expr) -> str:
    """Canonical text of a rule: keywords lower case, single quotes, compound parts in parens."""

    def child(item: Expr) -> str:
        text = render(item)
        return f"({text})" if isinstance(item, And | Or) else text

    if isinstance(expr, Column | Literal):
        return _render_operand(expr)
    if isinstance(expr, Compare):
        return f"{_render_operand(expr.left)} {expr.op} {_render_operand(expr.right)}"
    if isinstance(expr, IsNull):
        return f"{_render_operand(expr.operand)} is {'not ' if expr.negated else ''}null"
    if isinstance(expr, Not):
        return f"not {child(expr.expr)}"
    if isinstance(expr, And):
        return " and ".join(child(item) for item in expr.items)
    return " or ".join(child(item) for item in expr.items)


def columns_of(expr: Expr) -> frozenset[str]:
    """Every column a rule reads (the SQL read selects exactly these, plus the key)."""
    if isinstance(expr, Column):
        return frozenset({expr.name})
    if isinstance(expr, Literal):
        return frozenset()
    if isinstance(expr, Compare):
        return columns_of(expr.left) | columns_of(expr.right)
    if isinstance(expr, IsNull):
        return columns_of(expr.operand)
    if isinstance(expr, Not):
        return columns_of(expr.expr)
    return frozenset().union(*(columns_of(item) for item in expr.items))


# --- evaluation (SQL three-valued logic) ---------------------------------------------------


def value_kind(value: object) -> str:
    """A SQL value's kind in words (`boolean`, `number`, `text`, `binary`, `timestamp`, `date`)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float | Decimal):
        return "number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, bytes | bytearray | memoryview):
        return "binary"
    if isinstance(value, datetime):
        return "timestamp"
    if isinstance(value, date):
        return "date"
    return type(value).__name__


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _time_literal(text: str, like: datetime | date) -> datetime | date:
    try:
        if not isinstance(like, datetime):
            return date.fromisoformat(text)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise RuleTypeError(f"a text literal is not a {value_kind(like)}") from None
    if (moment.utcoffset() is None) != (like.utcoffset() is None):
        raise RuleTypeError("a timestamp literal needs a time zone (e.g. Z)")
    return moment


_ORDER: Final[dict[str, Callable[[int], bool]]] = {
    "=": lambda c: c == 0,
    "!=": lambda c: c != 0,
    "<": lambda c: c < 0,
    "<=": lambda c: c <= 0,
    ">": lambda c: c > 0,
    ">=": lambda c: c >= 0,
}


def _compare(op: str, left: object, right: object) -> bool | None:
    if left is None or right is None:
        return None
    # A time column compared with a text literal reads the literal as a time.
    if isinstance(left, datetime | date) and isinstance(right, str):
        right = _time_literal(right, left)
    elif isinstance(right, datetime | date) and isinstance(left, str):
        left = _time_literal(left, right)
    if _is_number(left) and _is_number(right):
        a, b = Decimal(repr(left)) if isinstance(left, float) else left, right
        b = Decimal(repr(b)) if isinstance(b, float) else b
        assert isinstance(a, int | Decimal) and isinstance(b, int | Decimal)
        if (isinstance(a, Decimal) and a.is_nan()) or (isinstance(b, Decimal) and b.is_nan()):
            # NaN is equal to nothing and has no order: only != is known.
            return op == "!="
        return _ORDER[op]((a > b) - (a < b))
    if isinstance(left, bool) and isinstance(right, bool):
        if op not in ("=", "!="):
            raise RuleTypeError(f"booleans have no order (`{op}`)")
        return (left == right) == (op == "=")
    same_kind = (
        (isinstance(left, str) and isinstance(right, str))
        or (isinstance(left, datetime) and isinstance(right, datetime))
        or (
            isinstance(left, date)
            and isinstance(right, date)
            and not isinstance(left, datetime)
            and not isinstance(right, datetime)
        )
    )
    if not same_kind:
        raise RuleTypeError(f"cannot compare {value_kind(left)} with {value_kind(right)}")
    try:
        order = (left > right) - (left < right)  # type: ignore[operator]
    except TypeError:  # naive vs aware datetimes
        raise RuleTypeError(f"cannot compare {value_kind(left)} with {value_kind(right)}") from None
    return _ORDER[op](order)


def _value(operand: Operand, row: Mapping[str, object]) -> object:
    if isinstance(operand, Literal):
        return operand.value
    if operand.name not in row:
        raise RuleTypeError(f"column {operand.name!r} was not read")
    return row[operand.name]


def evaluate(expr: Expr, row: Mapping[str, object]) -> bool | None:
    """True, False, or None (unknown, because of a NULL). Raises RuleTypeError on a type clash."""
    if isinstance(expr, Column | Literal):
        value = _value(expr, row)
        if value is None or isinstance(value, bool):
            return value
        raise RuleTypeError(f"{value_kind(value)} used as a condition (compare it with a value)")
    if isinstance(expr, Compare):
        return _compare(expr.op, _value(expr.left, row), _value(expr.right, row))
    if isinstance(expr, IsNull):
        return (_value(expr.operand, row) is None) != expr.negated
    if isinstance(expr, Not):
        inner = evaluate(expr.expr, row)
        return None if inner is None else not inner
    results = [evaluate(item, row) for item in expr.items]
    if isinstance(expr, And):
        if False in results:
            return False
        return None if None in results else True
    if True in results:
        return True
    return None if None in results else False
