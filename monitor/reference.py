"""The documentation's reference tables, derived from the code so that they cannot drift.

`python -m monitor.reference` (what `scripts/gen-docs` runs) rewrites every generated block of
`docs/*.md`; `tests/unit/test_docs.py` fails when a committed block differs from what the code
says now. Generated here:

- the configuration reference: every key of the settings schema in the order of the shipped
  `config.toml`, its type and default taken from the schema, its meaning from the comment that
  `config.toml` carries for it (a key without a comment, or missing from the file, is an error);
- the exit codes, from `monitor.errors.EXIT_CODES`.

A generated block sits between `<!-- generated:NAME ... -->` and `<!-- end generated:NAME -->`.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tomllib
import types
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr

from monitor.config import _ENV_KEYS as ENV_KEYS  # variable -> settings path, as the loader reads
from monitor.config import ENV_PREFIX, Section, Settings
from monitor.errors import EXIT_CODES

REPO = Path(__file__).resolve().parent.parent
#: A default longer than this is shown as a TOML block under its section's table.
_INLINE_LIMIT = 48
_HEADER = re.compile(r"^\[([A-Za-z0-9_.]+)\]\s*(?:#\s?(.*))?$")
_KEY = re.compile(r"^([A-Za-z0-9_]+)\s*=")
_BLOCK = re.compile(
    r"(<!-- generated:(?P<name>[a-z-]+) .*?-->\n)(?P<body>.*?)(<!-- end generated:(?P=name) -->)",
    re.S,
)


class ReferenceError(Exception):
    """The schema and config.toml disagree in a way the reference cannot paper over."""


@dataclass
class TomlSection:
    """One `[table]` of config.toml: its comment and its keys' comments, in file order."""

    path: tuple[str, ...]
    intro: str = ""
    keys: dict[str, str] = field(default_factory=dict)


def parse_config_comments(text: str) -> list[TomlSection]:
    """The sections of a commented config.toml, with the comment each key carries.

    A key's comment is the block of `#` lines right above it plus the comment after its value.
    The `#` lines right after a section header, followed by a blank line, describe the section
    (as does a comment on the header line).
    """
    sections: list[TomlSection] = []
    comment: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        i += 1
        if line.startswith("#"):
            comment.append(line.lstrip("#").strip())
            continue
        if not line:
            if sections and comment and not sections[-1].keys and not sections[-1].intro:
                sections[-1].intro = " ".join(comment)
            comment = []
            continue
        header = _HEADER.match(line)
        if header:
            sections.append(TomlSection(tuple(header[1].split(".")), intro=header[2] or ""))
            comment = []
            continue
        key = _KEY.match(line)
        if key is None or not sections:
            raise ReferenceError(f"config.toml line {i}: not a key or a section: {line!r}")
        _, trailing, i = _value_and_comment(line, lines, i)
        sections[-1].keys[key[1]] = " ".join([*comment, *([trailing] if trailing else [])])
        comment = []
    return sections


def _value_and_comment(line: str, lines: Sequence[str], i: int) -> tuple[str, str, int]:
    """The key's whole `key = value` text (a multi-line array included), and its comment."""
    for at in [m.start() for m in re.finditer("#", line)] + [len(line)]:
        if _parses(line[:at]):
            return line[:at], line[at:].lstrip("#").strip(), i
    text = line
    while i < len(lines):
        text += "\n" + lines[i]
        i += 1
        if _parses(text):
            return text, "", i
    raise ReferenceError(f"config.toml: the value of {line!r} never ends")


def _parses(text: str) -> bool:
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return False
    return True


# --- values as TOML ----------------------------------------------------------------------


def format_duration(value: timedelta) -> str:
    """A timedelta as config.toml writes it: "250ms", "90s" -> "1m30s", "5m", "1h30m"."""
    millis = round(value.total_seconds() * 1000)
    if millis % 1000:
        return f"{millis}ms"
    seconds = millis // 1000
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def toml_value(value: Any) -> str:
    """A default as TOML text (inline tables and arrays on one line)."""
    if isinstance(value, SecretStr):
        return toml_value(value.get_secret_value())
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, timedelta):
        return json.dumps(format_duration(value))
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, BaseModel):
        return toml_value(_explicit(value))
    if isinstance(value, Mapping):
        inner = ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items() if v is not None)
        return "{ " + inner + " }" if inner else "{}"
    if isinstance(value, tuple | list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise ReferenceError(f"no TOML form for {value!r}")


def _explicit(model: BaseModel) -> dict[str, Any]:
    """A model's fields without those left at their own default (as a user would write it)."""
    out: dict[str, Any] = {}
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        if info.is_required() or value != info.get_default(call_default_factory=True):
            out[name] = value
    return out


def toml_block(key: str, value: Any) -> str:
    """`key = value` with an array of tables written one element per line."""
    if isinstance(value, tuple | list) and value:
        items = "".join(f"  {toml_value(v)},\n" for v in value)
        return f"{key} = [\n{items}]"
    return f"{key} = {toml_value(value)}"


def type_name(annotation: Any) -> str:
    """What a user writes for a field, from its annotation."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return type_name(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        names = [type_name(a) for a in typing.get_args(annotation) if a is not type(None)]
        return " or ".join(dict.fromkeys(names))
    if origin is typing.Literal:
        return "one of " + ", ".join(json.dumps(a) for a in typing.get_args(annotation))
    if origin is tuple:
        inner = typing.get_args(annotation)[0]
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            return "array of tables"
        return f"array of {type_name(inner)}s"
    if origin is dict:
        return f"table of {type_name(typing.get_args(annotation)[1])}"
    simple = {
        bool: "boolean",
        int: "integer",
        float: "number",
        str: "string",
        SecretStr: "string (secret)",
        timedelta: "duration",
    }
    if annotation in simple:
        return simple[annotation]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "table"
    raise ReferenceError(f"no type name for {annotation!r}")


# --- the configuration reference ---------------------------------------------------------


def _model_at(path: Sequence[str]) -> type[BaseModel]:
    model: type[BaseModel] = Settings
    for part in path:
        annotation = model.model_fields[part].annotation
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            raise ReferenceError(f"[{'.'.join(path)}] in config.toml is not a section")
        model = annotation
    return model


def _default_at(path: Sequence[str]) -> Any:
    value: Any = Settings()
    for part in path:
        value = getattr(value, part)
    return value


def _md(text: str) -> str:
    """Comment text for a table cell: pipes escaped, `<...>` shown outside code spans."""
    parts = text.split("`")
    for n in range(0, len(parts), 2):
        parts[n] = parts[n].replace("<", "&lt;").replace(">", "&gt;")
    return "`".join(parts).replace("|", "\\|")


def config_reference(config_text: str) -> str:
    """The generated body of docs/configuration.md's reference, from the schema + config.toml."""
    sections = parse_config_comments(config_text)
    headers = {s.path for s in sections}
    written = {(*s.path, key) for s in sections for key in s.keys}
    _check_complete(Settings, (), headers, written)
    out: list[str] = []
    for section in sections:
        model = _model_at(section.path)
        name = ".".join(section.path)
        out.append(f"### `[{name}]` {{#{name.replace('.', '-')}}}\n")
        if section.intro:
            out.append(_md(section.intro) + "\n")
        blocks: list[str] = []
        rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
        for key, comment in section.keys.items():
            if not comment:
                raise ReferenceError(f"config.toml: {name}.{key} has no comment")
            info = model.model_fields[key]
            default = _default_at((*section.path, key))
            if isinstance(default, BaseModel):  # the whole table, not only what differs
                default = {k: getattr(default, k) for k in type(default).model_fields}
            shown = "unset" if default is None else toml_value(default)
            if len(shown) > _INLINE_LIMIT:
                blocks.append(toml_block(key, default))
                shown = "see below"
            elif default is not None:
                shown = "`" + shown.replace("|", "\\|") + "`"
            meaning = _md(comment[:1].upper() + comment[1:])
            rows.append(f"| `{key}` | {type_name(info.annotation)} | {shown} | {meaning} |")
        out.append("\n".join(rows) + "\n")
        if blocks:
            out.append("Defaults:\n\n```toml\n" + "\n".join(blocks) + "\n```\n")
        out.append(_environment(section) + "\n")
    return "\n".join(out)


def _environment(section: TomlSection) -> str:
    """How the section's keys are overridden from the environment (as monitor.config reads it)."""
    prefix = ENV_PREFIX + "_".join(section.path).upper()
    paths = set(ENV_KEYS.values())
    by_field = [key for key in section.keys if (*section.path, key) not in paths]
    if by_field and len(by_field) == len(section.keys):
        example = next(p for p in ENV_KEYS.values() if p[:-1] == (*section.path, by_field[0]))
        name = ENV_PREFIX + "_".join(example).upper()
        return f"Environment: `{prefix}_<KEY>_<FIELD>`, e.g. `{name}`."
    line = f"Environment: `{prefix}_<KEY>`"
    model = _model_at(section.path)
    if any(
        type_name(model.model_fields[key].annotation).endswith(("table", "tables"))
        for key in section.keys
        if key not in by_field
    ):
        line += " (arrays and tables as JSON)"
    for key in by_field:
        line += f"; `{key}` field by field, as `{prefix}_{key.upper()}_<FIELD>`"
    return line + "."


def _check_complete(
    model: type[BaseModel],
    path: tuple[str, ...],
    headers: set[tuple[str, ...]],
    written: set[tuple[str, ...]],
) -> None:
    for name, info in model.model_fields.items():
        here = (*path, name)
        annotation = info.annotation
        is_table = any(header[: len(here)] == here for header in headers)
        if is_table and isinstance(annotation, type) and issubclass(annotation, Section):
            _check_complete(annotation, here, headers, written)
        elif here not in written:
            raise ReferenceError(f"config.toml lacks {'.'.join(here)} (add it with a comment)")


# --- exit codes --------------------------------------------------------------------------


def exit_codes_table() -> str:
    rows = ["| code | meaning |", "|---|---|"]
    rows += [f"| {code} | {_md(meaning)} |" for code, meaning in EXIT_CODES.items()]
    return "\n".join(rows) + "\n"


# --- the generated blocks ----------------------------------------------------------------

GENERATORS: Mapping[str, Callable[[], str]] = {
    "config-reference": lambda: config_reference((REPO / "config.toml").read_text()),
    "exit-codes": exit_codes_table,
}


def generated_blocks(text: str) -> Iterator[tuple[str, str]]:
    """(name, committed body) of every generated block of a page."""
    for match in _BLOCK.finditer(text):
        yield match["name"], match["body"]


def regenerate(text: str) -> str:
    """The page with every generated block rewritten from the code."""

    def fill(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in GENERATORS:
            raise ReferenceError(f"unknown generated block {name!r}")
        return match[1] + GENERATORS[name]().rstrip("\n") + "\n" + match[4]

    return _BLOCK.sub(fill, text)


def pages(docs: Path = REPO / "docs") -> list[Path]:
    return sorted(p for p in docs.glob("*.md") if "<!-- generated:" in p.read_text())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="gen-docs", description="Rewrite the generated blocks of docs/*.md from the code."
    )
    parser.add_argument("--check", action="store_true", help="only say which pages are stale")
    args = parser.parse_args(argv)
    stale = []
    for page in pages():
        text = page.read_text()
        try:
            fresh = regenerate(text)
        except ReferenceError as exc:
            sys.stderr.write(f"gen-docs: {exc}\n")
            return 2
        if fresh != text:
            stale.append(page)
            if not args.check:
                page.write_text(fresh)
    for page in stale:
        verb = "stale" if args.check else "rewritten"
        sys.stderr.write(f"gen-docs: {page.relative_to(REPO)} {verb}\n")
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
