"""Building blocks of the configuration schema: durations, identifiers, URLs, the frozen `Section`."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
)

from monitor.core.mapping import (
    is_sql_identifier,
)

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")


_UNIT = {
    "ms": timedelta(milliseconds=1),
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
}


def parse_duration(value: Any) -> timedelta:
    """ "90s", "5m", "1h30m", "250ms" -> timedelta. Anything else is an error that says the form."""
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str):
        raise ValueError(f'expected a duration string such as "90s" or "5m", got {value!r}')
    text = value.strip()
    parts = _DURATION_PART.findall(text)
    if not text or "".join(n + u for n, u in parts) != text:
        raise ValueError(f'{value!r} is not a duration; write e.g. "90s", "5m", "1h", "1h30m"')
    return sum((float(n) * _UNIT[u] for n, u in parts), timedelta())


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


def identifier(value: str) -> str:
    if not is_sql_identifier(value):
        raise ValueError(
            f"{value!r} is not a safe SQL identifier (letters, digits and _, not starting with a digit)"
        )
    return value


def _qualified_identifier(value: str) -> str:
    parts = value.split(".")
    if len(parts) > 2 or not all(is_sql_identifier(p) for p in parts):
        raise ValueError(
            f"{value!r} is not a safe SQL table name (identifier or schema.identifier)"
        )
    return value


Identifier = Annotated[str, BeforeValidator(identifier)]


QualifiedIdentifier = Annotated[str, BeforeValidator(_qualified_identifier)]


Attribute = Annotated[str, Field(min_length=1, max_length=255)]


def http_url(value: str) -> str:
    """An endpoint override: empty (the AWS default) or an http(s) URL."""
    if value and not re.match(r"^https?://[^\s/]+", value):
        raise ValueError(f"{value!r} is not an http(s) URL")
    return value


class Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def status_value(value: str) -> str:
    # Spliced into the partial index's predicate as an escape-string literal (quote_literal):
    # any text is safe there, but PostgreSQL text cannot hold NUL.
    if "\x00" in value:
        raise ValueError("a status value cannot contain a NUL character")
    return value


StatusValue = Annotated[str, Field(min_length=1, max_length=255), AfterValidator(status_value)]


def absolute_url(value: str, why: str) -> str:
    """Empty, or an absolute http(s) URL (a relative path is not a link anyone can open)."""
    if value and not re.match(r"^https?://[^\s/]+[^\s]*$", value):
        raise ValueError(f"{value!r} is not an absolute http(s) URL ({why})")
    return value


def positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be longer than zero")
    return value
