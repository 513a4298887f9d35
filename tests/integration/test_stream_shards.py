"""Closed shards on a real server: disabling the table's stream closes its shard.

DynamoDB Local (and AWS) close every shard of a stream when it is disabled, and a stream enabled
again is a new stream (another ARN) whose shards have no parent in the old one. The verifier
reads the closed shard to its end, verifies what it held, and says the stream ended; started
again, it follows the new stream from its start and hands the time without a stream to the
interval checks. (Neither moto nor DynamoDB Local ever splits a shard: lineage order is
property-tested in tests/unit/test_stream_core.py.)
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import anyio
import pytest

from monitor.checks.context import CheckContext
from monitor.config import Settings
from monitor.errors import first_monitor_error
from monitor.model import Window
from monitor.runtime import open_context
from monitor.stores.stream_state import StreamState
from monitor.stores.streams import StreamEnded
from monitor.stream.service import StreamService
from tests.integration import test_stream
from tests.integration.test_stream import wait_for
from tests.integration.writing import open_rig, records

pytestmark = [pytest.mark.services, pytest.mark.anyio, pytest.mark.timeout(120)]

anyio_backend = test_stream.anyio_backend
stream_settings = test_stream.stream_settings


@pytest.fixture
def ddblocal(dynamo_endpoint: str, request: pytest.FixtureRequest) -> Iterator[None]:
    server = request.getfixturevalue("dynamo_server")
    if server.backend != "ddblocal":
        # moto forgets a disabled stream at once (DescribeStream: not found): no shard to close.
        pytest.skip("closed shards need DynamoDB Local (DDB_BACKEND=ddblocal)")
    yield


async def set_stream(settings: Settings, enabled: bool) -> None:
    spec = {"StreamEnabled": enabled} | (
        {"StreamViewType": "NEW_AND_OLD_IMAGES"} if enabled else {}
    )
    async with open_context(settings) as context:
        await context.dynamo.client.update_table(
            TableName=context.dynamo.table, StreamSpecification=spec
        )


@pytest.mark.usefixtures("ddblocal")
async def test_a_disabled_stream_is_verified_to_its_end_and_its_successor_followed(
    stream_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="monitor.stream")
    gaps: list[Window] = []

    async def on_gap(window: Window, _: str) -> None:
        gaps.append(window)

    async with open_rig(stream_settings) as rig, open_context(stream_settings) as context:

        async def get() -> CheckContext:
            return context

        service = StreamService(stream_settings, get, on_gap=on_gap)
        ended: list[BaseException] = []

        async def until_it_ends() -> None:
            try:
                await service.run()
            except* StreamEnded as group:  # raised out of the service's task group
                ended.append(first_monitor_error(group) or group)

        for row in records(3, first_key=1):
            await rig.writer.write(row)
        async with anyio.create_task_group() as group:
            group.start_soon(until_it_ends)
            await wait_for(lambda: service.verifier is not None and service.verifier.verified > 0)
            # Two more, then the stream is disabled: its shard closes behind them.
            for row in records(2, first_key=4):
                await rig.writer.write(row)
            await set_stream(stream_settings, enabled=False)
            await wait_for(lambda: bool(ended), deadline=60)
        assert "was disabled" in str(ended[0])
        assert service.reporter is not None and not service.reporter.recent, "false findings"
        assert service.verifier is not None and service.reader is not None
        assert service.verifier.verified == 5, (
            service.verifier.verified,
            service.reader.records_read,
        )
        first_arn = service.arn
        assert first_arn is not None
        state = StreamState(context.sql.pool, stream_settings.postgres.state_schema)
        assert all(p.finished for p in await state.positions(first_arn))

        # Written while the table has no stream: in no stream at all (the gap).
        await rig.writer.write(records(1, first_key=6)[0])
        await set_stream(stream_settings, enabled=True)
        for row in records(2, first_key=7):
            await rig.writer.write(row)
        # Started again on the new stream (the daemon restarts a verifier that ended).
        again = StreamService(stream_settings, get, on_gap=on_gap)
        async with anyio.create_task_group() as group:
            group.start_soon(again.run)
            await wait_for(lambda: again.verifier is not None and again.verifier.verified == 2)
            group.cancel_scope.cancel()
        assert again.arn not in (None, first_arn)
        assert len(gaps) == 1 and gaps[0].start < gaps[0].end
        assert any(r.getMessage() == "stream.replaced" for r in caplog.records)
