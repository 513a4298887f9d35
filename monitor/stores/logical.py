"""PostgreSQL logical decoding (asyncpg): the publication, the slot, its changes, its WAL.

The slot uses `pgoutput`, built into PostgreSQL (no extension). Its changes are read with
`pg_logical_slot_peek_binary_changes` (nothing is consumed by reading) and the slot is moved on
with `pg_replication_slot_advance` only once what was read is written down elsewhere, so a crash
between the two re-reads, never loses. Created only by `setup` (a slot retains WAL until it is
read: never made silently).
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from monitor.errors import StoreError
from monitor.stores.postgres import STORE, execute_one, quote_ident, translate_errors


@dataclass(frozen=True, slots=True)
class SlotState:
    exists: bool
    #: Bytes of WAL the slot keeps from being recycled (0 when it does not exist).
    retained_wal: int = 0
    active: bool = False


class LogicalSlot:
    def __init__(self, pool: asyncpg.Pool, slot: str, publication: str) -> None:
        self.pool = pool
        self.slot = slot
        self.publication = publication

    async def wal_level(self) -> str:
        async with translate_errors("reading wal_level"):
            return str(await self.pool.fetchval("SHOW wal_level"))

    async def create(self, table: str) -> list[str]:
        """The publication of `table` and the slot, each unless it exists; what was created."""
        created: list[str] = []
        async with (
            translate_errors("creating the publication and the slot"),
            self.pool.acquire() as conn,
        ):
            exists = await conn.fetchval(
                "SELECT true FROM pg_publication WHERE pubname = $1", self.publication
            )
            if not exists:
                await execute_one(
                    conn,
                    f"CREATE PUBLICATION {quote_ident(self.publication)}"
                    f" FOR TABLE {quote_ident(table)}",
                )
                created.append(f"publication {self.publication}")
            exists = await conn.fetchval(
                "SELECT true FROM pg_replication_slots WHERE slot_name = $1", self.slot
            )
            if not exists:
                await conn.execute(
                    "SELECT pg_create_logical_replication_slot($1, 'pgoutput')", self.slot
                )
                created.append(f"logical replication slot {self.slot}")
        return created

    async def replica_identity_full(self, table: str) -> bool:
        """REPLICA IDENTITY FULL on `table` (a deleted row is then sent whole); whether it was
        changed (False: it already was)."""
        sql = "SELECT relreplident = 'f' FROM pg_class WHERE oid = $1::regclass"
        async with (
            translate_errors("setting the table's replica identity"),
            self.pool.acquire() as conn,
        ):
            if await conn.fetchval(sql, quote_ident(table)):
                return False
            await execute_one(conn, f"ALTER TABLE {quote_ident(table)} REPLICA IDENTITY FULL")
        return True

    async def drop(self) -> None:
        async with translate_errors("dropping the slot"):
            await self.pool.execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots"
                " WHERE slot_name = $1",
                self.slot,
            )

    async def state(self) -> SlotState:
        sql = (
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint, active"
            " FROM pg_replication_slots WHERE slot_name = $1"
        )
        async with translate_errors("reading the slot"):
            row = await self.pool.fetchrow(sql, self.slot)
        if row is None:
            return SlotState(False)
        return SlotState(True, int(row[0] or 0), bool(row[1]))

    async def peek(self, limit: int) -> list[tuple[str, bytes]]:
        """(lsn, message) of whole transactions after the slot's position, about `limit` rows."""
        sql = (
            "SELECT lsn::text, data FROM pg_logical_slot_peek_binary_changes($1, NULL, $2,"
            " 'proto_version', '1', 'publication_names', $3)"
        )
        async with translate_errors("reading the slot's changes"):
            try:
                rows = await self.pool.fetch(sql, self.slot, limit, self.publication)
            except asyncpg.UndefinedObjectError:
                raise StoreError(
                    STORE,
                    f"logical replication slot {self.slot!r} or publication"
                    f" {self.publication!r} does not exist; run `dualwrite-monitor setup`"
                    " with [stream] postgres = true",
                ) from None
        return [(str(r[0]), bytes(r[1])) for r in rows]

    async def advance(self, lsn: str) -> None:
        async with translate_errors("moving the slot on"):
            await self.pool.execute(
                "SELECT pg_replication_slot_advance($1, $2::text::pg_lsn)", self.slot, lsn
            )


__all__ = ["LogicalSlot", "SlotState"]
