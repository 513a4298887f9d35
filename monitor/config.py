"""config.toml plus environment overrides -> one frozen, validated `Settings`.

Every section of CONTRACT §2 is one frozen model. Durations are written as text ("90s", "5m",
"1h30m") and become `timedelta` here, at the boundary. A bad file raises `ConfigError` naming
the key and the problem; the CLI turns that into one line and exit code 2, never a traceback.

Environment overrides: `DUALWRITE_MONITOR_<SECTION>_<KEY>` (for example
`DUALWRITE_MONITOR_POSTGRES_DSN`, `DUALWRITE_MONITOR_CHECKS_COUNTS_INTERVAL`), plus the
conventional secret variables `SLACK_WEBHOOK_URL`, `SLACK_BOT_TOKEN` and
`OTEL_EXPORTER_OTLP_ENDPOINT`. Secrets never need to be written in the file.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from monitor.core.compare import FieldSpec
from monitor.core.dsn import dsn_hosts
from monitor.core.mapping import (
    FieldMap,
    IndexMap,
    KeyTemplate,
    StatusValues,
    TableMapping,
    TemplateError,
    is_sql_identifier,
    pascal_case,
)
from monitor.core.quality import PlanError, QualityPlan, build_plan
from monitor.core.sqlnames import index_names
from monitor.errors import ConfigError

ENV_PREFIX = "DUALWRITE_MONITOR_"
CONFIG_ENV = "DUALWRITE_MONITOR_CONFIG"
DEFAULT_CONFIG_PATH = Path("config.toml")

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT = {
    "ms": timedelta(milliseconds=1),
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
}


def parse_duration(value: Any) -> timedelta:
    """ "90s", "5m", "1h30m", "250ms" -> timedelta. Anything else is an error that says the form."""
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str):
        raise ValueError(f'expected a duration string such as "90s" or "5m", got {value!r}')
    text = value.strip()
    parts = _DURATION_PART.findall(text)
    if not text or "".join(n + u for n, u in parts) != text:
        raise ValueError(f'{value!r} is not a duration; write e.g. "90s", "5m", "1h", "1h30m"')
    return sum((float(n) * _UNIT[u] for n, u in parts), timedelta())


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


def _identifier(value: str) -> str:
    if not is_sql_identifier(value):
        raise ValueError(
            f"{value!r} is not a safe SQL identifier (letters, digits and _, not starting with a digit)"
        )
    return value


def _qualified_identifier(value: str) -> str:
    parts = value.split(".")
    if len(parts) > 2 or not all(is_sql_identifier(p) for p in parts):
        raise ValueError(
            f"{value!r} is not a safe SQL table name (identifier or schema.identifier)"
        )
    return value


Identifier = Annotated[str, BeforeValidator(_identifier)]
QualifiedIdentifier = Annotated[str, BeforeValidator(_qualified_identifier)]
Attribute = Annotated[str, Field(min_length=1, max_length=255)]


def _http_url(value: str) -> str:
    """An endpoint override: empty (the AWS default) or an http(s) URL."""
    if value and not re.match(r"^https?://[^\s/]+", value):
        raise ValueError(f"{value!r} is not an http(s) URL")
    return value


class Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


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
    #: The monitor never reads faster than this, measured with ReturnConsumedCapacity.
    max_read_units_per_second: float = Field(default=500, gt=0)
    #: Concurrent DynamoDB requests (Query slices, BatchGetItem calls).
    max_concurrency: int = Field(default=8, ge=1, le=256)
    #: How often a PK-only segmented Scan looks for partition values that exist only in DynamoDB.
    discovery_interval: Duration = timedelta(hours=1)
    #: A discovery pass is spread over runs: each run scans at most this many read units.
    discovery_read_units_per_run: float = Field(default=5000, gt=0)
    #: Per-request timeout; a slower answer counts as DynamoDB unavailable for this run.
    request_timeout: Duration = timedelta(seconds=10)

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        return _http_url(value)


def _status_value(value: str) -> str:
    # Spliced into the partial index's predicate as an escape-string literal (quote_literal):
    # any text is safe there, but PostgreSQL text cannot hold NUL.
    if "\x00" in value:
        raise ValueError("a status value cannot contain a NUL character")
    return value


StatusValue = Annotated[str, Field(min_length=1, max_length=255), AfterValidator(_status_value)]


class StatusValuesSettings(Section):
    pending: StatusValue = "Pending"
    committed: StatusValue = "Committed"
    failed: StatusValue = "Failed"
    compensated: StatusValue = "Compensated"


class PendingIndexSettings(Section):
    name: Attribute
    partition_key: Attribute
    sort_key: Attribute
    partition_key_template: str


class FieldSettings(Section):
    column: Identifier
    attribute: Attribute
    compare: Literal["exact", "timestamp", "json", "number"] = "exact"
    #: `timestamp` only: how far apart the two values may be.
    tolerance: Duration | None = None
    #: `number` only: absolute and relative tolerance.
    abs_tolerance: float = Field(default=0.0, ge=0)
    rel_tolerance: float = Field(default=0.0, ge=0)

    def spec(self) -> FieldSpec:
        """The comparator's view; raises ValueError (e.g. a tolerance on an `exact` field)."""
        return FieldSpec(
            self.column,
            self.attribute,
            self.compare,
            tolerance=self.tolerance,
            abs_tolerance=self.abs_tolerance,
            rel_tolerance=self.rel_tolerance,
        )


def _default_fields() -> tuple[FieldSettings, ...]:
    return (
        FieldSettings(column="log_type", attribute="LogType"),
        FieldSettings(column="is_success", attribute="IsSuccess"),
        FieldSettings(column="status_code", attribute="StatusCode"),
        FieldSettings(
            column="log_timestamp",
            attribute="LogTimestamp",
            compare="timestamp",
            tolerance=timedelta(seconds=1),
        ),
        FieldSettings(column="request_data", attribute="RequestData", compare="json"),
    )


class MappingSettings(Section):
    sql_table: QualifiedIdentifier = "integration_logs"
    key_column: Identifier = "log_id"
    timestamp_column: Identifier = "log_timestamp"
    status_column: Identifier = "write_status"
    partition_key: Attribute = "PK"
    sort_key: Attribute = "SK"
    partition_key_template: str = "LOG#{service_name}#{log_timestamp:%Y-%m-%d}"
    sort_key_template: str = "{log_timestamp:%Y-%m-%dT%H:%M:%S.%fZ}#{log_id}"
    #: Default: key_column in PascalCase.
    key_attribute: Attribute | None = None
    #: Default: status_column in PascalCase.
    status_attribute: Attribute | None = None
    status_values: StatusValuesSettings = StatusValuesSettings()
    pending_index: PendingIndexSettings | None = PendingIndexSettings(
        name="PendingByDate",
        partition_key="GSI3PK",
        sort_key="GSI3SK",
        partition_key_template="PENDING#{log_timestamp:%Y-%m-%d}",
    )
    fields: tuple[FieldSettings, ...] = Field(default_factory=_default_fields)
    #: Every value of each partition column, when known (e.g. the list of services): then no
    #: discovery Scan runs. Empty: discovered. Either every partition column or none.
    partition_values: dict[str, tuple[str, ...]] = Field(default_factory=dict)

    @field_validator("pending_index", mode="before")
    @classmethod
    def _no_index(cls, value: Any) -> Any:
        # TOML has no null: `pending_index = false` (or `{}`) says the table has no such index.
        return None if value is False or value == {} else value


class OrphansSettings(Section):
    interval: Duration = timedelta(minutes=5)
    window: Duration = timedelta(minutes=15)
    #: Younger records are in flight and never judged.
    grace: Duration = timedelta(minutes=2)


class CountsSettings(Section):
    interval: Duration = timedelta(minutes=5)
    window: Duration = timedelta(minutes=10)
    #: The window ends at now - settle.
    settle: Duration = timedelta(minutes=2)
    threshold_percent: float = Field(default=0.1, ge=0)
    #: Target records per slice: memory is O(slice_records x concurrency), not O(window).
    #: Small slices: DynamoDB Local pages a long Query in O(n^2) (bench/counts.py: ~500 reads
    #: a window 3x faster than ~5,000), and on AWS they cost only a few more requests.
    slice_records: int = Field(default=500, ge=100)


class SamplingSettings(Section):
    interval: Duration = timedelta(minutes=5)
    window: Duration = timedelta(hours=1)
    settle: Duration = timedelta(minutes=2)
    sample_size: int = Field(default=1000, ge=1)


class RuleSettings(Section):
    """A business rule on the SQL row, in the safe form of `monitor.core.ruleexpr`."""

    name: Annotated[str, Field(min_length=1, max_length=100)]
    #: When this holds, `require` must hold too. Default: always.
    when: str = "true"
    require: str


class IndexCheckSettings(Section):
    """A GSI whose attributes `quality` checks on every sampled item."""

    name: Attribute
    partition_key: Attribute
    #: Rendered from the SQL row; a NULL column means the attribute must be absent.
    partition_key_template: str
    #: An attribute that must equal the item's base sort key (optional).
    sort_key: Attribute | None = None
    #: The attributes are present exactly when this holds on the SQL row; empty: always.
    when: str = ""


def _default_rules() -> tuple[RuleSettings, ...]:
    return (
        RuleSettings(
            name="errors_have_message",
            when="is_success = false",
            require="error_message is not null",
        ),
        RuleSettings(
            name="error_logs_are_failures",
            when="log_type = 'Error'",
            require="is_success = false",
        ),
        RuleSettings(name="processing_time_not_negative", require="processing_time_ms >= 0"),
    )


def _default_index_checks() -> tuple[IndexCheckSettings, ...]:
    return (
        IndexCheckSettings(
            name="ByApplication",
            partition_key="GSI1PK",
            partition_key_template="APP#{application_id}",
            sort_key="GSI1SK",
        ),
        IndexCheckSettings(
            name="ErrorsByDate",
            partition_key="GSI2PK",
            partition_key_template="ERR#{log_timestamp:%Y-%m-%d}",
            sort_key="GSI2SK",
            when="is_success = false",
        ),
    )


def _default_quality_fields() -> tuple[FieldSettings, ...]:
    return (
        FieldSettings(column="application_id", attribute="ApplicationId"),
        FieldSettings(column="service_name", attribute="ServiceName"),
        FieldSettings(column="response_data", attribute="ResponseData", compare="json"),
        FieldSettings(column="error_message", attribute="ErrorMessage"),
        FieldSettings(column="processing_time_ms", attribute="ProcessingTimeMs", compare="number"),
    )


class QualitySettings(Section):
    #: Business rules evaluated on each sampled SQL row (`rule_violation`).
    rules: tuple[RuleSettings, ...] = Field(default_factory=_default_rules)
    #: GSIs checked on each sampled item (`index_integrity`); [mapping] pending_index is added.
    indexes: tuple[IndexCheckSettings, ...] = Field(default_factory=_default_index_checks)
    #: Attributes type-checked besides [mapping] fields (`invalid_data`), never compared.
    fields: tuple[FieldSettings, ...] = Field(default_factory=_default_quality_fields)
    #: The report is not ok when the window's grade is worse than this.
    min_grade: Literal["Excellent", "Good", "Fair", "Poor", "Critical"] = "Good"


class ChecksSettings(Section):
    #: The longest window one `check` run accepts; longer ranges are for `verify`.
    max_window: Duration = timedelta(days=7)
    orphans: OrphansSettings = OrphansSettings()
    counts: CountsSettings = CountsSettings()
    sampling: SamplingSettings = SamplingSettings()
    quality: QualitySettings = QualitySettings()

    @model_validator(mode="after")
    def _windows_fit(self) -> ChecksSettings:
        for name in ("orphans", "counts", "sampling"):
            if getattr(self, name).window > self.max_window:
                raise ValueError(
                    f"checks.{name}.window is longer than checks.max_window ({self.max_window})"
                )
        return self


class Threshold(Section):
    target: float
    alert_below: float | None = None
    alert_above: float | None = None

    @model_validator(mode="after")
    def _one_direction(self) -> Threshold:
        if (self.alert_below is None) == (self.alert_above is None):
            raise ValueError("set exactly one of alert_below or alert_above")
        return self


class ThresholdsSettings(Section):
    data_consistency: Threshold = Threshold(target=99.9, alert_below=99.5)
    write_success_rate: Threshold = Threshold(target=99.95, alert_below=99.9)
    orphaned_records: Threshold = Threshold(target=0.01, alert_above=0.1)
    field_accuracy: Threshold = Threshold(target=99.99, alert_below=99.9)
    transaction_completion: Threshold = Threshold(target=99.9, alert_below=99.5)


class AlertsSettings(Section):
    #: Secret: prefer env SLACK_WEBHOOK_URL.
    slack_webhook_url: SecretStr = SecretStr("")
    #: Secret, env SLACK_BOT_TOKEN only; with `channel`, edits resolved alerts in place.
    slack_bot_token: SecretStr = SecretStr("")
    channel: str = ""
    repeat_interval: Duration = timedelta(hours=4)
    #: Consecutive runs a rule must breach before it fires, and recover before it resolves.
    hold_runs: int = Field(default=2, ge=1, le=100)
    #: `check_failed:<check>` fires when a check has failed this many runs in a row.
    failure_runs: int = Field(default=3, ge=1, le=1000)
    #: Linked from every message when `[telemetry] public_url` is not set: an absolute http(s)
    #: URL, `{rule}` replaced by the rule's runbook anchor. Empty: no link (the daemon warns).
    runbook_url: str = ""
    #: Slack Web API base (bot token only); change it for a proxy or a test server.
    slack_api_url: str = "https://slack.com/api/"
    #: One delivery attempt to Slack gives up after this; the outbox tries again later.
    send_timeout: Duration = timedelta(seconds=10)
    #: The outbox retries an undelivered alert with doubling waits, capped at this.
    retry_max_backoff: Duration = timedelta(minutes=5)
    thresholds: ThresholdsSettings = ThresholdsSettings()

    @field_validator("runbook_url")
    @classmethod
    def _runbook_url(cls, value: str) -> str:
        return _absolute_url(value, "a runbook link in Slack must open from anywhere")

    @field_validator("slack_api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError(f"{value!r} is not an http(s) URL")
        # slack-sdk joins method names onto it: without the slash it would drop `/api`.
        return value if value.endswith("/") else value + "/"


def _absolute_url(value: str, why: str) -> str:
    """Empty, or an absolute http(s) URL (a relative path is not a link anyone can open)."""
    if value and not re.match(r"^https?://[^\s/]+[^\s]*$", value):
        raise ValueError(f"{value!r} is not an absolute http(s) URL ({why})")
    return value


class TelemetrySettings(Section):
    listen: str = "127.0.0.1:9464"
    otlp_endpoint: str = ""
    #: The URL people reach this daemon at (e.g. the Kubernetes Service); alerts then link to
    #: its own `/runbook`. Empty: alerts link to `[alerts] runbook_url`.
    public_url: str = ""

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        return _absolute_url(value, "alerts link to it from Slack").rstrip("/")

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError(f"{value!r} is not host:port")
        return value


class HaSettings(Section):
    #: Leader election among replicas through a PostgreSQL advisory lock.
    enabled: bool = False
    #: How often the leader proves it still holds the lock (and a standby retries it); a
    #: leader whose heartbeat fails steps down at once.
    heartbeat: Duration = timedelta(seconds=5)

    @field_validator("heartbeat")
    @classmethod
    def _positive_heartbeat(cls, value: timedelta) -> timedelta:
        return _positive(value)


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be longer than zero")
    return value


class VerifySettings(Section):
    """`dualwrite-monitor verify`: the whole history, window by window, resumably."""

    #: One window of the walk: reconciled like `check counts`, then checkpointed, so an
    #: interrupted run loses at most the window in progress.
    window: Duration = timedelta(hours=1)
    #: Windows per shard: the unit one worker claims (its own advisory lock), so N processes
    #: running the same range share the work and never read one shard twice at once.
    shard_windows: int = Field(default=24, ge=1, le=100_000)
    #: Shards one process verifies at once (their slices share [dynamodb] max_concurrency): a
    #: window's slices alone rarely fill the concurrency, several windows do.
    windows_in_flight: int = Field(default=4, ge=1, le=64)
    # --- `verify --from-export`: the comparison runs in DuckDB, out of core ---------------
    #: DuckDB's memory ceiling (e.g. "2GB"); joins larger than this spill to export_temp_dir.
    export_memory_limit: str = "2GB"
    #: Where an S3 export is staged, the snapshot files are written and DuckDB spills; empty:
    #: the system's temporary folder. Needs room for the export, the snapshot and the spill.
    export_temp_dir: str = ""
    #: DuckDB's worker threads; 0: one per core.
    export_threads: int = Field(default=0, ge=0, le=1024)
    #: Parallel COPY streams of the PostgreSQL snapshot (key ranges of one exported snapshot).
    export_sql_streams: int = Field(default=2, ge=1, le=64)
    #: The statement timeout of the snapshot's COPY, which outlives the interactive
    #: statement_timeout by design (a whole table is copied).
    export_copy_timeout: Duration = timedelta(hours=6)
    #: For an s3:// export: empty is AWS; set for a local S3-API server.
    export_s3_endpoint_url: str = ""

    @field_validator("window")
    @classmethod
    def _positive_window(cls, value: timedelta) -> timedelta:
        return _positive(value)

    @field_validator("export_memory_limit")
    @classmethod
    def _memory(cls, value: str) -> str:
        if not re.fullmatch(r"\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)", value.strip()):
            raise ValueError(f'{value!r} is not a size such as "2GB" or "512MiB"')
        return value.strip()

    @field_validator("export_s3_endpoint_url")
    @classmethod
    def _s3_endpoint(cls, value: str) -> str:
        return _http_url(value)

    @field_validator("export_copy_timeout")
    @classmethod
    def _positive_copy(cls, value: timedelta) -> timedelta:
        return _positive(value)


class DaemonSettings(Section):
    #: Every scheduled check run is cancelled after this and counted as an error, so a hung
    #: check can never silently stop the monitor. Keep it below the shortest interval.
    check_timeout: Duration = timedelta(minutes=4)
    #: On SIGTERM/SIGINT, in-flight checks get this long to finish before they are cancelled.
    drain_timeout: Duration = timedelta(seconds=20)

    @field_validator("check_timeout")
    @classmethod
    def _positive_timeout(cls, value: timedelta) -> timedelta:
        return _positive(value)

    @field_validator("drain_timeout")
    @classmethod
    def _drain(cls, value: timedelta) -> timedelta:
        if value < timedelta(0):
            raise ValueError("must not be negative")
        return value


class WriterSettings(Section):
    """The dual writer (`monitor.writer`, `generate`, `demo`)."""

    #: What a failed dual write does to its SQL row: "soft" marks it Compensated (readers may
    #: have seen it; the attempt stays on record), "delete" removes it.
    compensation: Literal["soft", "delete"] = "soft"
    #: The two commit marks: "sequential" marks SQL, then DynamoDB (CONTRACT §7); "concurrent"
    #: marks both at once, a round trip less per write. Either way both writes have landed, so
    #: a failed mark is never compensated: its side stays Pending for repair to finish.
    commit_marks: Literal["sequential", "concurrent"] = "sequential"
    #: Writes in flight at once (`generate`, the demo, `write_many`).
    concurrency: int = Field(default=16, ge=1, le=1000)
    #: Attempts per step on a transient store error (throttling, a lost connection), with capped
    #: exponential backoff; then the step fails for good (compensation or left pending).
    retries: int = Field(default=5, ge=3, le=20)
    #: The first backoff wait; each retry doubles it (with jitter).
    retry_delay: Duration = timedelta(milliseconds=50)
    #: How long the writer trusts the migration phase it read before reading it again.
    phase_cache: Duration = timedelta(seconds=5)


class StreamSettings(Section):
    """Continuous verification from change streams (CONTRACT §10)."""

    #: Consume the DynamoDB table's stream (NEW_AND_OLD_IMAGES) and verify every change.
    enabled: bool = False
    #: A change younger than this is in flight and not judged yet (the dual write's own steps
    #: take milliseconds; a slow write a few seconds).
    grace: Duration = timedelta(seconds=30)
    #: Without a checkpoint (the first start on a stream), read from "latest" (new changes only)
    #: or "trim_horizon" (everything the stream still holds, up to 24 hours).
    start_at: Literal["latest", "trim_horizon"] = "latest"
    #: How long an idle shard waits before asking for new records again.
    poll_interval: Duration = timedelta(seconds=1)
    #: Records per GetRecords call (DynamoDB Streams allows at most 1,000).
    records_per_call: int = Field(default=1000, ge=1, le=1000)
    #: Changes judged together: one SQL read (and, for SQL changes, BatchGetItems) per batch.
    batch_size: int = Field(default=500, ge=1, le=10000)
    #: How often the position of each shard (and of the PostgreSQL slot) is written down.
    checkpoint_interval: Duration = timedelta(seconds=5)
    #: Also verify each SQL change against DynamoDB, from PostgreSQL logical decoding (needs
    #: wal_level = logical; `setup` creates the publication and the slot).
    postgres: bool = False
    #: The logical replication slot and publication `setup` creates for that.
    slot: Identifier = "dualwrite_monitor"
    publication: Identifier = "dualwrite_monitor"
    #: Retained WAL of the slot above this many megabytes logs a warning (an unconsumed slot
    #: fills the disk).
    max_retained_wal_mb: int = Field(default=1024, ge=1)
    #: How often the stream's figures become a `stream` report (metrics, /status, alert rules).
    report_interval: Duration = timedelta(minutes=1)
    #: Stream findings kept for /status.
    status_findings: int = Field(default=20, ge=0, le=1000)

    @field_validator("grace", "poll_interval", "checkpoint_interval", "report_interval")
    @classmethod
    def _positive_durations(cls, value: timedelta) -> timedelta:
        return _positive(value)

    @field_validator("slot")
    @classmethod
    def _slot_name(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z0-9_]{1,63}", value):
            raise ValueError("a replication slot name is lower-case letters, digits and _")
        return value


#: `[mapping]` keys that name the table and its model: a value other than the default one makes
#: this another team's mapping.
_MODEL_KEYS = (
    "sql_table",
    "key_column",
    "timestamp_column",
    "partition_key_template",
    "sort_key_template",
)
#: Optional `[mapping]` keys whose defaults describe the default model's columns: for another
#: mapping, an omitted one means "none" (no pending index, no compared field). (`[checks.quality]`
#: defaults need not: they are restricted to the table's columns at run time, with a warning.)
_MODEL_DEFAULTS: dict[tuple[str, ...], Any] = {
    ("mapping", "pending_index"): None,
    ("mapping", "fields"): (),
}


def is_default_model(mapping: Mapping[str, Any]) -> bool:
    """Whether a `[mapping]` table (as written) describes the default data model."""
    defaults = MappingSettings.model_fields
    return all(mapping.get(k, defaults[k].default) == defaults[k].default for k in _MODEL_KEYS)


def _without_default_model(data: Mapping[str, Any]) -> dict[str, Any]:
    """`data` with the default model's optional keys set to "none" where they were omitted."""
    out = dict(data)
    for path, none in _MODEL_DEFAULTS.items():
        node: dict[str, Any] = out
        for part in path[:-1]:
            child = node.get(part, {})
            if not isinstance(child, Mapping):
                break  # a wrong type: validation names it
            node[part] = dict(child)
            node = node[part]
        else:
            node.setdefault(path[-1], none)
    return out


class RepairSettings(Section):
    """`dualwrite-monitor repair` (CONTRACT §8), and the daemon's own repair when enabled."""

    #: The daemon repairs too (plans from every check, then applies, conditional and audited):
    #: off by default, so the monitor writes nothing outside its own schema unless this is on
    #: or `repair --apply` is run.
    enabled: bool = False
    #: How often the daemon repairs, when enabled.
    interval: Duration = timedelta(minutes=15)
    #: At most this many actions per daemon repair run (the rest wait for the next run).
    max_actions_per_run: int = Field(default=100, ge=1)

    #: A DynamoDB item with no SQL row: mark it Compensated (soft), or delete it.
    dynamodb_only: Literal["compensate", "delete"] = "compensate"
    #: A SQL column repair compares with the status in its WHERE (and sets to now()); empty:
    #: the table has none, and only the status is compared.
    updated_at_column: str = "updated_at"
    #: Conditional writes per second, both stores together: repair never writes faster.
    max_writes_per_second: float = Field(default=50, gt=0)

    @field_validator("updated_at_column")
    @classmethod
    def _column(cls, value: str) -> str:
        return value and _identifier(value)


class CleanupSettings(Section):
    """`dualwrite-monitor cleanup` (dry run unless --apply)."""

    #: Rows of the monitor's repair audit (finished) and alert outbox (delivered or superseded)
    #: older than this are removed by `cleanup --apply`.
    retention: Duration = timedelta(days=90)


class PreflightSettings(Section):
    """`dualwrite-monitor preflight` and the `dual-write` gate (CONTRACT §4b)."""

    #: A store whose p99 round trip is slower than this fails the (advisory) latency item.
    max_latency: Duration = timedelta(milliseconds=250)
    #: Backups (DynamoDB point-in-time recovery, PostgreSQL WAL archiving) are advisory unless
    #: this is true: then preflight, and so the `dual-write` gate, refuses without them.
    require_backups: bool = False


class GatesSettings(Section):
    """`dualwrite-monitor gate dual-write|read-switch|write-switch` (CONTRACT §4b)."""

    #: The settled window counts, orphans and the field-accuracy sample judge.
    window: Duration = timedelta(hours=1)
    #: The latest part of that window the canary reads cover (SQL reads it per pattern value).
    canary_window: Duration = timedelta(minutes=10)
    #: Partition values read per read pattern, drawn at random from the window.
    canary_reads: int = Field(default=5, ge=1, le=1000)
    #: The canary reads' DynamoDB p99 must be within this (the seed's performance verification).
    canary_latency_budget: Duration = timedelta(milliseconds=100)
    #: After `--apply` switches the phase, the validation waits for this many records written
    #: after the switch in a settled window (real traffic, not a fixed sleep) before it judges.
    after_switch_records: int = Field(default=100, ge=1)
    #: How long that validation waits for them; then it fails, saying what it saw.
    after_switch_timeout: Duration = timedelta(minutes=15)


class Settings(Section):
    postgres: PostgresSettings = PostgresSettings()
    dynamodb: DynamoSettings = DynamoSettings()
    mapping: MappingSettings = MappingSettings()
    checks: ChecksSettings = ChecksSettings()
    alerts: AlertsSettings = AlertsSettings()
    telemetry: TelemetrySettings = TelemetrySettings()
    ha: HaSettings = HaSettings()
    daemon: DaemonSettings = DaemonSettings()
    writer: WriterSettings = WriterSettings()
    repair: RepairSettings = RepairSettings()
    cleanup: CleanupSettings = CleanupSettings()
    preflight: PreflightSettings = PreflightSettings()
    gates: GatesSettings = GatesSettings()
    verify: VerifySettings = VerifySettings()
    stream: StreamSettings = StreamSettings()

    @model_validator(mode="before")
    @classmethod
    def _another_model(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        mapping = data.get("mapping", {})
        if not isinstance(mapping, Mapping) or is_default_model(mapping):
            return data
        return _without_default_model(data)

    def runbook_template(self) -> str:
        """Where alerts link to, `{rule}` standing for the rule's anchor; empty when nowhere."""
        if self.telemetry.public_url:
            return f"{self.telemetry.public_url}/runbook#{{rule}}"
        return self.alerts.runbook_url

    def table_mapping(self) -> TableMapping:
        """The core's view of `[mapping]` (validated when the settings were loaded)."""
        return build_mapping(self.mapping)


def build_mapping(m: MappingSettings) -> TableMapping:
    ts = m.timestamp_column

    def parse(source: str, key: str) -> KeyTemplate:
        try:
            return KeyTemplate.parse(source, timestamp_column=ts)
        except TemplateError as exc:
            raise TemplateError(str(exc), key) from None

    index = None
    if m.pending_index is not None:
        index = IndexMap(
            name=m.pending_index.name,
            partition_key=m.pending_index.partition_key,
            sort_key=m.pending_index.sort_key,
            partition_template=parse(
                m.pending_index.partition_key_template, "pending_index.partition_key_template"
            ),
        )
    sv = m.status_values
    return TableMapping(
        sql_table=m.sql_table,
        key_column=m.key_column,
        timestamp_column=ts,
        status_column=m.status_column,
        partition_key=m.partition_key,
        sort_key=m.sort_key,
        partition_template=parse(m.partition_key_template, "partition_key_template"),
        sort_template=parse(m.sort_key_template, "sort_key_template"),
        key_attribute=m.key_attribute or pascal_case(m.key_column),
        status_attribute=m.status_attribute or pascal_case(m.status_column),
        status_values=StatusValues(sv.pending, sv.committed, sv.failed, sv.compensated),
        pending_index=index,
        fields=tuple(FieldMap(f.column, f.attribute, f.compare) for f in m.fields),
        partition_values=tuple(m.partition_values.items()),
    )


# --- loading -------------------------------------------------------------------------------

_SECRET_ENV = {
    "SLACK_WEBHOOK_URL": ("alerts", "slack_webhook_url"),
    "SLACK_BOT_TOKEN": ("alerts", "slack_bot_token"),
    "OTEL_EXPORTER_OTLP_ENDPOINT": ("telemetry", "otlp_endpoint"),
}

CREDENTIALS_ENV = "CREDENTIALS_DIRECTORY"
# systemd LoadCredential= names -> (the environment variable that wins over it, settings key).
CREDENTIALS = {
    "postgres-dsn": ("DUALWRITE_MONITOR_POSTGRES_DSN", ("postgres", "dsn")),
    "slack-webhook": ("SLACK_WEBHOOK_URL", ("alerts", "slack_webhook_url")),
    "slack-bot-token": ("SLACK_BOT_TOKEN", ("alerts", "slack_bot_token")),
}


def _apply_credentials(data: dict[str, Any], env: Mapping[str, str]) -> None:
    """Secrets handed over by systemd as files in $CREDENTIALS_DIRECTORY (absent files skipped).

    Precedence: environment variable, then credential file, then config.toml. A file is read
    only when its variable is unset, and its content never appears in an error.
    """
    directory = env.get(CREDENTIALS_ENV)
    if not directory:
        return
    for name, (variable, target) in CREDENTIALS.items():
        if env.get(variable):
            continue
        path = Path(directory) / name
        try:
            value = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            continue
        except UnicodeDecodeError:
            raise ConfigError(f"credential {path}", "not UTF-8 text") from None
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise ConfigError(f"credential {path}", f"cannot read: {reason}") from None
        if not value:
            raise ConfigError(f"credential {path}", "file is empty (remove it or fill it)")
        _set(data, target, value)


def load_settings(
    path: Path | None = None, *, environ: Mapping[str, str] | None = None
) -> Settings:
    """Read the file (if any), apply the environment, validate. Raises ConfigError."""
    env = os.environ if environ is None else environ
    if path is None:
        path = Path(env.get(CONFIG_ENV) or DEFAULT_CONFIG_PATH)
    data = _read_toml(path)
    _apply_credentials(data, env)
    _apply_environment(data, env)
    return settings_from_dict(data, source=str(path))


def settings_from_dict(data: Mapping[str, Any], *, source: str = "config") -> Settings:
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(p) for p in error["loc"]) or "(top level)"
        raise ConfigError(key, _humanise(error)) from None
    try:
        settings.table_mapping()
    except TemplateError as exc:
        raise ConfigError(f"mapping.{exc.template or 'templates'}", str(exc)) from None
    try:
        # The index names `setup` derives are checked now, before anything is created.
        index_names(settings.mapping.sql_table)
    except ValueError as exc:
        raise ConfigError("mapping.sql_table", str(exc)) from None
    quality_plan(settings)
    return settings


def field_specs(fields: tuple[FieldSettings, ...], key: str) -> tuple[FieldSpec, ...]:
    """`[mapping] fields` (or another list of FieldSettings) as comparator specs."""
    specs = []
    for i, field_settings in enumerate(fields):
        try:
            specs.append(field_settings.spec())
        except ValueError as exc:
            raise ConfigError(f"{key}[{i}]", str(exc)) from None
    return tuple(specs)


def quality_plan(settings: Settings) -> QualityPlan:
    """What `check quality` checks, parsed; a bad rule or template names its key (exit 2)."""
    compared = field_specs(settings.mapping.fields, "mapping.fields")
    quality = settings.checks.quality
    extra = field_specs(quality.fields, "checks.quality.fields")
    try:
        return build_plan(
            settings.table_mapping(), (*compared, *extra), quality.rules, quality.indexes
        )
    except PlanError as exc:
        raise ConfigError(f"checks.quality.{exc.key}", exc.message) from None


def _humanise(error: Mapping[str, Any]) -> str:
    kind = error.get("type")
    if kind == "extra_forbidden":
        return "unknown key (check the spelling against config.toml)"
    if kind == "missing":
        return "required key is missing"
    message = str(error.get("msg", "invalid value"))
    return message.removeprefix("Value error, ")


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(str(path), "file not found (pass --config PATH)") from None
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read: {exc.strerror}") from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), f"not valid TOML: {exc}") from None


def _env_names(model: type[BaseModel], path: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """Every scalar key's environment variable name -> its path in the settings tree."""
    names: dict[str, tuple[str, ...]] = {}
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, Section):
            names |= _env_names(annotation, (*path, name))
        else:
            names[ENV_PREFIX + "_".join((*path, name)).upper()] = (*path, name)
    return names


_ENV_KEYS = _env_names(Settings, ())


def _apply_environment(data: dict[str, Any], env: Mapping[str, str]) -> None:
    for variable, target in _SECRET_ENV.items():
        if env.get(variable):
            _set(data, target, env[variable])
    for variable, value in env.items():
        if not variable.startswith(ENV_PREFIX) or variable == CONFIG_ENV:
            continue
        key_path = _ENV_KEYS.get(variable)
        if key_path is None:
            raise ConfigError(variable, "unknown environment variable for dualwrite-monitor")
        _set(data, key_path, _env_value(variable, value))


def _env_value(variable: str, value: str) -> Any:
    """Structured keys (tables, lists) are written as JSON in the environment."""
    if value[:1] in "[{":
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise ConfigError(variable, f"not valid JSON: {exc.msg}") from None
    return value


def _set(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = data
    for part in path[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(".".join(path), "expected a table")
        node = child
    node[path[-1]] = value
