"""The demo's settings: its local stores, and intervals of a few seconds."""

from __future__ import annotations

from monitor.config import Settings, settings_from_dict

#: How often the in-process daemon runs each check, and how young a record may be and still be
#: in flight: short, so that a one-minute demo sees findings, alerts and recoveries.
CHECK_INTERVAL = "5s"
GRACE = "5s"
#: Each of the demo's checks compares every record of its run (the acceptance of CONTRACT §7).
SAMPLE_SIZE = 20_000


def demo_settings(dsn: str, endpoint: str, port: int) -> Settings:
    window = "30m"
    return settings_from_dict(
        {
            "postgres": {"dsn": dsn, "pool_size": 16},
            # A loaded laptop: local servers may answer slowly while the writer is busy.
            "dynamodb": {"endpoint_url": endpoint, "request_timeout": "30s", "max_concurrency": 16},
            "checks": {
                "orphans": {"interval": CHECK_INTERVAL, "window": window, "grace": GRACE},
                "counts": {"interval": CHECK_INTERVAL, "window": window, "settle": GRACE},
                "sampling": {
                    "interval": "10s",
                    "window": window,
                    "settle": GRACE,
                    "sample_size": SAMPLE_SIZE,
                },
            },
            "alerts": {"hold_runs": 1, "repeat_interval": "1h"},
            "telemetry": {"listen": f"127.0.0.1:{port}"},
            "daemon": {"check_timeout": "60s", "drain_timeout": "5s"},
        }
    )
