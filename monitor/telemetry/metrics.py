"""Every instrument of CONTRACT §5, defined once, and the one place a CheckReport becomes metrics.

Checks never touch OpenTelemetry: the daemon hands each finished run to `Metrics.record_run` and
each report to `Metrics.record_report`. Summary keys are read defensively: a key a check does not
produce leaves its gauge unset rather than failing the run.

`build_telemetry` makes one `MeterProvider` per daemon (never the global one, so tests build their
own): a Prometheus reader on a private registry, served at /metrics, plus an OTLP/HTTP push when
`[telemetry] otlp_endpoint` (or OTEL_EXPORTER_OTLP_ENDPOINT / ..._METRICS_ENDPOINT) is set.
Resource attributes come from the standard OTEL_* variables; `service.name` defaults to
"dualwrite-monitor" only when OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES do not name it.
"""

from __future__ import annotations

import math
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
from monitor.config import TelemetrySettings
from monitor.model import CheckReport, FindingKind, Outcome

METER_NAME = "dualwrite-monitor"
SERVICE_NAME = "dualwrite-monitor"
#: Check durations in seconds, from a quick counts run to a long sampled window.
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
#: The kinds `dualwrite.orphans{kind}` always reports (0 when a run found none).
ORPHAN_KINDS = (
    FindingKind.MISSING_IN_DYNAMODB,
    FindingKind.MISSING_IN_SQL,
    FindingKind.STATUS_DIVERGENCE,
    FindingKind.STUCK_PENDING,
)
AlertState = Literal["firing", "resolved"]


def number(value: Any) -> float | None:
    """A finite int/float from a summary, else None (booleans and strings are not figures)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


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
        #: Fields seen with mismatches per table, so a field that recovers is set back to 0.
        self._mismatch_fields: dict[str, set[str]] = {}

    # --- writers -------------------------------------------------------------------------

    def record_run(self, check: str, outcome: Outcome | str, duration: float | None) -> None:
        """Every run, whatever its end. `duration` is None for a run that never started."""
        self.check_runs.add(1, {"check": check, "outcome": str(outcome)})
        if duration is not None:
            self.check_duration.record(duration, {"check": check})

    def record_report(self, report: CheckReport) -> None:
        summary = report.summary
        checked = records_checked(report)
        if checked is not None:
            self.records_checked.add(checked, {"check": report.check})
        if report.check == "counts":
            self._counts(report.table, summary)
        elif report.check == "orphans":
            self._orphans(report)
        elif report.check == "sample":
            self._sample(report.table, summary)

    def set_leader(self, leading: bool) -> None:
        self.leader.set(1 if leading else 0)

    def record_alert(self, rule: str, state: AlertState) -> None:
        """For the alerts engine: one notification sent (or resolved) for `rule`."""
        self.alerts.add(1, {"rule": rule, "state": state})

    # --- per check -----------------------------------------------------------------------

    def _counts(self, table: str, summary: Mapping[str, Any]) -> None:
        attrs = {"table": table}
        consistency = number(summary.get("consistency"))
        if consistency is not None:
            self.consistency.set(consistency, attrs)
        sql, dynamo = number(summary.get("sql_count")), number(summary.get("dynamodb_count"))
        if sql is not None:
            self.records.set(sql, {**attrs, "store": "sql"})
        if dynamo is not None:
            self.records.set(dynamo, {**attrs, "store": "dynamodb"})
        if sql is not None and dynamo is not None:
            self.count_variance.set(abs(sql - dynamo) / max(sql, 1.0), attrs)

    def _orphans(self, report: CheckReport) -> None:
        attrs = {"table": report.table}
        summary = report.summary
        for kind in ORPHAN_KINDS:
            count = number(summary.get(kind))
            if count is None:
                count = float(sum(f.kind is kind for f in report.findings))
            self.orphans.set(count, {**attrs, "kind": str(kind)})
        for key, gauge in (
            ("orphan_ratio", self.orphan_ratio),
            ("write_success", self.write_success),
            ("transaction_completion", self.transaction_completion),
        ):
            value = number(summary.get(key))
            if value is not None:
                gauge.set(value, attrs)

    def _sample(self, table: str, summary: Mapping[str, Any]) -> None:
        attrs = {"table": table}
        accuracy = summary.get("accuracy")
        if isinstance(accuracy, Mapping):
            for bound in ("point", "lower", "upper"):
                value = number(accuracy.get(bound))
                if value is not None:
                    self.field_accuracy.set(value, {**attrs, "bound": bound})
        by_field = summary.get("mismatches_by_field")
        if isinstance(by_field, Mapping):
            seen = self._mismatch_fields.setdefault(table, set())
            current = {str(f): number(v) for f, v in by_field.items()}
            for field in seen | set(current):
                self.field_mismatches.set(current.get(field) or 0.0, {**attrs, "field": field})
            seen |= set(current)


def records_checked(report: CheckReport) -> float | None:
    """Records a run examined: the summary's `records_checked`, else per check what it read."""
    summary = report.summary
    explicit = number(summary.get("records_checked"))
    if explicit is not None:
        return explicit
    if report.check == "counts":
        sql, dynamo = number(summary.get("sql_count")), number(summary.get("dynamodb_count"))
        return None if sql is None or dynamo is None else sql + dynamo
    for key in ("sampled", "records", "checked"):
        value = number(summary.get(key))
        if value is not None:
            return value
    return None


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
