"""The daemon's rolling verification on the real stores: a cycle finds divergence planted in
old history, reports coverage, rate and ETA, and the next cycle reads everything again."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import anyio
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from monitor.config import Settings
from monitor.runtime import StoreContext, open_context
from monitor.verify.background import BackgroundVerify, VerifyMetrics
from tests.conftest import make_settings
from tests.integration.scenario import make_rows, seed
from tests.integration.test_verify import STEP
from tests.integration.test_verify_resume import planted

#: The cycle walks `start` up to now - settle (2 min): 2026-01-01T06:00Z .. 2026-01-03T08:00Z.
NOW = datetime(2026, 1, 3, 8, 2, tzinfo=UTC)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def daemon_settings(database: str, dynamo_endpoint: str) -> Settings:
    return make_settings(
        database,
        dynamo_endpoint,
        verify={
            "window": "6h",
            "shard_windows": 2,
            "enabled": True,
            "start": "2026-01-01T06:00:00Z",
            "read_share": 0.5,
        },
    )


def gauges(reader: InMemoryMetricReader) -> dict[str, list[tuple[dict[str, Any], float]]]:
    out: dict[str, list[tuple[dict[str, Any], float]]] = {}
    data = reader.get_metrics_data()
    assert data is not None
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    value = float(getattr(point, "value", 0))
                    out.setdefault(metric.name, []).append((dict(point.attributes or {}), value))
    return out


@pytest.mark.anyio
async def test_a_cycle_finds_old_divergence_and_the_next_cycle_reads_it_all_again(
    daemon_settings: Settings,
) -> None:
    await anyio.to_thread.run_sync(planted, daemon_settings)
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    async with open_context(daemon_settings) as context:

        async def get() -> StoreContext:
            return context

        service = BackgroundVerify(
            daemon_settings, get, VerifyMetrics(provider.get_meter("t")), now=lambda: NOW
        )
        first = await service.cycle()
        assert {f.key for f in first.findings} == {1, 77, 299, 3, 140, 250}
        status = service.status_json()
        assert status["cycles"] == 1 and status["last_cycle"]["ok"] is False
        current = status["current"]
        assert current["windows_done"] == current["windows_total"]
        assert current["coverage"] == 1.0 and current["eta_seconds"] == 0
        assert current["records"] == 298 + 297
        # The cycle read within its share of the budget, charged to the whole budget too.
        assert context.dynamo.budget.consumed >= first.summary["read_units"] > 0

        second = await service.cycle()
        assert second.summary["run_id"] != first.summary["run_id"]
        assert second.summary["coverage"]["windows_resumed"] == 0
        assert second.findings == first.findings
    figures = gauges(reader)
    provider.shutdown()
    assert figures["dualwrite.verify.coverage"] == [({}, 1.0)]
    assert figures["dualwrite.verify.eta"] == [({}, 0.0)]
    assert figures["dualwrite.verify.rate"][0][1] > 0


@pytest.mark.anyio
async def test_a_cycle_with_a_field_sample_finds_a_field_corrupted_long_ago(
    database: str, dynamo_endpoint: str
) -> None:
    settings = make_settings(
        database,
        dynamo_endpoint,
        verify={"window": "6h", "enabled": True, "start": "2026-01-01T06:00:00Z"}
        | {"sample_fraction": 1.0},
    )
    rows = make_rows(300, step=STEP)
    corrupted = {7: {"IsSuccess": {"BOOL": False}}}  # log_id 7: a success, stored as a failure
    await anyio.to_thread.run_sync(lambda: seed(settings, rows, item_overrides=corrupted))
    async with open_context(settings) as context:

        async def get() -> StoreContext:
            return context

        meter = MeterProvider().get_meter("t")
        service = BackgroundVerify(settings, get, VerifyMetrics(meter), now=lambda: NOW)
        report = await service.cycle()
    assert [(f.kind, f.key, f.field) for f in report.findings] == [
        ("field_mismatch", 7, "IsSuccess")
    ]
    assert service.status_json()["last_cycle"]["sample"]["sampled"] == 300


@pytest.mark.anyio
async def test_a_failed_cycle_is_counted_and_said_once_without_traceback(
    daemon_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    from monitor.errors import StoreUnavailable

    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])

    async def down() -> StoreContext:
        raise StoreUnavailable("PostgreSQL", "connection refused")

    service = BackgroundVerify(daemon_settings, down, VerifyMetrics(provider.get_meter("t")))
    with anyio.move_on_after(0.5):
        await service.run()
    assert service.status_json()["error"] == "PostgreSQL unavailable: connection refused"
    failures = [r for r in caplog.records if r.getMessage() == "verify.failed"]
    assert len(failures) == 1 and failures[0].exc_info is None
    figures = gauges(reader)
    provider.shutdown()
    assert figures["dualwrite.verify.cycles"] == [({"outcome": "error"}, 1.0)]
