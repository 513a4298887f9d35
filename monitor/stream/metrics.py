"""The stream's instruments (CONTRACT §10), on the daemon's meter provider."""

from __future__ import annotations

from opentelemetry.metrics import Meter

#: Seconds from a change to its finding: grace plus a few seconds is the goal.
LATENCY_BUCKETS = (1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 300.0, 900.0)


class StreamMetrics:
    def __init__(self, meter: Meter) -> None:
        self.lag = meter.create_gauge(
            "dualwrite.stream.lag",
            unit="s",
            description="now - the newest time up to which every change is verified",
        )
        self.verified = meter.create_counter(
            "dualwrite.stream.verified", unit="1", description="changed records verified"
        )
        self.detection_latency = meter.create_histogram(
            "dualwrite.stream.detection_latency",
            unit="s",
            description="from a change's time to its finding",
            explicit_bucket_boundaries_advisory=list(LATENCY_BUCKETS),
        )
        self.retained_wal = meter.create_gauge(
            "dualwrite.stream.retained_wal",
            unit="By",
            description="WAL the logical slot keeps from being recycled",
        )

    def record_verified(self, direction: str, ok: int, findings: int) -> None:
        if ok:
            self.verified.add(ok, {"result": "ok", "direction": direction})
        if findings:
            self.verified.add(findings, {"result": "finding", "direction": direction})

    def record_lag(self, direction: str, seconds: float) -> None:
        self.lag.set(max(0.0, seconds), {"direction": direction})

    def record_latency(self, seconds: float) -> None:
        self.detection_latency.record(max(0.0, seconds))

    def record_retained_wal(self, slot: str, size: int) -> None:
        self.retained_wal.set(size, {"slot": slot})
