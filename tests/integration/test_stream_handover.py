"""A leader handover in the middle of the stream, between two daemons (real PostgreSQL + moto).

Both daemons compete for the leader's advisory lock (`[ha] enabled`); only the leader reads the
stream. The leader judges part of it and holds more changes within their grace; its lock
connection is then killed. It steps down, writes its checkpoint, and the other daemon resumes
after it: every stream record is judged exactly once over both, none is lost, and no finding is
reported twice.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import anyio
import asyncpg
import pytest

from monitor.config import Settings
from monitor.daemon import Daemon
from monitor.leader import Role, lock_key
from monitor.runtime import open_context
from monitor.stores.dynamodb import RetryPolicy
from monitor.stores.streams import DynamoStreams
from monitor.stream.buffer import ChangeBuffer
from monitor.stream.changes import Change
from monitor.stream.table import stream_arn
from tests.conftest import make_settings
from tests.integration.test_stream import STREAM, service_for, tamper, wait_for, write_with_faults
from tests.integration.writing import open_rig, records

pytestmark = [pytest.mark.services, pytest.mark.anyio, pytest.mark.timeout(120)]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def verified(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, str]]]:
    """Every (shard, sequence) either daemon verified against its SQL row, in order: the
    verifier hands each verified batch to `ChangeBuffer.judged`, observed and left unchanged."""
    seen: list[tuple[str, str]] = []
    judged = ChangeBuffer.judged

    def observed(self: ChangeBuffer, changes: Iterable[Change]) -> None:
        changes = list(changes)
        seen.extend((c.position.shard, c.position.sequence) for c in changes)
        judged(self, changes)

    monkeypatch.setattr(ChangeBuffer, "judged", observed)
    yield seen


@dataclass(frozen=True)
class StreamRecord:
    shard: str
    sequence: str
    item: tuple[str, str]


async def stream_records(settings: Settings) -> list[StreamRecord]:
    """Every record the table's stream holds, read by hand from the start of each shard."""
    async with (
        open_context(settings) as context,
        DynamoStreams.open(settings.dynamodb, retry=RetryPolicy()) as streams,
    ):
        arn = stream_arn(await context.dynamo.describe(), settings.dynamodb.table)
        found: list[StreamRecord] = []
        for shard in (await streams.describe(arn)).shards:
            iterator: str | None = await streams.iterator(arn, shard.shard_id, None, "trim_horizon")
            while iterator is not None:
                page = await streams.records(iterator, 1000)
                for record in page.records:
                    item = (str(record.keys["PK"].text), str(record.keys["SK"].text))
                    found.append(StreamRecord(shard.shard_id, record.sequence, item))
                iterator = page.next_iterator if page.records else None
        return found


async def kill_lock_connection(dsn: str, key: int) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        pid = await conn.fetchval(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND ((classid::bigint << 32) | objid::bigint) = $1",
            key,
        )
        assert pid is not None, "nobody holds the leader's lock"
        assert await conn.fetchval("SELECT pg_terminate_backend($1)", pid)
        return int(pid)
    finally:
        await conn.close()


def finding_events(caplog: pytest.LogCaptureFixture) -> Counter[tuple[str, Any]]:
    """The `stream.finding` events of both daemons, by (kind, key)."""
    events = [r for r in caplog.records if r.getMessage() == "stream.finding"]
    return Counter((e.kind, e.key["log_id"]) for e in events)  # type: ignore[attr-defined]


def reported(caplog: pytest.LogCaptureFixture) -> set[tuple[str, Any]]:
    return set(finding_events(caplog))


def read(daemon: Daemon) -> int:
    reader = daemon.stream.reader if daemon.stream is not None else None
    return 0 if reader is None else reader.records_read


def waiting(daemon: Daemon) -> int:
    buffer = daemon.stream.buffer if daemon.stream is not None else None
    return 0 if buffer is None else len(buffer)


def newest_changes(stream: Iterable[StreamRecord]) -> set[tuple[str, str]]:
    """The (shard, sequence) of each item's newest change: the one that must be verified (an
    older change of the item is superseded by it, never judged on its own)."""
    newest: dict[tuple[str, str], StreamRecord] = {}
    for record in stream:
        known = newest.get(record.item)
        if known is None or int(record.sequence) > int(known.sequence):
            newest[record.item] = record
    return {(r.shard, r.sequence) for r in newest.values()}


async def test_a_new_leader_resumes_the_stream_where_the_old_one_stopped(
    database: str,
    dynamo_endpoint: str,
    verified: list[tuple[str, str]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="monitor.stream.findings")
    settings = make_settings(
        database,
        dynamo_endpoint,
        # Checkpoints only when the verifier stops: the handover must write its own. The grace
        # outlasts a slow handover on a loaded machine (with 3 s the old leader sometimes judged
        # the second part itself before it noticed the lost lock).
        stream={**STREAM, "grace": "8s", "checkpoint_interval": "1h"},
        ha={"enabled": True, "heartbeat": "200ms"},
        telemetry={"listen": "127.0.0.1:0"},
    )
    first, second = Daemon(settings, environ={}), Daemon(settings, environ={})
    async with open_rig(settings) as rig, anyio.create_task_group() as group:
        group.start_soon(first.run)
        await wait_for(lambda: first.leading and first.stream is not None)
        await wait_for(lambda: first.stream is not None and first.stream.reader is not None)
        group.start_soon(second.run)
        await wait_for(lambda: second._leader is not None and second._leader.role is Role.STANDBY)

        # The leader judges a first part of the stream (four faults among sixteen records) ...
        expected: dict[tuple[str, Any], str] = await write_with_faults(rig)
        first_part = 16 * 2 + 4  # a put and a commit per record, then the four faults
        await wait_for(lambda: read(first) >= first_part and waiting(first) == 0)
        await wait_for(lambda: set(expected) <= reported(caplog))
        # ... and has read a second part, still within its grace, when it loses the lock.
        rows = records(6, first_key=600)
        for row in rows:
            await rig.writer.write(row)
        await tamper(rig, rows[0], "LogType", "Tampered")
        expected[("field_mismatch", 600)] = "LogType"
        await wait_for(lambda: read(first) >= first_part + 6 * 2 + 1)
        assert waiting(first) > 0, "the handover must happen with changes still in grace"

        await kill_lock_connection(
            database, lock_key("dualwrite_monitor", settings.mapping.sql_table)
        )
        await wait_for(lambda: second.leading)
        # Both may think they lead for up to a heartbeat: the stream's lease keeps them apart.
        await wait_for(lambda: not first.leading)
        stream = await stream_records(settings)
        must = newest_changes(stream)
        # (Until the new leader's stream has started it has no buffer: nothing waits there.)
        await wait_for(lambda: read(second) > 0 and must <= set(verified) and waiting(second) == 0)
        assert second.stream is not None and second.stream.reader is not None
        # The new leader resumed after the old one's checkpoint, not from the stream's start.
        assert 0 < second.stream.reader.records_read <= len(stream) - first_part
        first.request_stop()
        second.request_stop()

    assert Counter(verified).most_common(1)[0][1] == 1, "a change verified twice"
    assert set(verified) <= {(r.shard, r.sequence) for r in stream}
    assert finding_events(caplog) == Counter(set(expected)), "a finding missed or reported twice"


async def test_a_second_verifier_waits_until_the_first_has_written_its_checkpoint(
    database: str, dynamo_endpoint: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="monitor.stores.lock")
    settings = make_settings(
        database, dynamo_endpoint, stream={**STREAM, "checkpoint_interval": "1h"}
    )
    async with open_rig(settings) as rig, open_context(settings) as context:
        for row in records(5, first_key=10):
            await rig.writer.write(row)
        first, second = service_for(context), service_for(context)
        async with anyio.create_task_group() as outer:
            async with anyio.create_task_group() as inner:
                inner.start_soon(first.run)
                await wait_for(lambda: first.verifier is not None and first.verifier.verified == 5)
                outer.start_soon(second.run)
                await wait_for(
                    lambda: any(r.getMessage() == "lock.waiting" for r in caplog.records)
                )
                assert second.reader is None, "the second verifier started beside the first"
                inner.cancel_scope.cancel()  # the first stops: its final checkpoint, then the lease
            await wait_for(lambda: second.reader is not None)
            await rig.writer.write(records(1, first_key=20)[0])
            await wait_for(lambda: second.verifier is not None and second.verifier.verified == 1)
            assert second.reader is not None and second.reader.records_read == 2
            outer.cancel_scope.cancel()
