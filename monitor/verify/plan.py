"""A verification range cut into windows, and windows grouped into shards (pure)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.model import Window


@dataclass(frozen=True, slots=True)
class Shard:
    index: int
    windows: tuple[Window, ...]


@dataclass(frozen=True, slots=True)
class VerifyPlan:
    """`[start, end)` in windows of `window` (the last one may be shorter), `shard_windows`
    consecutive windows to a shard. A run keeps the plan it started with, so a resumed run
    cuts its range exactly as the interrupted one did."""

    start: datetime
    end: datetime
    window: timedelta
    shard_windows: int

    def __post_init__(self) -> None:
        if self.start >= self.end:
            raise ValueError("a verification range must end after it starts")
        if self.window <= timedelta(0) or self.shard_windows < 1:
            raise ValueError("windows and shards must not be empty")

    def windows(self) -> list[Window]:
        edges: list[datetime] = []
        moment = self.start
        while moment < self.end:
            edges.append(moment)
            moment += self.window
        edges.append(self.end)
        return [Window(lo, hi) for lo, hi in zip(edges, edges[1:], strict=False)]

    def shards(self) -> list[Shard]:
        windows = self.windows()
        size = self.shard_windows
        return [
            Shard(i // size, tuple(windows[i : i + size])) for i in range(0, len(windows), size)
        ]


def shard_lock_key(schema: str, run_id: int, shard: int) -> int:
    """The advisory lock key of one shard of one run: a signed 64-bit hash, distinct from the
    leader's constant key and from other runs' shards."""
    digest = hashlib.blake2b(f"{schema}/verify/{run_id}/{shard}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big", signed=True)
