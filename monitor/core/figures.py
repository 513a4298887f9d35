"""A report's figures as a typed value, and the one place they become (and come back from) the
JSON `summary` of CONTRACT §4.

Each check declares its figures as a frozen, keyword-only dataclass deriving from `Figures`;
metrics and alert rules read its attributes, so a misspelt figure is a type error, not a
missing metric. The JSON key of a field is its name, in declaration order (a subclass's fields
follow its base's). Values serialise as JSON does them: an `Interval` as `{"point", "lower",
"upper"}`, a mapping as an object, a tuple as a list, nested figures as an object. Two field
options say how a figure sits in the summary:

- `spread()`: nested figures (the counts-shaped figures `verify` shares with `counts`), or a
  mapping (details one path adds, such as an export's), whose entries stand beside the other
  keys instead of under a key of their own;
- `omitted_when_none()`: a figure only some runs have (absent from the summary, not `null`).

Pure: nothing here reads a store.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, Self

from monitor.core.stats import Interval

_SPREAD = "dualwrite.spread"
_OMITTED = "dualwrite.omitted_when_none"
_INTERVAL_PARTS = ("point", "lower", "upper")


def spread() -> Any:
    """A `Figures` or `Mapping[str, Any]` field whose entries are summary keys of their own."""
    return dataclasses.field(metadata={_SPREAD: True})


def omitted_when_none() -> Any:
    """An optional figure: left out of the summary when None (and None when absent from it)."""
    return dataclasses.field(default=None, metadata={_OMITTED: True})


class Figures:
    """Base of every report's figures (a frozen dataclass with `kw_only=True`)."""

    __slots__ = ()

    def to_summary(self) -> dict[str, Any]:
        """The JSON `summary`: every figure under its name, in declaration order."""
        out: dict[str, Any] = {}
        for spec in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, spec.name)
            if spec.metadata.get(_OMITTED) and value is None:
                continue
            if spec.metadata.get(_SPREAD):
                entries = value.to_summary() if isinstance(value, Figures) else value
                out.update((str(k), _json(v)) for k, v in entries.items())
            else:
                out[spec.name] = _json(value)
        return out

    @classmethod
    def from_summary(cls, summary: Mapping[str, Any]) -> Self:
        """The figures a JSON `summary` holds. Raises ValueError naming a missing or mistyped
        figure (a summary is never read by guessing)."""
        hints = _hints(cls)
        named = _names(cls)
        spreads_mapping = any(
            spec.metadata.get(_SPREAD) and not _is_figures(hints[spec.name])
            for spec in dataclasses.fields(cls)  # type: ignore[arg-type]
        )
        unknown = [k for k in summary if k not in named]
        if unknown and not spreads_mapping:
            raise ValueError(f"{cls.__name__} has no figure {unknown[0]!r}")
        values: dict[str, Any] = {}
        for spec in dataclasses.fields(cls):  # type: ignore[arg-type]
            hint = hints[spec.name]
            if spec.metadata.get(_SPREAD) and _is_figures(hint):
                own = _names(hint)
                values[spec.name] = hint.from_summary({k: summary[k] for k in summary if k in own})
            elif spec.metadata.get(_SPREAD):
                values[spec.name] = {k: v for k, v in summary.items() if k not in named}
            elif spec.name in summary:
                values[spec.name] = _parse(summary[spec.name], hint, spec.name)
            elif not spec.metadata.get(_OMITTED):
                raise ValueError(f"the summary has no figure {spec.name!r}")
        return cls(**values)


def _json(value: Any) -> Any:
    if isinstance(value, Interval):
        return {part: getattr(value, part) for part in _INTERVAL_PARTS}
    if isinstance(value, Figures):
        return value.to_summary()
    if isinstance(value, Mapping):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_json(v) for v in value]
    return value


#: Resolved field types per figures class (resolving annotations is slow, classes are few).
_HINTS: dict[type[Figures], dict[str, Any]] = {}


def _hints(cls: type[Figures]) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    return hints


def _names(cls: type[Figures]) -> set[str]:
    """The summary keys the figures name (those of spread figures included)."""
    names: set[str] = set()
    for spec in dataclasses.fields(cls):  # type: ignore[arg-type]
        hint = _hints(cls)[spec.name]
        if not spec.metadata.get(_SPREAD):
            names.add(spec.name)
        elif _is_figures(hint):
            names |= _names(hint)
    return names


def _is_figures(hint: Any) -> bool:
    return isinstance(hint, type) and issubclass(hint, Figures)


def _parse(value: Any, hint: Any, name: str) -> Any:
    """`value` (from JSON) as the type `hint` declares, or ValueError."""
    origin = typing.get_origin(hint)
    if origin is types.UnionType or origin is typing.Union:
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _parse(value, option, name)
            except ValueError as exc:
                errors.append(str(exc))
        raise ValueError(errors[0] if errors else f"figure {name!r} is not {hint}")
    if hint is Any:
        return value
    if hint is Interval:
        if not isinstance(value, Mapping):
            raise ValueError(f"figure {name!r} is not an interval")
        point, lower, upper = (_parse(value.get(p), float, f"{name}.{p}") for p in _INTERVAL_PARTS)
        return Interval(point, lower, upper)
    if _is_figures(hint):
        if not isinstance(value, Mapping):
            raise ValueError(f"figure {name!r} is not an object")
        return hint.from_summary(value)
    if origin is not None and issubclass(origin, Mapping):
        key_type, value_type = typing.get_args(hint)
        if not isinstance(value, Mapping):
            raise ValueError(f"figure {name!r} is not an object")
        return {
            _parse(k, key_type, name): _parse(v, value_type, f"{name}.{k}")
            for k, v in value.items()
        }
    if origin is tuple:
        item_type = typing.get_args(hint)[0]
        if not isinstance(value, list | tuple):
            raise ValueError(f"figure {name!r} is not a list")
        return tuple(_parse(v, item_type, name) for v in value)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"figure {name!r} is not a number")
        return value
    if hint in (int, str, bool):
        if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
            raise ValueError(f"figure {name!r} is not {hint.__name__}")
        return value
    raise ValueError(f"figure {name!r} has a type a summary cannot hold: {hint}")
