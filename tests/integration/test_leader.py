"""Leader election on the real PostgreSQL: one leader, standbys, step-down and handover."""

from __future__ import annotations

import anyio
import asyncpg
import pytest

from monitor.leader import KEEPALIVES, LeaderElector, Role, lock_key
from monitor.stores.lock import AdvisoryLockSession, LockSessionLost

HEARTBEAT = 0.2


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Watch:
    """Role changes of one elector; waits (bounded) for a role without polling."""

    def __init__(self) -> None:
        self.changes: list[tuple[Role, Role]] = []
        self._changed = anyio.Event()

    def __call__(self, old: Role, new: Role, _: str) -> None:
        self.changes.append((old, new))
        self._changed.set()
        self._changed = anyio.Event()

    async def until(self, elector: LeaderElector, role: Role, limit: float = 5) -> None:
        with anyio.fail_after(limit):
            while elector.role is not role:
                await self._changed.wait()


def elector(dsn: str, key: int, watch: Watch | None = None) -> LeaderElector:
    return LeaderElector(
        dsn, key, heartbeat=HEARTBEAT, connect_timeout=3, on_change=watch or Watch()
    )


async def lock_holder(dsn: str, key: int) -> int | None:
    conn = await asyncpg.connect(dsn)
    try:
        pid: int | None = await conn.fetchval(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND ((classid::bigint << 32) | objid::bigint) = $1",
            key,
        )
        return pid
    finally:
        await conn.close()


async def terminate(dsn: str, pid: int) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        assert await conn.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await conn.close()


@pytest.mark.anyio
async def test_one_leader_then_handover_when_its_connection_is_killed(database: str) -> None:
    key = lock_key("dualwrite_monitor", "integration_logs")
    watch_a, watch_b = Watch(), Watch()
    a, b = elector(database, key, watch_a), elector(database, key, watch_b)
    async with anyio.create_task_group() as group:
        await group.start(a.run)
        await group.start(b.run)
        assert (a.role, b.role) == (Role.LEADER, Role.STANDBY)
        holder = await lock_holder(database, key)
        assert holder is not None
        # Both lock connections carry the elector's server_settings (keepalives included).
        conn = await asyncpg.connect(database)
        try:
            named = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE application_name = 'dualwrite-monitor-leader'"
            )
        finally:
            await conn.close()
        assert named == 2

        # Killing the leader's lock connection: it steps down, the standby takes over.
        await terminate(database, holder)
        await watch_b.until(b, Role.LEADER)
        assert a.role is not Role.LEADER
        assert (Role.LEADER, Role.UNKNOWN) in watch_a.changes  # stepped down, not silently
        await watch_a.until(a, Role.STANDBY)
        assert await lock_holder(database, key) not in (None, holder)
        group.cancel_scope.cancel()


@pytest.mark.anyio
async def test_a_session_terminated_around_its_heartbeat_is_lost_never_a_driver_error(
    database: str,
) -> None:
    # Terminated just before or during a query, asyncpg sometimes raises InternalClientError
    # ("cannot switch to state 12") on the next one: about a third of these tries did.
    key = lock_key("s", "terminated")
    admin = await asyncpg.connect(database)
    try:
        for attempt in range(60):
            async with AdvisoryLockSession.connect(database, connect_timeout=3) as session:
                assert await session.try_acquire(key, answer_within=3)
                pid = await lock_holder(database, key)
                assert pid is not None
                async with anyio.create_task_group() as group:
                    group.start_soon(admin.fetchval, "SELECT pg_terminate_backend($1)", pid)
                    await anyio.sleep(attempt % 5 * 0.0005)  # vary the race, not a wait
                with anyio.fail_after(5):
                    while True:  # answered until the backend has gone; then lost, nothing else
                        try:
                            await session.holds(key, answer_within=3)
                        except LockSessionLost:
                            break
    finally:
        await admin.close()


@pytest.mark.anyio
async def test_shutting_down_the_leader_frees_the_lock_for_a_standby(database: str) -> None:
    key = lock_key("s", "t")
    a, b = elector(database, key), elector(database, key)
    async with anyio.create_task_group() as outer:
        await outer.start(b.run)
        assert b.role is Role.LEADER
        async with anyio.create_task_group() as inner:
            await inner.start(a.run)
            assert a.role is Role.STANDBY
            inner.cancel_scope.cancel()
        # Now stop the leader (cancelling its loop closes the lock's connection).
        outer.cancel_scope.cancel()
    assert await lock_holder(database, key) is None
    async with anyio.create_task_group() as group:
        await group.start(a.run)
        assert a.role is Role.LEADER
        group.cancel_scope.cancel()


@pytest.mark.anyio
async def test_unreachable_database_is_unknown_not_standby() -> None:
    watch = Watch()
    lost = elector("postgresql://postgres@127.0.0.1:1/none", 1, watch)
    async with anyio.create_task_group() as group:
        with anyio.fail_after(5):
            await group.start(lost.run)  # the first attempt completes; it never hangs
        assert lost.role is Role.UNKNOWN
        assert "cannot reach PostgreSQL" in lost.reason
        group.cancel_scope.cancel()
    assert watch.changes == []  # UNKNOWN from the start: no change to report


@pytest.mark.anyio
async def test_different_tables_use_different_locks(database: str) -> None:
    a = elector(database, lock_key("dualwrite_monitor", "integration_logs"))
    b = elector(database, lock_key("dualwrite_monitor", "other_table"))
    async with anyio.create_task_group() as group:
        await group.start(a.run)
        await group.start(b.run)
        assert a.role is b.role is Role.LEADER
        group.cancel_scope.cancel()


@pytest.mark.anyio
async def test_lock_connection_has_tcp_keepalives(database: str) -> None:
    # The same server_settings the elector passes: the server applies all four.
    conn = await asyncpg.connect(database, server_settings=KEEPALIVES)
    try:
        for name in ("tcp_keepalives_idle", "tcp_keepalives_interval", "tcp_keepalives_count"):
            assert await conn.fetchval(f"SHOW {name}") == KEEPALIVES[name]
        assert await conn.fetchval("SHOW tcp_user_timeout") in ("20s", "20000ms", "20000")
    finally:
        await conn.close()


def test_lock_key_is_stable_and_positive() -> None:
    key = lock_key("dualwrite_monitor", "integration_logs")
    assert key == lock_key("dualwrite_monitor", "integration_logs")
    assert 0 < key < 2**63
