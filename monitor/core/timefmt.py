"""The strftime directives a key template may use, and the time buckets they cut: one table.

A directive's place in `DIRECTIVES` is its significance (`%Y` first). A format whose directives
run from `%Y` down without a gap sorts as text exactly as its times sort; the last directive of a
partition key's format says how often the key changes (its bucket), that of a sort key's format
the finest step a time range can be cut at.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


@dataclass(frozen=True, slots=True)
class Directive:
    code: str
    #: What it renders as, for parsing a key back.
    pattern: str
    #: The bucket it closes: the partition key changes when this unit changes.
    granularity: str
    #: The time step it can express (None: a month or a year, which have no fixed length).
    step: timedelta | None


DIRECTIVES: tuple[Directive, ...] = (
    Directive("%Y", r"\d{4}", "year", None),
    Directive("%m", r"\d{2}", "month", None),
    Directive("%d", r"\d{2}", "day", timedelta(days=1)),
    Directive("%H", r"\d{2}", "hour", timedelta(hours=1)),
    Directive("%M", r"\d{2}", "minute", timedelta(minutes=1)),
    Directive("%S", r"\d{2}", "second", timedelta(seconds=1)),
    Directive("%f", r"\d{6}", "microsecond", timedelta(microseconds=1)),
)
BY_CODE = {d.code: d for d in DIRECTIVES}
_ORDER = [d.code for d in DIRECTIVES]


def directives(fmt: str) -> list[str]:
    """Every `%x` of a format, in order."""
    return re.findall(r"%.", fmt)


def format_pattern(fmt: str) -> str:
    """A regex for a format made of the directives above; ValueError names one that is not."""
    pattern: list[str] = []
    index = 0
    while index < len(fmt):
        if fmt[index] == "%":
            code = fmt[index : index + 2]
            directive = BY_CODE.get(code)
            if directive is None:
                raise ValueError(code)
            pattern.append(directive.pattern)
            index += 2
        else:
            pattern.append(re.escape(fmt[index]))
            index += 1
    return "".join(pattern)


def is_sortable(fmt: str) -> bool:
    """True when the directives go from most to least significant with no gap (lexical = time)."""
    found = directives(fmt)
    return bool(found) and found == _ORDER[: len(found)]


def last_granularity(fmt: str) -> str:
    """The bucket the format's last directive closes (its formats are sortable)."""
    return BY_CODE[directives(fmt)[-1]].granularity


def finest_granularity(fmt: str | None) -> str | None:
    """The bucket of the finest directive the format has, wherever it stands; None without one."""
    found = [d for d in directives(fmt or "") if d in BY_CODE]
    return None if not found else BY_CODE[max(found, key=_ORDER.index)].granularity


def resolution(fmt: str) -> timedelta:
    """The finest step the format's last directive can express (a day for months and years)."""
    step = BY_CODE[directives(fmt)[-1]].step
    return timedelta(days=1) if step is None else step


def format_time(moment: datetime, fmt: str) -> str:
    return moment.astimezone(UTC).strftime(fmt)


def truncate(moment: datetime, granularity: str) -> datetime:
    """The start of the bucket `moment` falls in."""
    moment = moment.astimezone(UTC)
    if granularity == "year":
        return moment.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    if granularity == "month":
        return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if granularity == "day":
        return moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if granularity == "hour":
        return moment.replace(minute=0, second=0, microsecond=0)
    if granularity == "minute":
        return moment.replace(second=0, microsecond=0)
    if granularity == "second":
        return moment.replace(microsecond=0)
    return moment


def next_bucket(start: datetime, granularity: str) -> datetime:
    """The start of the bucket after the one that starts at `start`."""
    if granularity == "year":
        return start.replace(year=start.year + 1)
    if granularity == "month":
        return (
            start.replace(year=start.year + 1, month=1)
            if start.month == 12
            else start.replace(month=start.month + 1)
        )
    step = BY_CODE[_ORDER[[d.granularity for d in DIRECTIVES].index(granularity)]].step
    assert step is not None
    return start + step


def translate_time_format(
    fmt: str, patterns: Mapping[str, str], literal: Callable[[str], str]
) -> str:
    """A format of the directives above in another engine's language (PostgreSQL's to_char,
    Spark's datetime patterns): each directive by `patterns`, any other character through
    `literal` (its quoting)."""
    out: list[str] = []
    index = 0
    while index < len(fmt):
        code = fmt[index : index + 2]
        if code in patterns:
            out.append(patterns[code])
            index += 2
        else:
            out.append(literal(fmt[index]))
            index += 1
    return "".join(out)
