"""The diff of two key lists sorted by key: what is missing on either side, what diverges.

Pure and streaming-friendly: one pass over two sorted lists, O(n) time, no sets of the window.
Duplicated keys (possible in DynamoDB, where the key is an ordinary attribute) are matched
one to one, so the diff behaves as a multiset difference.
"""

from __future__ import annotations

from collections.abc import Sequence
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


def diff_sorted(sql: Sequence[KeyStatus], dynamodb: Sequence[KeyStatus]) -> KeyDiff:
    """Both inputs sorted by `sort_by_key` (any order among equal keys)."""
    out = KeyDiff()
    i = j = 0
    while i < len(sql) and j < len(dynamodb):
        left, right = sql[i], dynamodb[j]
        if left.key == right.key:
            out.matched += 1
            if left.status != right.status:
                out.status_divergent.append((left, right))
            i += 1
            j += 1
        elif _before(left, right):
            out.missing_in_dynamodb.append(left)
            i += 1
        else:
            out.missing_in_sql.append(right)
            j += 1
    out.missing_in_dynamodb.extend(sql[i:])
    out.missing_in_sql.extend(dynamodb[j:])
    return out


def _order(key: KeyValue) -> tuple[bool, KeyValue]:
    """A total order over keys of both types: numbers first, then text (never a TypeError).

    A table has one key type; the other can still appear in a corrupt item, and must not stop
    the diff of everything else (an int and a str key never match each other).
    """
    return (isinstance(key, str), key)


def _before(left: KeyStatus, right: KeyStatus) -> bool:
    return _order(left.key) < _order(right.key)


def sort_by_key(items: Sequence[KeyStatus]) -> list[KeyStatus]:
    return sorted(items, key=lambda item: _order(item.key))
