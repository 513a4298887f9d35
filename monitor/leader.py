"""Leader election among replicas (ARCHITECTURE decision 8), opt-in with `[ha] enabled = true`.

Every replica tries `pg_try_advisory_lock(key)` on its own dedicated, non-pooled connection
(`monitor.stores.lock`: a pooled one would drop the lock when it goes back to the pool) with TCP
keepalives, so the server notices a vanished replica and frees the lock. The winner leads and proves it every `heartbeat`
by finding its lock in `pg_locks`; when that fails (connection lost, lock gone, no answer within a
heartbeat) it steps down at once and waits two heartbeats before competing again, so a standby
takes over. A standby retries every heartbeat. Closing the connection (shutdown) frees the lock.

Roles: LEADER runs the checks; STANDBY knows the lock is held elsewhere and counts nothing;
UNKNOWN could not reach PostgreSQL to find out, so each run it cannot perform is an error
(CONTRACT §5: an outage never looks like silence).
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable

import anyio
from anyio.abc import TaskStatus

from monitor.errors import StoreUnavailable
from monitor.stores.lock import KEEPALIVES, AdvisoryLockSession, LockSessionLost, advisory_key
from monitor.stores.postgres import STORE

log = logging.getLogger(__name__)


class Role(enum.StrEnum):
    LEADER = "leader"
    STANDBY = "standby"
    UNKNOWN = "unknown"


class LeaderUnavailable(StoreUnavailable):
    """This replica cannot tell whether it leads: a scheduled run it could not perform."""

    def __init__(self, reason: str) -> None:
        super().__init__(STORE, f"leader election: {reason}")


class _LeadershipLost(Exception):
    pass


_STEP_DOWN: tuple[type[BaseException], ...] = (_LeadershipLost, LockSessionLost)


def lock_key(state_schema: str, sql_table: str) -> int:
    """One advisory lock per monitored table and monitor schema (positive 63-bit)."""
    return advisory_key(f"dualwrite-monitor:{state_schema}:{sql_table}")


RoleChange = Callable[[Role, Role, str], None]


class LeaderElector:
    def __init__(
        self,
        dsn: str,
        key: int,
        *,
        heartbeat: float,
        connect_timeout: float,
        on_change: RoleChange | None = None,
    ) -> None:
        self._dsn = dsn
        self.key = key
        self.heartbeat = heartbeat
        self.connect_timeout = connect_timeout
        self.on_change = on_change
        self.role = Role.UNKNOWN
        self.reason = "leader election has not run yet"

    @property
    def leading(self) -> bool:
        return self.role is Role.LEADER

    def _set(self, role: Role, reason: str) -> None:
        old, self.role, self.reason = self.role, role, reason
        if old is not role and self.on_change is not None:
            self.on_change(old, role, reason)

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Compete for the lock until cancelled. `started` fires after the first attempt."""
        announced = False
        pause = 0.0
        while True:
            if pause:
                await anyio.sleep(pause)
            pause = self.heartbeat
            try:
                async with AdvisoryLockSession.connect(
                    self._dsn, connect_timeout=self.connect_timeout
                ) as session:
                    while True:
                        if await session.try_acquire(self.key, answer_within=self.heartbeat):
                            self._set(Role.LEADER, "holds the advisory lock")
                            if not announced:
                                announced = True
                                task_status.started()
                            await self._hold(session)
                        self._set(Role.STANDBY, "another replica holds the advisory lock")
                        if not announced:
                            announced = True
                            task_status.started()
                        await anyio.sleep(self.heartbeat)
            except _STEP_DOWN as exc:
                if self.role is Role.LEADER:
                    pause = 2 * self.heartbeat  # let a standby take over first
                self._set(Role.UNKNOWN, str(exc))
                if not announced:
                    announced = True
                    task_status.started()

    async def _hold(self, session: AdvisoryLockSession) -> None:
        """Return never; raise as soon as the lock cannot be shown to be ours."""
        while True:
            await anyio.sleep(self.heartbeat)
            if not await session.holds(self.key, answer_within=self.heartbeat):
                raise _LeadershipLost("the advisory lock is no longer held by this replica")


__all__ = ["KEEPALIVES", "LeaderElector", "LeaderUnavailable", "Role", "lock_key"]
