"""The `[postgres]` and `[dynamodb]` sections: where the two stores are and how they are read."""

from __future__ import annotations

from datetime import timedelta

from pydantic import (
    Field,
    SecretStr,
    field_validator,
)

from monitor.config.values import Attribute, Duration, Identifier, Section, http_url
from monitor.core.dsn import dsn_hosts


class PostgresSettings(Section):
    #: Secret: prefer env DUALWRITE_MONITOR_POSTGRES_DSN. Checked here, never echoed.
    dsn: SecretStr = SecretStr("postgresql://localhost:5432/loans")
    #: Every statement the monitor sends is cut off after this (protects production).
    statement_timeout: Duration = timedelta(seconds=30)
    #: The monitor's own schema (alert state, phases, audit, discovery cache).
    state_schema: Identifier = "dualwrite_monitor"
    #: Connections in the pool; slices read concurrently up to this many.
    pool_size: int = Field(default=8, ge=1, le=100)
    #: How long to wait for a connection to open before calling PostgreSQL unreachable.
    connect_timeout: Duration = timedelta(seconds=10)

    @field_validator("dsn")
    @classmethod
    def _dsn(cls, value: SecretStr) -> SecretStr:
        dsn_hosts(value.get_secret_value())  # DsnError (a ValueError) names no part of it
        return value

    @property
    def servers(self) -> str:
        """The DSN's `host:port` list, for messages (no user, no password)."""
        return ", ".join(dsn_hosts(self.dsn.get_secret_value()))


class DynamoSettings(Section):
    table: Attribute = "IntegrationLogs"
    region: str = "us-east-1"
    #: Empty: AWS. Set it for a local DynamoDB-API server.
    endpoint_url: str = ""
    #: The monitor never reads faster than this, measured with ReturnConsumedCapacity (what
    #: that guarantees: monitor/stores/budget.py).
    max_read_units_per_second: float = Field(default=500, gt=0)
    #: Concurrent DynamoDB requests (Query slices, BatchGetItem calls).
    max_concurrency: int = Field(default=8, ge=1, le=256)
    #: How often a PK-only segmented Scan looks for partition values that exist only in DynamoDB.
    discovery_interval: Duration = timedelta(hours=1)
    #: A discovery pass is spread over runs: each run scans at most this many read units.
    discovery_read_units_per_run: float = Field(default=5000, gt=0)
    #: Beside a check, discovery takes at most this share of the check's own read units and
    #: wall time (at least one Scan page per run): it never holds the answer back.
    discovery_share: float = Field(default=0.1, gt=0, le=1)
    #: Per-request timeout; a slower answer counts as DynamoDB unavailable for this run.
    request_timeout: Duration = timedelta(seconds=10)

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        return http_url(value)
