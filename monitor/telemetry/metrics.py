"""Every instrument of CONTRACT §5, defined once, and the one place a CheckReport becomes metrics.

Checks never touch OpenTelemetry: the daemon hands each finished run to `Metrics.record_run` and
each report to `Metrics.record_report`, which sets the gauges the report's check declares in its
spec (`CheckSpec.gauges`), read from the report's typed figures. A report whose figures are not
its spec's type sets no gauge (a figure that is not a finite number sets no point).

`build_telemetry` makes one `MeterProvider` per daemon (never the global one, so tests build their
own): a Prometheus reader on a private registry, served at /metrics, plus an OTLP/HTTP push when
`[telemetry] otlp_endpoint` (or OTEL_EXPORTER_OTLP_ENDPOINT / ..._METRICS_ENDPOINT) is set.
Resource attributes come from the standard OTEL_* variables; `service.name` defaults to
"dualwrite-monitor" only when OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES do not name it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.metrics import Meter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from prometheus_client import CollectorRegistry, generate_latest

from monitor import __version__
from monitor.checks.registry import report_spec
from monitor.checks.spec import Gauge, number
from monitor.config import TelemetrySettings
from monitor.model import CheckReport, Outcome

METER_NAME = "dualwrite-monitor"
SERVICE_NAME = "dualwrite-monitor"
#: Check durations in seconds, from a quick counts run to a long sampled window.
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
AlertState = Literal["firing", "resolved"]


class Metrics:
    """The instruments. `record_*` are the only writers."""

    def __init__(self, meter: Meter) -> None:
        gauge = meter.create_gauge
        self.consistency = gauge(
            "dualwrite.consistency",
            unit="1",
            description="keys present in both stores / keys present in either, settled window",
        )
        self.records = gauge(
            "dualwrite.records", unit="1", description="records in the last settled window"
        )
        self.count_variance = gauge(
            "dualwrite.count_variance", unit="1", description="abs(sql - dynamodb) / max(sql, 1)"
        )
        self.orphans = gauge("dualwrite.orphans", unit="1", description="orphan findings, last run")
        self.orphan_ratio = gauge(
            "dualwrite.orphan_ratio", unit="1", description="orphans / records in the orphan window"
        )
        self.field_accuracy = gauge(
            "dualwrite.field_accuracy",
            unit="1",
            description="sampled records equal in every field / sampled records (Wilson 95%)",
        )
        self.field_mismatches = gauge(
            "dualwrite.field_mismatches",
            unit="1",
            description="sampled records differing, by field",
        )
        self.write_success = gauge(
            "dualwrite.write_success",
            unit="1",
            description="records Committed in both / records older than the grace period",
        )
        self.transaction_completion = gauge(
            "dualwrite.transaction_completion",
            unit="1",
            description="records in a final status / records older than the grace period",
        )
        self.check_duration = meter.create_histogram(
            "dualwrite.check.duration",
            unit="s",
            description="wall time of a check run",
            explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS),
        )
        self.check_runs = meter.create_counter(
            "dualwrite.check.runs", unit="1", description="check runs by outcome"
        )
        self.records_checked = meter.create_counter(
            "dualwrite.records_checked", unit="1", description="records examined by checks"
        )
        self.alerts = meter.create_counter(
            "dualwrite.alerts", unit="1", description="alert notifications by rule and state"
        )
        self.leader = gauge(
            "dualwrite.leader", unit="1", description="1 when this replica runs the checks"
        )
        #: The gauges a check's spec may name.
        self._gauges = {
            "dualwrite.consistency": self.consistency,
            "dualwrite.records": self.records,
            "dualwrite.count_variance": self.count_variance,
            "dualwrite.orphans": self.orphans,
            "dualwrite.orphan_ratio": self.orphan_ratio,
            "dualwrite.field_accuracy": self.field_accuracy,
            "dualwrite.field_mismatches": self.field_mismatches,
            "dualwrite.write_success": self.write_success,
            "dualwrite.transaction_completion": self.transaction_completion,
        }
        #: Attribute sets a sticky gauge has shown, per (instrument, table), so one that
        #: disappears from a report (a field that recovers) is set back to 0.
        self._seen: dict[tuple[str, str], set[tuple[tuple[str, str], ...]]] = {}

    # --- writers -------------------------------------------------------------------------

    def record_run(self, check: str, outcome: Outcome | str, duration: float | None) -> None:
        """Every run, whatever its end. `duration` is None for a run that never started."""
        self.check_runs.add(1, {"check": check, "outcome": str(outcome)})
        if duration is not None:
            self.check_duration.record(duration, {"check": check})

    def record_report(self, report: CheckReport) -> None:
        """The gauges the report's check declares (its spec), and the records it examined."""
        checked = records_checked(report)
        if checked is not None:
            self.records_checked.add(checked, {"check": report.check})
        spec = report_spec(report.check)
        figures = None if spec is None else spec.figures_of(report)
        if spec is not None and figures is not None:
            for gauge in spec.gauges:
                self._set(gauge, figures, report.table)

    def set_leader(self, leading: bool) -> None:
        self.leader.set(1 if leading else 0)

    def record_alert(self, rule: str, state: AlertState) -> None:
        """For the alerts engine: one notification sent (or resolved) for `rule`."""
        self.alerts.add(1, {"rule": rule, "state": state})

    def _set(self, gauge: Gauge[Any], figures: Any, table_name: str) -> None:
        instrument = self._gauges[gauge.instrument]
        table = {"table": table_name}
        points = {
            tuple(sorted(attributes.items())): value for attributes, value in gauge.read(figures)
        }
        if gauge.sticky:
            seen = self._seen.setdefault((gauge.instrument, table_name), set())
            for attributes in seen - set(points):
                points[attributes] = 0.0
            seen |= set(points)
        for attributes, value in points.items():
            instrument.set(value, {**table, **dict(attributes)})


def records_checked(report: CheckReport) -> float | None:
    """Records a run examined, as its spec reads them from its figures (None: not counted)."""
    spec = report_spec(report.check)
    if spec is None or spec.records_checked is None:
        return None
    figures = spec.figures_of(report)
    return None if figures is None else number(spec.records_checked(figures))


# --- the provider ------------------------------------------------------------------------


@dataclass
class Telemetry:
    provider: MeterProvider
    registry: CollectorRegistry
    metrics: Metrics
    #: Where metrics are pushed over OTLP/HTTP (None: no push).
    otlp_endpoint: str | None

    def prometheus_text(self) -> bytes:
        return generate_latest(self.registry)

    def shutdown(self, timeout: float = 5.0) -> None:
        """Flush a last OTLP export (bounded) and stop the readers."""
        self.provider.shutdown(timeout_millis=timeout * 1000)


def otlp_metrics_endpoint(configured: str, environ: Mapping[str, str]) -> str | None:
    """The full URL to POST metrics to: the signal-specific variable wins, as the spec says."""
    specific = environ.get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "").strip()
    if specific:
        return specific
    base = configured.strip()
    if not base:
        return None
    return base if base.rstrip("/").endswith("/v1/metrics") else base.rstrip("/") + "/v1/metrics"


def service_resource(environ: Mapping[str, str]) -> Resource:
    """Resource from OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES; code never overrides them."""
    given = {
        pair.split("=", 1)[0].strip()
        for pair in environ.get("OTEL_RESOURCE_ATTRIBUTES", "").split(",")
        if "=" in pair
    }
    if environ.get("OTEL_SERVICE_NAME"):
        given.add("service.name")
    defaults = {"service.name": SERVICE_NAME, "service.version": __version__}
    # Attributes passed in code would beat the environment, so pass only what it leaves out.
    return Resource.create({k: v for k, v in defaults.items() if k not in given})


def build_telemetry(
    settings: TelemetrySettings, environ: Mapping[str, str] | None = None
) -> Telemetry:
    env = os.environ if environ is None else environ
    registry = CollectorRegistry()
    readers: list[MetricReader] = [PrometheusMetricReader(registry=registry)]
    endpoint = otlp_metrics_endpoint(settings.otlp_endpoint, env)
    if endpoint is not None:
        # The interval comes from OTEL_METRIC_EXPORT_INTERVAL (default 60 s).
        readers.append(PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=endpoint)))
    provider = MeterProvider(metric_readers=readers, resource=service_resource(env))
    metrics = Metrics(provider.get_meter(METER_NAME, __version__))
    return Telemetry(provider, registry, metrics, endpoint)
