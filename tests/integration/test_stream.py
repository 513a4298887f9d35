"""Continuous verification from the DynamoDB stream, on the real stores (moto over HTTP).

Records are written through the dual writer; faults are then made by hand in one store. The
stream verifier must find each with its kind and key, nothing on the clean records, without a
single read on the table, and a restart must resume after its checkpoint without re-reporting.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitor.checks.context import CheckContext
from monitor.config import Settings
from monitor.daemon import Daemon
from monitor.runtime import open_context
from monitor.setup import run_setup
from monitor.stream.service import StreamService
from monitor.stream.table import StreamNotReady
from tests.conftest import make_settings
from tests.integration.writing import Rig, open_rig, records

pytestmark = [pytest.mark.services, pytest.mark.anyio]

STREAM = {
    "enabled": True,
    "grace": "1s",
    "start_at": "trim_horizon",
    "poll_interval": "100ms",
    "checkpoint_interval": "200ms",
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def stream_settings(database: str, dynamo_endpoint: str) -> Settings:
    return make_settings(database, dynamo_endpoint, stream=STREAM)


@asynccontextmanager
async def running(service: StreamService) -> AsyncIterator[None]:
    async with anyio.create_task_group() as group:
        group.start_soon(service.run)
        yield
        group.cancel_scope.cancel()


async def wait_for(condition: Callable[[], bool], deadline: float = 20.0) -> None:
    """Until `condition` holds, looking every 50 ms, failing after `deadline` seconds."""
    with anyio.fail_after(deadline):
        while not condition():  # noqa: ASYNC110 - the service's state, polled under a deadline
            await anyio.sleep(0.05)


def service_for(context: CheckContext) -> StreamService:
    async def get() -> CheckContext:
        return context

    return StreamService(context.settings, get)


def found(service: StreamService) -> set[tuple[str, Any]]:
    if service.reporter is None:
        return set()
    return {(str(f.finding.kind), f.finding.key) for f in service.reporter.recent}


async def tamper(rig: Rig, row: dict[str, Any], attribute: str, value: str) -> None:
    """Set one attribute of the row's item behind the writer's back."""
    await rig.dynamo.client.update_item(
        TableName=rig.dynamo.table,
        Key=rig.dynamo.item_key(row),
        UpdateExpression="SET #a = :v",
        ExpressionAttributeNames={"#a": attribute},
        ExpressionAttributeValues={":v": {"S": value}},
    )


async def write_with_faults(rig: Rig) -> dict[tuple[str, Any], str]:
    """Twelve clean records, then four made wrong in DynamoDB: the findings expected."""
    rows = records(16, first_key=100)
    for row in rows:
        await rig.writer.write(row)
    client, table = rig.dynamo.client, rig.dynamo.table
    corrupted, divergent, lost = rows[0], rows[1], rows[2]
    await tamper(rig, corrupted, "LogType", "Tampered")
    await tamper(rig, divergent, "WriteStatus", "Pending")
    await client.delete_item(TableName=table, Key=rig.dynamo.item_key(lost))
    only = records(1, first_key=900)[0]
    item = {k: v for k, v in rig.dynamo.item_key(only).items()}
    item |= {"LogId": {"N": "900"}, "WriteStatus": {"S": "Committed"}, "LogType": {"S": "Request"}}
    await client.put_item(TableName=table, Item=item)
    return {
        ("field_mismatch", 100): "LogType",
        ("status_divergence", 101): "",
        ("missing_in_dynamodb", 102): "",
        ("missing_in_sql", 900): "",
    }


async def test_setup_enables_the_stream(stream_settings: Settings) -> None:
    result = await run_setup(stream_settings)
    assert f"DynamoDB table {stream_settings.dynamodb.table}" in result.created
    async with open_context(stream_settings) as context:
        table = await context.dynamo.describe()
    assert table["StreamSpecification"] == {
        "StreamEnabled": True,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }


async def test_every_fault_found_once_and_nothing_on_clean_records(
    stream_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="monitor.stream.findings")
    async with open_rig(stream_settings) as rig, open_context(stream_settings) as context:
        expected = await write_with_faults(rig)
        service = service_for(context)
        reads_before = context.dynamo.requests
        async with running(service):
            await wait_for(
                lambda: set(expected) <= found(service) and not len(service.buffer or ())
            )
        assert found(service) == set(expected)
        assert context.dynamo.requests - reads_before == 1  # DescribeTable: no read of an item
        events = [r for r in caplog.records if r.getMessage() == "stream.finding"]
        assert {(e.kind, e.key["log_id"]) for e in events} == set(expected)  # type: ignore[attr-defined]
        mismatch = next(e for e in events if e.kind == "field_mismatch")  # type: ignore[attr-defined]
        assert mismatch.field == "LogType"  # type: ignore[attr-defined]
        assert mismatch.changed_at <= mismatch.found_at  # type: ignore[attr-defined]


async def test_a_restart_resumes_after_its_checkpoint_and_reports_nothing_twice(
    stream_settings: Settings,
) -> None:
    async with open_rig(stream_settings) as rig, open_context(stream_settings) as context:
        expected = await write_with_faults(rig)
        first = service_for(context)
        async with running(first):
            await wait_for(lambda: set(expected) <= found(first) and not len(first.buffer or ()))
        assert first.reader is not None
        read_first = first.reader.records_read

        # Three new records, one of them broken in DynamoDB after its write.
        rows = records(3, first_key=500)
        for row in rows:
            await rig.writer.write(row)
        await tamper(rig, rows[0], "StatusCode", "999")
        second = service_for(context)
        async with running(second):
            await wait_for(lambda: ("field_mismatch", 500) in found(second))
            await wait_for(lambda: not len(second.buffer or ()))
        assert found(second) == {("field_mismatch", 500)}
        assert second.reader is not None
        # Each write is two stream records (the pending put, then its commit), the tamper one more.
        assert second.reader.records_read == 3 * 2 + 1
        assert read_first > second.reader.records_read


async def test_without_a_stream_setup_and_the_verifier_say_how_to_enable_it(
    stream_settings: Settings,
) -> None:
    await run_setup(stream_settings)
    async with open_context(stream_settings) as context:
        await context.dynamo.client.update_table(
            TableName=context.dynamo.table, StreamSpecification={"StreamEnabled": False}
        )
        result = await run_setup(stream_settings)
        assert any("StreamViewType=NEW_AND_OLD_IMAGES" in line for line in result.advice)
        with pytest.raises(StreamNotReady, match="StreamViewType=NEW_AND_OLD_IMAGES"):
            await service_for(context).run()


async def test_the_daemon_shows_the_stream_in_status_metrics_and_its_report(
    database: str, dynamo_endpoint: str
) -> None:
    settings = make_settings(
        database,
        dynamo_endpoint,
        stream={**STREAM, "report_interval": "300ms"},
        telemetry={"listen": "127.0.0.1:0"},
    )
    async with open_rig(settings) as rig:
        expected = await write_with_faults(rig)
    daemon = Daemon(settings, environ={})

    def stream_status() -> dict[str, Any]:
        return dict(daemon.status()["stream"])

    def reported() -> bool:
        checks = daemon.status()["checks"]
        return "stream" in json.dumps(checks)

    async with anyio.create_task_group() as group:
        group.start_soon(daemon.run)
        await wait_for(
            lambda: sum(stream_status().get("findings_by_kind", {}).values()) == len(expected)
        )
        await wait_for(reported)
        text = daemon._telemetry.prometheus_text().decode()
        page = daemon.status_page()
        daemon.request_stop()
    status = stream_status()
    assert {(f["kind"], f["key"]["log_id"]) for f in status["last_findings"]} == set(expected)
    assert status["verified"] >= 17 and status["lag_s"] is not None
    families = {f.name: f for f in text_string_to_metric_families(text)}
    verified = {
        s.labels["result"]: s.value
        for s in families["dualwrite_stream_verified"].samples
        if s.name.endswith("_total")
    }
    assert verified["finding"] == len(expected) and verified["ok"] >= 13
    latency = families["dualwrite_stream_detection_latency_seconds"]
    assert [s.value for s in latency.samples if s.name.endswith("_count")] == [len(expected)]
    assert "dualwrite_stream_lag_seconds" in families
    assert "stream" in page  # the stream's report is on the status page like a check's
