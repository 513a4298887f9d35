"""How far each shard is verified, and which shards may be read (pure).

A shard's checkpoint is the last sequence number such that it and every record before it in
the shard are judged (or superseded by a newer change of the same record). Records are judged
out of order (by age, across shards), so the checkpoint is the end of the judged prefix: a
restart resumes after it and re-reads at most the changes still waiting for their grace.

Shards split: a closed parent is read to its end before its children, so the changes of one
record are seen in order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(slots=True)
class ShardProgress:
    #: (sequence, change time) read and not yet part of the judged prefix, in the shard's order.
    waiting: deque[tuple[str, datetime]] = field(default_factory=deque)
    judged: set[str] = field(default_factory=set)
    #: The end of the judged prefix (None: nothing judged since the start of this shard).
    checkpoint: str | None = None
    #: The time of the change at `checkpoint` (where a gap starts if the stream trims past it).
    checkpoint_at: datetime | None = None

    def read(self, sequence: str, changed_at: datetime) -> None:
        self.waiting.append((sequence, changed_at))

    def judge(self, sequence: str) -> None:
        self.judged.add(sequence)
        while self.waiting and self.waiting[0][0] in self.judged:
            done, at = self.waiting.popleft()
            self.judged.discard(done)
            self.checkpoint, self.checkpoint_at = done, at

    @property
    def unjudged(self) -> int:
        return len(self.waiting)


class Positions:
    """Every shard's progress; `checkpoints` is what to write down."""

    def __init__(
        self, saved: Mapping[str, tuple[str | None, datetime | None]] | None = None
    ) -> None:
        self._shards: dict[str, ShardProgress] = {}
        for shard, (sequence, at) in (saved or {}).items():
            self._shards[shard] = ShardProgress(checkpoint=sequence, checkpoint_at=at)

    def read(self, shard: str, sequence: str, changed_at: datetime) -> None:
        self._shards.setdefault(shard, ShardProgress()).read(sequence, changed_at)

    def judge(self, shard: str, sequence: str) -> None:
        self._shards.setdefault(shard, ShardProgress()).judge(sequence)

    def checkpoint(self, shard: str) -> str | None:
        progress = self._shards.get(shard)
        return None if progress is None else progress.checkpoint

    def checkpoint_at(self, shard: str) -> datetime | None:
        progress = self._shards.get(shard)
        return None if progress is None else progress.checkpoint_at

    def shards(self) -> list[str]:
        return list(self._shards)

    def drained(self, shard: str) -> bool:
        """Every record read from the shard is judged."""
        progress = self._shards.get(shard)
        return progress is None or progress.unjudged == 0

    @property
    def unjudged(self) -> int:
        return sum(p.unjudged for p in self._shards.values())


def readable_shards(
    shards: Mapping[str, str | None], finished: Iterable[str], reading: Iterable[str]
) -> list[str]:
    """The shards to start reading: not finished, not being read, parent finished or gone.

    `shards` maps each shard of the stream to its parent (None: no parent). A parent no longer
    listed has been trimmed away with the stream's retention: its children are readable.
    """
    done = set(finished)
    busy = set(reading)
    ready = []
    for shard, parent in shards.items():
        if shard in done or shard in busy:
            continue
        if parent is None or parent not in shards or parent in done:
            ready.append(shard)
    return sorted(ready)
