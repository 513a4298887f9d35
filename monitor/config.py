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
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

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


class Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PostgresSettings(Section):
    #: Secret: prefer env DUALWRITE_MONITOR_POSTGRES_DSN.
    dsn: SecretStr = SecretStr("postgresql://localhost:5432/loans")
    #: Every statement the monitor sends is cut off after this (protects production).
    statement_timeout: Duration = timedelta(seconds=30)
    #: The monitor's own schema (alert state, phases, audit, discovery cache).
    state_schema: Identifier = "dualwrite_monitor"
    #: Connections in the pool; slices read concurrently up to this many.
    pool_size: int = Field(default=8, ge=1, le=100)
    #: How long to wait for a connection to open before calling PostgreSQL unreachable.
    connect_timeout: Duration = timedelta(seconds=10)


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
    #: Per-request timeout; a slower answer counts as DynamoDB unavailable for this run.
    request_timeout: Duration = timedelta(seconds=10)

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        if value and not re.match(r"^https?://[^\s/]+", value):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value


class StatusValuesSettings(Section):
    pending: str = "Pending"
    committed: str = "Committed"
    failed: str = "Failed"
    compensated: str = "Compensated"


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
    slice_records: int = Field(default=5000, ge=100)


class SamplingSettings(Section):
    interval: Duration = timedelta(minutes=5)
    window: Duration = timedelta(hours=1)
    settle: Duration = timedelta(minutes=2)
    sample_size: int = Field(default=1000, ge=1)


class ChecksSettings(Section):
    orphans: OrphansSettings = OrphansSettings()
    counts: CountsSettings = CountsSettings()
    sampling: SamplingSettings = SamplingSettings()


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
    thresholds: ThresholdsSettings = ThresholdsSettings()


class TelemetrySettings(Section):
    listen: str = "127.0.0.1:9464"
    otlp_endpoint: str = ""

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


class Settings(Section):
    postgres: PostgresSettings = PostgresSettings()
    dynamodb: DynamoSettings = DynamoSettings()
    mapping: MappingSettings = MappingSettings()
    checks: ChecksSettings = ChecksSettings()
    alerts: AlertsSettings = AlertsSettings()
    telemetry: TelemetrySettings = TelemetrySettings()
    ha: HaSettings = HaSettings()

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
    )


# --- loading -------------------------------------------------------------------------------

_SECRET_ENV = {
    "SLACK_WEBHOOK_URL": ("alerts", "slack_webhook_url"),
    "SLACK_BOT_TOKEN": ("alerts", "slack_bot_token"),
    "OTEL_EXPORTER_OTLP_ENDPOINT": ("telemetry", "otlp_endpoint"),
}


def load_settings(
    path: Path | None = None, *, environ: Mapping[str, str] | None = None
) -> Settings:
    """Read the file (if any), apply the environment, validate. Raises ConfigError."""
    env = os.environ if environ is None else environ
    if path is None:
        path = Path(env.get(CONFIG_ENV) or DEFAULT_CONFIG_PATH)
    data = _read_toml(path)
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
    return settings


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
