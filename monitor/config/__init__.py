"""config.toml plus environment overrides -> one frozen, validated `Settings`.

Every section of CONTRACT §2 is one frozen model. Durations are written as text ("90s", "5m",
"1h30m") and become `timedelta` here, at the boundary. A bad file raises `ConfigError` naming
the key and the problem; the CLI turns that into one line and exit code 2, never a traceback.

Environment overrides: `DUALWRITE_MONITOR_<SECTION>_<KEY>` (for example
`DUALWRITE_MONITOR_POSTGRES_DSN`, `DUALWRITE_MONITOR_CHECKS_COUNTS_INTERVAL`), plus the
conventional secret variables `SLACK_WEBHOOK_URL`, `SLACK_BOT_TOKEN` and
`OTEL_EXPORTER_OTLP_ENDPOINT`. Secrets never need to be written in the file.

The package: `values` (schema building blocks), `stores`, `mapping`, `checks`, `service`,
`operations` (the sections), `settings` (the root), `domain` (to core types), `loading`.
"""

from __future__ import annotations

from monitor.config.checks import ChecksSettings as ChecksSettings
from monitor.config.checks import CountsSettings as CountsSettings
from monitor.config.checks import IndexCheckSettings as IndexCheckSettings
from monitor.config.checks import OrphansSettings as OrphansSettings
from monitor.config.checks import QualitySettings as QualitySettings
from monitor.config.checks import RuleSettings as RuleSettings
from monitor.config.checks import SamplingSettings as SamplingSettings
from monitor.config.checks import Threshold as Threshold
from monitor.config.checks import ThresholdsSettings as ThresholdsSettings
from monitor.config.domain import field_specs as field_specs
from monitor.config.domain import quality_plan as quality_plan
from monitor.config.loading import _ENV_KEYS as _ENV_KEYS
from monitor.config.loading import CONFIG_ENV as CONFIG_ENV
from monitor.config.loading import CREDENTIALS as CREDENTIALS
from monitor.config.loading import CREDENTIALS_ENV as CREDENTIALS_ENV
from monitor.config.loading import DEFAULT_CONFIG_PATH as DEFAULT_CONFIG_PATH
from monitor.config.loading import ENV_PREFIX as ENV_PREFIX
from monitor.config.loading import load_settings as load_settings
from monitor.config.loading import settings_from_dict as settings_from_dict
from monitor.config.mapping import FieldSettings as FieldSettings
from monitor.config.mapping import MappingSettings as MappingSettings
from monitor.config.mapping import PendingIndexSettings as PendingIndexSettings
from monitor.config.mapping import StatusValuesSettings as StatusValuesSettings
from monitor.config.mapping import build_mapping as build_mapping
from monitor.config.mapping import is_default_model as is_default_model
from monitor.config.operations import CleanupSettings as CleanupSettings
from monitor.config.operations import GatesSettings as GatesSettings
from monitor.config.operations import PreflightSettings as PreflightSettings
from monitor.config.operations import RepairSettings as RepairSettings
from monitor.config.operations import StreamSettings as StreamSettings
from monitor.config.operations import VerifySettings as VerifySettings
from monitor.config.operations import WriterSettings as WriterSettings
from monitor.config.service import AlertsSettings as AlertsSettings
from monitor.config.service import DaemonSettings as DaemonSettings
from monitor.config.service import HaSettings as HaSettings
from monitor.config.service import TelemetrySettings as TelemetrySettings
from monitor.config.settings import Settings as Settings
from monitor.config.stores import DynamoSettings as DynamoSettings
from monitor.config.stores import PostgresSettings as PostgresSettings
from monitor.config.values import Attribute as Attribute
from monitor.config.values import Duration as Duration
from monitor.config.values import Identifier as Identifier
from monitor.config.values import QualifiedIdentifier as QualifiedIdentifier
from monitor.config.values import Section as Section
from monitor.config.values import StatusValue as StatusValue
from monitor.config.values import parse_duration as parse_duration
