"""Key templates: ``LOG#{service_name}#{log_timestamp:%Y-%m-%d}`` parsed once, rendered from a
row and parsed back from a key. A template names columns; only the timestamp column carries a
time format (`monitor.core.timefmt`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from monitor.core.timefmt import format_pattern, format_time

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}", re.ASCII)
_PLACEHOLDER = re.compile(r"\{([^{}:]*)(?::([^{}]*))?\}")


class TemplateError(ValueError):
    """A key template that cannot be used; the message says why, `template` says which one."""

    def __init__(self, message: str, template: str = "") -> None:
        super().__init__(message)
        self.template = template


class MappingError(ValueError):
    """A row or an item that does not fit the mapping (missing key, wrong type)."""


def pascal_case(name: str) -> str:
    """`log_id` -> `LogId`: the default attribute name of a column."""
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


def is_sql_identifier(name: str) -> bool:
    """A bare identifier we are willing to quote: letters, digits, underscore, at most 63 bytes."""
    # fullmatch: `$` would also match before a trailing newline ("integration_logs\n").
    return isinstance(name, str) and _IDENTIFIER.fullmatch(name) is not None


@dataclass(frozen=True, slots=True)
class Placeholder:
    column: str
    time_format: str | None = None


@dataclass(frozen=True, slots=True)
class KeyTemplate:
    """A parsed key template: literal text and placeholders, rendered and parsed back."""

    source: str
    parts: tuple[str | Placeholder, ...]
    timestamp_column: str
    _pattern: re.Pattern[str] = field(compare=False, repr=False)

    @classmethod
    def parse(cls, source: str, *, timestamp_column: str) -> KeyTemplate:
        parts: list[str | Placeholder] = []
        regex: list[str] = []
        position = 0
        seen: set[str] = set()
        for match in _PLACEHOLDER.finditer(source):
            literal = source[position : match.start()]
            _check_literal(source, literal)
            if literal:
                parts.append(literal)
                regex.append(re.escape(literal))
            column, fmt = match.group(1), match.group(2)
            if not is_sql_identifier(column):
                raise TemplateError(f"{{{column}}} is not a column name in {source!r}")
            if column in seen:
                raise TemplateError(f"column {column!r} appears twice in {source!r}")
            seen.add(column)
            if fmt is not None:
                if column != timestamp_column:
                    raise TemplateError(
                        f"only the timestamp column {timestamp_column!r} may carry a format,"
                        f" not {column!r}, in {source!r}"
                    )
                try:
                    pattern = format_pattern(fmt)
                except ValueError as exc:
                    raise TemplateError(
                        f"time format {exc.args[0]!r} is not supported in {source!r}"
                    ) from None
                regex.append(f"(?P<{column}>{pattern})")
            elif column == timestamp_column:
                raise TemplateError(f"{{{column}}} needs a format such as %Y-%m-%d in {source!r}")
            else:
                regex.append(f"(?P<{column}>.+?)")
            parts.append(Placeholder(column, fmt))
            position = match.end()
        tail = source[position:]
        _check_literal(source, tail)
        if tail:
            parts.append(tail)
            regex.append(re.escape(tail))
        if not any(isinstance(part, Placeholder) for part in parts):
            raise TemplateError(f"{source!r} has no {{column}} placeholder")
        return cls(
            source, tuple(parts), timestamp_column, re.compile("".join(regex), re.DOTALL | re.ASCII)
        )

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(part.column for part in self.parts if isinstance(part, Placeholder))

    @property
    def time_format(self) -> str | None:
        for part in self.parts:
            if isinstance(part, Placeholder) and part.time_format is not None:
                return part.time_format
        return None

    def render(self, values: Mapping[str, Any]) -> str:
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            value = values.get(part.column)
            if value is None:
                raise MappingError(f"{part.column} is null; cannot build key {self.source!r}")
            if part.time_format is not None:
                out.append(format_time(as_utc(value, part.column), part.time_format))
            else:
                out.append(str(value))
        return "".join(out)

    def match(self, rendered: str) -> dict[str, str] | None:
        """The placeholder values of a rendered key, as text; None when it does not fit."""
        found = self._pattern.fullmatch(rendered)
        return None if found is None else found.groupdict()


def _check_literal(source: str, literal: str) -> None:
    if "{" in literal or "}" in literal:
        raise TemplateError(f"unbalanced brace in {source!r}")


def as_utc(value: Any, column: str) -> datetime:
    if not isinstance(value, datetime):
        raise MappingError(f"{column} is not a timestamp")
    if value.tzinfo is None:
        raise MappingError(f"{column} has no time zone; refusing to guess local time")
    return value.astimezone(UTC)
