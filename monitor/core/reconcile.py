"""The diff of two key -> status maps: what is missing on either side, what diverges (pure).

Both sides are key-unique here: SQL by its primary key; DynamoDB, where the key is an ordinary
attribute and can repeat, keeps repeats apart (`SliceRead.duplicates`), each of them missing in
SQL, so a slice diffs as a multiset difference.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from monitor.model import KeyStatus, KeyValue


@dataclass(slots=True)
class KeyDiff:
    missing_in_dynamodb: list[KeyStatus] = field(default_factory=list)
    missing_in_sql: list[KeyStatus] = field(default_factory=list)
    #: (sql side, dynamodb side) of keys present in both with different write statuses.
    status_divergent: list[tuple[KeyStatus, KeyStatus]] = field(default_factory=list)
    #: Keys present in both stores.
    matched: int = 0


def diff_maps(
    sql: Mapping[KeyValue, str | None],
    dynamodb: Mapping[KeyValue, str | None],
) -> KeyDiff:
    """Set operations over the maps' items, in C: `check counts` diffs every record of its
    window, and a sorted merge of one object per record cost more CPU than reading them."""
    out = KeyDiff()
    # Pairs on one side only: the key is absent from the other side, or its status differs.
    for key, status in sql.items() - dynamodb.items():
        if key in dynamodb:
            out.status_divergent.append((KeyStatus(key, status), KeyStatus(key, dynamodb[key])))
        else:
            out.missing_in_dynamodb.append(KeyStatus(key, status))
    for key, status in dynamodb.items() - sql.items():
        if key not in sql:
            out.missing_in_sql.append(KeyStatus(key, status))
    out.matched = len(sql) - len(out.missing_in_dynamodb)
    return out
