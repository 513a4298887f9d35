"""Faults of continuous verification, on the real stores: an expired shard iterator, a checkpoint
the stream has trimmed (a gap, covered by interval checks), and a PostgreSQL that stops
answering mid-stream; none loses a change or reports one twice.

The stream faults are raised between the adapter and its aiobotocore client, with the error
codes DynamoDB Streams sends (moto's iterators never expire and its streams never trim).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import anyio
import pytest
from botocore.exceptions import ClientError

from monitor.checks.context import CheckContext
from monitor.config import Settings
from monitor.daemon import Daemon
from monitor.errors import StoreUnavailable, first_monitor_error
from monitor.model import Window
from monitor.runtime import open_context
from monitor.scheduling import RunRecord
from monitor.stream.service import StreamService
from tests.conftest import make_settings
from tests.integration import test_stream
from tests.integration.tcp_proxy import proxy_to
from tests.integration.test_stream import (
    STREAM,
    found,
    running,
    tamper,
    wait_for,
    write_with_faults,
)
from tests.integration.writing import open_rig, records

pytestmark = [pytest.mark.services, pytest.mark.anyio]


#: The same fixtures as the stream tests: the same settings.
anyio_backend = test_stream.anyio_backend
stream_settings = test_stream.stream_settings

Predicate = Callable[[Mapping[str, Any]], bool]


class FailingOnce:
    """The streams client, raising `code` on the first `operation` call `when` holds."""

    def __init__(self, client: Any, operation: str, code: str, when: Predicate) -> None:
        self._client = client
        self._operation = operation
        self._code = code
        self._when = when
        self.raised = 0

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        if name != self._operation:
            return method

        async def call(**params: Any) -> Any:
            if not self.raised and self._when(params):
                self.raised += 1
                error = {"Error": {"Code": self._code, "Message": "injected"}}
                raise ClientError(error, name)  # type: ignore[arg-type]
            return await method(**params)

        return call


def service(context: CheckContext, **kwargs: Any) -> StreamService:
    async def get() -> CheckContext:
        return context

    return StreamService(context.settings, get, **kwargs)


async def test_an_expired_iterator_is_renewed_from_the_last_record_read(
    stream_settings: Settings,
) -> None:
    async with open_rig(stream_settings) as rig, open_context(stream_settings) as context:
        expected = await write_with_faults(rig)
        wrappers: list[FailingOnce] = []

        def expire_second_read(client: Any) -> Any:
            calls = {"n": 0}

            def second(_: Mapping[str, Any]) -> bool:
                calls["n"] += 1
                return calls["n"] == 2

            wrappers.append(FailingOnce(client, "get_records", "ExpiredIteratorException", second))
            return wrappers[-1]

        svc = service(context, wrap_client=expire_second_read)
        svc.settings = svc.settings.model_copy(
            update={"stream": svc.settings.stream.model_copy(update={"records_per_call": 5})}
        )
        async with running(svc):
            await wait_for(lambda: set(expected) <= found(svc) and not len(svc.buffer or ()))
        assert wrappers[0].raised == 1
        assert found(svc) == set(expected)
        assert svc.reader is not None
        # 16 writes of two records each, three tampers, one stray put: each read exactly once.
        assert svc.reader.records_read == 16 * 2 + 3 + 1


async def test_a_trimmed_checkpoint_is_a_gap_said_loudly_and_handed_to_interval_checks(
    stream_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="monitor.stream.dynamo")
    async with open_rig(stream_settings) as rig, open_context(stream_settings) as context:
        expected = await write_with_faults(rig)
        first = service(context)
        async with running(first):
            await wait_for(lambda: set(expected) <= found(first) and not len(first.buffer or ()))
        rows = records(2, first_key=700)
        for row in rows:
            await rig.writer.write(row)
        await tamper(rig, rows[1], "LogType", "Tampered")
        gaps: list[Window] = []

        async def on_gap(window: Window, shard: str) -> None:
            gaps.append(window)

        def trim(client: Any) -> Any:
            after: Predicate = lambda p: p.get("ShardIteratorType") == "AFTER_SEQUENCE_NUMBER"  # noqa: E731
            return FailingOnce(client, "get_shard_iterator", "TrimmedDataAccessException", after)

        second = service(context, wrap_client=trim, on_gap=on_gap)
        async with running(second):
            await wait_for(lambda: ("field_mismatch", 701) in found(second))
            await wait_for(lambda: not len(second.buffer or ()))
        [gap] = gaps
        assert gap.start <= gap.end
        assert [r for r in caplog.records if r.getMessage() == "stream.behind_retention"]
        # Read again from the oldest record left: the changes seen before are not re-reported.
        assert found(second) == {("field_mismatch", 701)}
        assert second.gaps and second.gaps[0]["start"] <= second.gaps[0]["end"]


async def test_a_postgresql_that_stops_answering_loses_nothing(stream_settings: Settings) -> None:
    target = urlsplit(stream_settings.postgres.dsn.get_secret_value())
    assert target.hostname is not None and target.port is not None
    async with open_rig(stream_settings) as rig:
        expected = await write_with_faults(rig)
    with proxy_to(target.hostname, target.port) as proxy:
        dsn = target._replace(netloc=f"{target.username}@127.0.0.1:{proxy.port}").geturl()
        endpoint = stream_settings.dynamodb.endpoint_url
        slow = make_settings(dsn, endpoint, postgres={"statement_timeout": "2s"}, stream=STREAM)
        # The verifier's first read by key hangs: no answer, no close.
        proxy.fault_when(b'WHERE "log_id" = ANY', "blackhole")
        async with open_context(slow) as context:
            hung = service(context)
            with anyio.fail_after(30), pytest.raises(Exception) as raised:
                await hung.run()
            assert isinstance(first_monitor_error(raised.value), StoreUnavailable)
            assert proxy.fired.is_set()
            assert found(hung) == set()
    async with open_context(stream_settings) as context:
        again = service(context)
        async with running(again):
            await wait_for(lambda: set(expected) <= found(again) and not len(again.buffer or ()))
        assert found(again) == set(expected)


async def test_a_gap_is_judged_by_the_interval_checks_in_the_daemon(
    stream_settings: Settings,
) -> None:
    # Interval checks whose settled edge is now: the gap ends at the last write.
    settled = make_settings(
        stream_settings.postgres.dsn.get_secret_value(),
        stream_settings.dynamodb.endpoint_url,
        stream=STREAM,
        checks={
            "orphans": {"grace": "1ms"},
            "counts": {"settle": "1ms"},
            "sampling": {"settle": "1ms"},
        },
    )
    async with open_rig(settled) as rig:
        await write_with_faults(rig)
    daemon = Daemon(settled, environ={})
    delivered: list[RunRecord] = []

    async def deliver(record: RunRecord) -> None:
        delivered.append(record)

    daemon._deliver = deliver  # type: ignore[method-assign]
    now = datetime.now(UTC)
    try:
        await daemon._stream_gap(Window(now - timedelta(minutes=5), now), "shard-1")
    finally:
        await daemon._stores.aclose()
    assert [r.check for r in delivered] == ["orphans", "counts", "sample"]
    assert all(r.report is not None for r in delivered)
    named = {(str(f.kind), f.key) for r in delivered if r.report for f in r.report.findings}
    # counts names what is missing on either side over the gap, orphans the pending divergence.
    assert {("missing_in_dynamodb", 102), ("missing_in_sql", 900)} <= named
