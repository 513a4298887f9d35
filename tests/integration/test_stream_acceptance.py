"""Acceptance of continuous verification (CONTRACT §10): the generator's `heavy` faults, found by
the stream path alone (no interval check runs), each with its kind and key, nothing on the clean
records, and the detection latency measured against the grace period.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest

from monitor.config import Settings
from monitor.core.stats import percentile
from monitor.runtime import open_context
from monitor.setup import run_setup
from monitor.writer.faults import Fault, FaultProfile
from monitor.writer.generate import GenerateOptions, open_generator
from tests.conftest import make_settings
from tests.integration.test_stream import STREAM, running, service_for, wait_for
from tests.integration.test_stream_postgres import drop_slot

log = logging.getLogger(__name__)

pytestmark = [pytest.mark.services, pytest.mark.anyio, pytest.mark.timeout(300)]

#: The generator's slow write here (its default is 3 s), and a grace longer than it: a record
#: in flight is never judged.
SLOW_WRITE = 1.0
GRACE = 2.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_heavy_faults_are_found_by_the_stream_alone(
    database: str, dynamo_endpoint: str, tmp_path: Path
) -> None:
    slot = "s_" + database.rsplit("/", 1)[-1].lower()
    settings = make_settings(
        database,
        dynamo_endpoint,
        stream={
            **STREAM,
            "grace": f"{GRACE}s",
            "postgres": True,
            "slot": slot,
            "status_findings": 1000,
        },
        writer={"retry_delay": "1ms", "concurrency": 32},
        # 32 writes at once open the pool's connections together: on a loaded machine one
        # connect can take over the tests' usual 3 s, and its record would never be written.
        postgres={"connect_timeout": "15s"},
    )
    try:
        await _acceptance(settings, tmp_path / "truth.jsonl")
    finally:
        await drop_slot(settings)


async def _acceptance(settings: Settings, truth: Path) -> None:
    await run_setup(settings)
    options = GenerateOptions(
        rate=100,
        duration=timedelta(seconds=2),
        profile=FaultProfile.named("heavy"),
        seed=41,
        every_record=True,
        slow_write=SLOW_WRITE,
    )
    async with open_context(settings) as context:
        service = service_for(context)
        async with running(service):
            with truth.open("w") as out:
                async with open_generator(settings, options, out) as generator:
                    await generator.run(anyio.Event())
            faults: list[dict[str, Any]] = [
                json.loads(line) for line in (await anyio.Path(truth).read_text()).splitlines()[:-1]
            ]
            expected = {(f["expect"], f["key"]["log_id"]) for f in faults if f["expect"]}

            def found() -> set[tuple[str, Any]]:
                reporter = service.reporter
                return (
                    set()
                    if reporter is None
                    else {(str(f.finding.kind), f.finding.key) for f in reporter.recent}
                )

            def drained() -> bool:
                side, buffer = service.sql_side, service.buffer
                return (
                    side is not None
                    and buffer is not None
                    and side.waiting == 0
                    and len(buffer) == 0
                    and side.verified > 0
                )

            # Every record with a DynamoDB change is judged from the stream, every SQL change from
            # the slot (a crash after the SQL insert and a failed put leave no item, a stray put
            # no row): wait for all of those too, not only for the expected findings.
            itemless = {str(Fault.CRASH_AFTER_SQL), str(Fault.DYNAMODB_WRITE_FAILED)}
            with_item = 200 - sum(1 for f in faults if f["fault"] in itemless)
            with_row = 200 - sum(1 for f in faults if f["fault"] == str(Fault.DYNAMODB_ONLY))

            def judged() -> bool:
                verifier, side = service.verifier, service.sql_side
                return (
                    verifier is not None
                    and verifier.verified >= with_item
                    and side is not None
                    and side.verified >= with_row
                )

            await wait_for(lambda: expected <= found() and drained() and judged(), deadline=90)
        assert {f["fault"] for f in faults} == {str(f) for f in Fault}, "every kind injected"
        reporter = service.reporter
        assert reporter is not None
        assert found() == expected, "missed or false findings"
        assert service.verifier is not None and service.verifier.verified >= with_item
        assert service.sql_side is not None and service.sql_side.verified >= with_row
        latencies = sorted((f.found_at - f.changed_at).total_seconds() for f in reporter.recent)
        p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
        log.info("stream detection latency: p50 %.2fs p99 %.2fs (grace %.0fs)", p50, p99, GRACE)
        assert GRACE <= p50 <= GRACE + 5
