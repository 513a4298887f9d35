"""Changes waiting for their grace period, the newest per record (pure).

Each record keeps only its newest change: an older one is superseded (the newer image is what
both stores must agree on), so its position counts as judged. Entries stay in arrival order,
which is age order within a shard, so the due ones are found from the front.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from monitor.stream.changes import Change
from monitor.stream.positions import Positions


class ChangeBuffer:
    def __init__(self, positions: Positions) -> None:
        self.positions = positions
        self._waiting: dict[tuple[str, str], Change] = {}

    def __len__(self) -> int:
        return len(self._waiting)

    def add(self, change: Change) -> None:
        self.positions.read(change.position.shard, change.position.sequence, change.changed_at)
        older = self._waiting.pop(change.identity, None)
        if older is not None:
            self._judged(older)
        self._waiting[change.identity] = change

    def take_due(self, horizon: datetime, limit: int) -> list[Change]:
        """Up to `limit` changes surely made by `horizon`, oldest first, out of the buffer."""
        due: list[Change] = []
        for change in self._waiting.values():
            if change.made_by > horizon or len(due) >= limit:
                break
            due.append(change)
        for change in due:
            del self._waiting[change.identity]
        return due

    def put_back(self, changes: Iterable[Change]) -> None:
        """Changes taken but not judged (a store was down): first in line again, unless a newer
        change of the same record arrived meanwhile."""
        front: dict[tuple[str, str], Change] = {}
        for change in changes:
            if change.identity in self._waiting:
                self._judged(change)
            else:
                front[change.identity] = change
        self._waiting = front | self._waiting

    def judged(self, changes: Iterable[Change]) -> None:
        for change in changes:
            self._judged(change)

    def _judged(self, change: Change) -> None:
        self.positions.judge(change.position.shard, change.position.sequence)

    def oldest(self) -> datetime | None:
        first = next(iter(self._waiting.values()), None)
        return None if first is None else first.changed_at
