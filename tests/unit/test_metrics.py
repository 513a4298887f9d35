"""Reports -> instruments, on a per-test MeterProvider read with InMemoryMetricReader; the
Prometheus text; the OTLP/HTTP push against a local receiver."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import pytest
from aiohttp import web
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    HistogramDataPoint,
    InMemoryMetricReader,
    NumberDataPoint,
)
from prometheus_client.parser import text_string_to_metric_families

from monitor.config import TelemetrySettings
from monitor.model import CheckReport, Finding, FindingKind, Outcome, Window
from monitor.telemetry.metrics import (
    Metrics,
    build_telemetry,
    otlp_metrics_endpoint,
    records_checked,
    service_resource,
)
from tests.figures import figures_for

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
TABLE = "integration_logs"

#: CONTRACT §5, verbatim: instrument -> attribute keys (beside the table).
CONTRACT_INSTRUMENTS = {
    "dualwrite.consistency",
    "dualwrite.records",
    "dualwrite.count_variance",
    "dualwrite.orphans",
    "dualwrite.orphan_ratio",
    "dualwrite.field_accuracy",
    "dualwrite.field_mismatches",
    "dualwrite.write_success",
    "dualwrite.transaction_completion",
    "dualwrite.check.duration",
    "dualwrite.check.runs",
    "dualwrite.records_checked",
    "dualwrite.alerts",
    "dualwrite.leader",
}


@pytest.fixture
def provider() -> Iterator[tuple[MeterProvider, InMemoryMetricReader]]:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    yield provider, reader
    provider.shutdown()


@pytest.fixture
def reader(provider: tuple[MeterProvider, InMemoryMetricReader]) -> InMemoryMetricReader:
    return provider[1]


@pytest.fixture
def metrics(provider: tuple[MeterProvider, InMemoryMetricReader]) -> Metrics:
    return Metrics(provider[0].get_meter("test"))


def make_report(check: str, summary: dict[str, Any], *findings: Finding) -> CheckReport:
    window = Window(NOW - timedelta(minutes=10), NOW)
    figures = figures_for(check, summary)
    return CheckReport(check, TABLE, "log_id", window, False, figures, tuple(findings))


def points(reader: InMemoryMetricReader) -> dict[str, dict[frozenset[tuple[str, Any]], Any]]:
    """instrument name -> {attributes: value (number, or the histogram point)}."""
    out: dict[str, dict[frozenset[tuple[str, Any]], Any]] = {}
    data = reader.get_metrics_data()
    if data is None:
        return out
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                series = out.setdefault(metric.name, {})
                for point in metric.data.data_points:
                    key = frozenset((point.attributes or {}).items())
                    if isinstance(point, NumberDataPoint):
                        series[key] = point.value
                    elif isinstance(point, HistogramDataPoint):
                        series[key] = point
    return out


def attrs(**values: str) -> frozenset[tuple[str, str]]:
    return frozenset(values.items())


def test_every_contract_instrument_exists_once(
    metrics: Metrics, reader: InMemoryMetricReader
) -> None:
    # Touch every instrument, then read back the names the SDK exports.
    metrics.record_report(
        make_report("counts", {"sql_count": 10, "dynamodb_count": 9, "consistency": 0.9})
    )
    metrics.record_report(
        make_report(
            "orphans", {"orphan_ratio": 0.1, "write_success": 0.9, "transaction_completion": 1}
        )
    )
    metrics.record_report(
        make_report(
            "sample",
            {"accuracy": {"point": 1, "lower": 0.9, "upper": 1}, "mismatches_by_field": {"A": 1}},
        )
    )
    metrics.record_run("counts", Outcome.OK, 0.5)
    metrics.record_alert("data_consistency", "firing")
    metrics.set_leader(True)
    assert set(points(reader)) == CONTRACT_INSTRUMENTS


def test_counts_report_feeds_consistency_records_and_variance(
    metrics: Metrics, reader: InMemoryMetricReader
) -> None:
    metrics.record_report(
        make_report(
            "counts",
            {"sql_count": 200, "dynamodb_count": 190, "consistency": 0.95, "variance_percent": 5},
        )
    )
    got = points(reader)
    assert got["dualwrite.consistency"] == {attrs(table=TABLE): 0.95}
    assert got["dualwrite.records"] == {
        attrs(table=TABLE, store="sql"): 200,
        attrs(table=TABLE, store="dynamodb"): 190,
    }
    # CONTRACT §5: abs(sql - dynamodb) / max(sql, 1), a ratio (not the report's percent).
    assert got["dualwrite.count_variance"] == {attrs(table=TABLE): pytest.approx(0.05)}
    assert got["dualwrite.records_checked"] == {attrs(check="counts"): 390}


def test_variance_of_an_empty_sql_window_divides_by_one(
    metrics: Metrics, reader: InMemoryMetricReader
) -> None:
    metrics.record_report(make_report("counts", {"sql_count": 0, "dynamodb_count": 3}))
    assert points(reader)["dualwrite.count_variance"] == {attrs(table=TABLE): 3.0}


def test_orphans_by_kind_from_summary_or_findings_and_ratios(
    metrics: Metrics, reader: InMemoryMetricReader
) -> None:
    findings = [
        Finding(FindingKind.STUCK_PENDING, 1),
        Finding(FindingKind.STUCK_PENDING, 2),
        Finding(FindingKind.MISSING_IN_SQL, 3),
    ]
    summary = {
        # The figures count every kind (a report lists at most some of its findings).
        "missing_in_dynamodb": 4,
        "missing_in_sql": 1,
        "stuck_pending": 2,
        "orphan_ratio": 0.002,
        "write_success": 0.997,
        "transaction_completion": 0.999,
        "records": 5000,
    }
    metrics.record_report(make_report("orphans", summary, *findings))
    got = points(reader)
    assert got["dualwrite.orphans"] == {
        attrs(table=TABLE, kind="missing_in_dynamodb"): 4,
        attrs(table=TABLE, kind="missing_in_sql"): 1,
        attrs(table=TABLE, kind="status_divergence"): 0,
        attrs(table=TABLE, kind="stuck_pending"): 2,
    }
    assert got["dualwrite.orphan_ratio"] == {attrs(table=TABLE): 0.002}
    assert got["dualwrite.write_success"] == {attrs(table=TABLE): 0.997}
    assert got["dualwrite.transaction_completion"] == {attrs(table=TABLE): 0.999}
    assert got["dualwrite.records_checked"] == {attrs(check="orphans"): 5000}


def test_missing_or_malformed_summary_keys_leave_gauges_unset(
    metrics: Metrics, reader: InMemoryMetricReader
) -> None:
    # A malformed summary never becomes figures (it is refused when read back); a figure that
    # is not a finite number, or figures of another shape under a check's name, set no gauge.
    for check, malformed in (
        ("orphans", {"orphan_ratio": "n/a", "write_success": True}),
        ("sample", {"accuracy": "bad", "mismatches_by_field": [1]}),
        ("counts", {"consistency": None}),
    ):
        with pytest.raises(ValueError):
            make_report(check, malformed)
    nan = float("nan")
    metrics.record_report(
        make_report(
            "orphans", {"orphan_ratio": nan, "write_success": nan, "transaction_completion": nan}
        )
    )
    metrics.record_report(replace(make_report("counts", {}), figures=figures_for("fake")))
    metrics.record_report(replace(make_report("sample", {}), figures=figures_for("fake")))
    got = points(reader)
    for name in (
        "dualwrite.orphan_ratio",
        "dualwrite.write_success",
        "dualwrite.transaction_completion",
        "dualwrite.field_accuracy",
        "dualwrite.field_mismatches",
        "dualwrite.consistency",
        "dualwrite.records",
        "dualwrite.count_variance",
    ):
        assert not got.get(name), name


def test_sample_report_feeds_accuracy_bounds_and_field_mismatches(
    metrics: Metrics, reader: InMemoryMetricReader
) -> None:
    summary = {
        "accuracy": {"point": 0.963, "lower": 0.941, "upper": 0.977},
        "mismatches_by_field": {"StatusCode": 3, "RequestData": 1},
        "sampled": 1000,
    }
    metrics.record_report(make_report("sample", summary))
    got = points(reader)
    assert got["dualwrite.field_accuracy"] == {
        attrs(table=TABLE, bound="point"): 0.963,
        attrs(table=TABLE, bound="lower"): 0.941,
        attrs(table=TABLE, bound="upper"): 0.977,
    }
    assert got["dualwrite.field_mismatches"] == {
        attrs(table=TABLE, field="StatusCode"): 3,
        attrs(table=TABLE, field="RequestData"): 1,
    }
    assert got["dualwrite.records_checked"] == {attrs(check="sample"): 1000}
    # A field that recovers goes back to 0 instead of keeping its last bad value.
    metrics.record_report(make_report("sample", {"mismatches_by_field": {"RequestData": 2}}))
    assert points(reader)["dualwrite.field_mismatches"] == {
        attrs(table=TABLE, field="StatusCode"): 0,
        attrs(table=TABLE, field="RequestData"): 2,
    }


def test_runs_are_counted_by_outcome_and_timed(
    metrics: Metrics, reader: InMemoryMetricReader
) -> None:
    metrics.record_run("counts", Outcome.OK, 1.5)
    metrics.record_run("counts", Outcome.ERROR, 0.25)
    metrics.record_run("counts", Outcome.ERROR, None)  # skipped: never started, not timed
    metrics.record_run("orphans", "inconsistent", 2.0)
    got = points(reader)
    assert got["dualwrite.check.runs"] == {
        attrs(check="counts", outcome="ok"): 1,
        attrs(check="counts", outcome="error"): 2,
        attrs(check="orphans", outcome="inconsistent"): 1,
    }
    histogram = got["dualwrite.check.duration"][attrs(check="counts")]
    assert (histogram.count, histogram.sum) == (2, 1.75)
    assert 600.0 in histogram.explicit_bounds  # seconds, not the SDK's millisecond defaults


def test_leader_and_alerts(metrics: Metrics, reader: InMemoryMetricReader) -> None:
    metrics.set_leader(True)
    metrics.set_leader(False)
    metrics.record_alert("field_accuracy", "firing")
    metrics.record_alert("field_accuracy", "resolved")
    metrics.record_alert("field_accuracy", "firing")
    got = points(reader)
    assert got["dualwrite.leader"] == {frozenset(): 0}
    assert got["dualwrite.alerts"] == {
        attrs(rule="field_accuracy", state="firing"): 2,
        attrs(rule="field_accuracy", state="resolved"): 1,
    }


def test_records_checked_is_what_each_spec_reads() -> None:
    # The stream's report says how many it checked; a sampling check counts its sample.
    assert records_checked(make_report("stream", {"records_checked": 7, "verified": 9})) == 7
    assert records_checked(make_report("quality", {"sampled": 9})) == 9
    assert records_checked(make_report("fake", {})) is None


def test_prometheus_text_uses_underscored_names_with_attributes() -> None:
    telemetry = build_telemetry(TelemetrySettings(), environ={})
    try:
        telemetry.metrics.record_report(
            make_report("counts", {"sql_count": 58, "dynamodb_count": 57, "consistency": 0.9})
        )
        telemetry.metrics.record_run("counts", Outcome.INCONSISTENT, 0.2)
        families = {
            f.name: f for f in text_string_to_metric_families(telemetry.prometheus_text().decode())
        }
        records = {s.labels["store"]: s.value for s in families["dualwrite_records"].samples}
        assert records == {"sql": 58, "dynamodb": 57}
        assert families["dualwrite_count_variance"].samples[0].value == pytest.approx(1 / 58)
        [runs] = families["dualwrite_check_runs"].samples  # the parser strips `_total`
        assert runs.name == "dualwrite_check_runs_total"
        assert runs.labels["outcome"] == "inconsistent" and runs.value == 1
        assert "dualwrite_check_duration_seconds" in families
        assert telemetry.otlp_endpoint is None
    finally:
        telemetry.shutdown()


def test_two_providers_do_not_share_a_registry() -> None:
    first = build_telemetry(TelemetrySettings(), environ={})
    second = build_telemetry(TelemetrySettings(), environ={})
    try:
        first.metrics.set_leader(True)
        assert b"dualwrite_leader" in first.prometheus_text()
        assert b"dualwrite_leader" not in second.prometheus_text()
    finally:
        first.shutdown()
        second.shutdown()


@pytest.mark.parametrize(
    ("configured", "environ", "expected"),
    [
        ("", {}, None),
        ("http://collector:4318", {}, "http://collector:4318/v1/metrics"),
        ("http://collector:4318/", {}, "http://collector:4318/v1/metrics"),
        ("http://c:4318/v1/metrics", {}, "http://c:4318/v1/metrics"),
        (
            "http://base:4318",
            {"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://m:9/custom"},
            "http://m:9/custom",
        ),
    ],
)
def test_otlp_endpoint(configured: str, environ: dict[str, str], expected: str | None) -> None:
    assert otlp_metrics_endpoint(configured, environ) == expected


def test_service_name_from_the_environment_is_not_overridden(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES", raising=False)
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    assert service_resource({}).attributes["service.name"] == "dualwrite-monitor"
    monkeypatch.setenv("OTEL_SERVICE_NAME", "loans-monitor-eu")
    resource = service_resource({"OTEL_SERVICE_NAME": "loans-monitor-eu"})
    assert resource.attributes["service.name"] == "loans-monitor-eu"
    monkeypatch.delenv("OTEL_SERVICE_NAME")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attrs,deployment.env=prod")
    resource = service_resource({"OTEL_RESOURCE_ATTRIBUTES": "service.name=from-attrs"})
    assert resource.attributes["service.name"] == "from-attrs"
    assert resource.attributes["deployment.env"] == "prod"


@asynccontextmanager
async def otlp_receiver() -> AsyncIterator[tuple[str, list[ExportMetricsServiceRequest]]]:
    """A local OTLP/HTTP endpoint: POST /v1/metrics with a protobuf body."""
    received: list[ExportMetricsServiceRequest] = []

    async def metrics(request: web.Request) -> web.Response:
        assert request.content_type == "application/x-protobuf"
        received.append(ExportMetricsServiceRequest.FromString(await request.read()))
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/v1/metrics", metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}", received
    finally:
        await runner.cleanup()


def exported_names(requests: list[ExportMetricsServiceRequest]) -> dict[str, Any]:
    names: dict[str, Any] = {}
    for request in requests:
        for resource in request.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    names[metric.name] = metric
    return names


@pytest.mark.anyio
async def test_otlp_push_reaches_a_local_receiver() -> None:
    async with otlp_receiver() as (endpoint, received):
        telemetry = build_telemetry(TelemetrySettings(otlp_endpoint=endpoint), environ={})
        assert telemetry.otlp_endpoint == endpoint + "/v1/metrics"
        telemetry.metrics.record_run("counts", Outcome.ERROR, 0.1)
        telemetry.metrics.record_report(
            make_report("counts", {"sql_count": 5, "dynamodb_count": 4, "consistency": 0.8})
        )
        # The exporter posts from its own thread; shutdown flushes a final export.
        await anyio.to_thread.run_sync(telemetry.shutdown)
        names = exported_names(received)
    assert {"dualwrite.check.runs", "dualwrite.records", "dualwrite.consistency"} <= set(names)
    [point] = names["dualwrite.check.runs"].sum.data_points
    assert point.as_int == 1 or point.as_double == 1
    labels = {kv.key: kv.value.string_value for kv in point.attributes}
    assert labels == {"check": "counts", "outcome": "error"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
