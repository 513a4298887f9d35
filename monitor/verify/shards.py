"""Shards claimed through PostgreSQL advisory locks, so N processes share one run.

Each shard of a run has its own advisory lock, taken with `pg_try_advisory_lock` on one
dedicated connection per worker (`stores.lock`): two workers never hold one shard, and a worker
that dies — its connection closed by its host, or noticed dead by TCP keepalives — frees its
shards for the others to take over. What is done is in the checkpoint, not in the lock, so a
shard taken over resumes at its first unfinished window. No cluster protocol beyond that.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import anyio

from monitor.errors import StoreUnavailable
from monitor.stores.lock import AdvisoryLockSession, LockSessionLost
from monitor.verify.plan import Shard, shard_lock_key

#: How long one lock request may take before the session counts as lost.
ANSWER_WITHIN = 10.0


class ShardLocks:
    def __init__(self, session: AdvisoryLockSession, schema: str, run_id: int) -> None:
        self._session = session
        self._schema = schema
        self._run_id = run_id
        # Advisory locks are re-entrant within a session: a shard this worker holds is not
        # claimable again by it either.
        self._held: set[int] = set()
        # One connection: the lanes of a worker take turns on it.
        self._turn = anyio.Lock()

    @classmethod
    @asynccontextmanager
    async def connect(
        cls, dsn: str, schema: str, run_id: int, *, connect_timeout: float
    ) -> AsyncIterator[ShardLocks]:
        try:
            async with AdvisoryLockSession.connect(dsn, connect_timeout=connect_timeout) as session:
                yield cls(session, schema, run_id)
        except LockSessionLost as exc:
            raise StoreUnavailable("PostgreSQL", f"verification shard locks: {exc}") from None

    def _key(self, shard: Shard) -> int:
        return shard_lock_key(self._schema, self._run_id, shard.index)

    def holds_here(self, shard: Shard) -> bool:
        """Whether this worker (one of its lanes) holds `shard`."""
        return shard.index in self._held

    async def claim(self, shards: Sequence[Shard]) -> Shard | None:
        """The first of `shards` no other worker holds, now locked by this one; else None."""
        async with self._turn:
            for shard in shards:
                if shard.index in self._held:
                    continue
                if await self._session.try_acquire(self._key(shard), answer_within=ANSWER_WITHIN):
                    self._held.add(shard.index)
                    return shard
        return None

    async def still_held(self, shard: Shard) -> bool:
        async with self._turn:
            return await self._session.holds(self._key(shard), answer_within=ANSWER_WITHIN)

    async def release(self, shard: Shard) -> None:
        async with self._turn:
            self._held.discard(shard.index)
            await self._session.release(self._key(shard), answer_within=ANSWER_WITHIN)
