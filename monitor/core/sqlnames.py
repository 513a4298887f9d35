"""Names and literals the monitor derives for SQL it writes itself (indexes, predicates).

PostgreSQL truncates an identifier longer than 63 bytes silently (so two derived names could
collide) and a name we refuse must be refused at config load, before `setup` creates anything.
A derived name that would be too long is shortened deterministically: the table's name is cut
and a hash of the full name keeps it unique.
"""

from __future__ import annotations

import hashlib

from monitor.core.mapping import is_sql_identifier

#: PostgreSQL's NAMEDATALEN - 1.
MAX_IDENTIFIER_BYTES = 63
#: The purposes of the indexes the checks rely on (`<table>_dwm_<purpose>`).
INDEX_PURPOSES = ("slice", "window", "pending")


def index_name(table: str, purpose: str) -> str:
    """`integration_logs` + `slice` -> `integration_logs_dwm_slice`, at most 63 bytes.

    `table` may be schema-qualified; the index lives in the table's schema, so only the bare
    name is used. Too long, it becomes `<cut name>_<8 hex of sha256(full name)>_dwm_<purpose>`.
    """
    base = table.split(".")[-1]
    suffix = f"_dwm_{purpose}"
    name = base + suffix
    if len(name.encode()) <= MAX_IDENTIFIER_BYTES:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    keep = MAX_IDENTIFIER_BYTES - len(suffix) - len(digest) - 1
    return f"{base[:keep]}_{digest}{suffix}"


def index_names(table: str) -> dict[str, str]:
    """Purpose -> index name, each checked to be an identifier we can quote (ValueError)."""
    names = {purpose: index_name(table, purpose) for purpose in INDEX_PURPOSES}
    for name in names.values():
        if not is_sql_identifier(name):
            raise ValueError(f"derived index name {name!r} is not a safe SQL identifier")
    return names


def quote_literal(value: str) -> str:
    """A SQL string literal that means `value` whatever `standard_conforming_strings` is.

    An escape string (E'...') treats a backslash as an escape under both settings, so doubling
    backslashes and quotes is exact; a plain '...' literal would read `\\'` as a quote when the
    setting is off and let the value end the string. NUL cannot be stored in text: refused.
    """
    if "\x00" in value:
        raise ValueError("a NUL character cannot appear in a PostgreSQL string")
    return "E'" + value.replace("\\", "\\\\").replace("'", "''") + "'"
