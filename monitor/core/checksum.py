"""The (key, status) hash both stores are summed with (pure).

PostgreSQL computes the same value in SQL (`PostgresStore.bucket_checksums`): the first 8 bytes
of the MD5 of `<length of key text>:<key text><status>`, read as a signed 64-bit integer. The
length prefix keeps `("a|", "b")` and `("a", "|b")` apart. Sums are exact integers, so equal
counts and sums mean equal sets but for a 64-bit collision; anything else falls back to the
key diff, which decides.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from monitor.model import KeyStatus, KeyValue


def key_status_hash(key: KeyValue, status: str | None) -> int:
    text = str(key)
    data = f"{len(text)}:{text}{status or ''}".encode()
    return int.from_bytes(hashlib.md5(data, usedforsecurity=False).digest()[:8], "big", signed=True)


def checksum(entries: Iterable[KeyStatus]) -> int:
    return sum(key_status_hash(e.key, e.status) for e in entries)
