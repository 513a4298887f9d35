"""The root `Settings`: every section of CONTRACT §2, one frozen, validated model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import (
    model_validator,
)

from monitor.config.checks import ChecksSettings
from monitor.config.mapping import (
    MappingSettings,
    build_mapping,
    is_default_model,
    without_default_model,
)
from monitor.config.operations import (
    CleanupSettings,
    GatesSettings,
    PreflightSettings,
    RepairSettings,
    StreamSettings,
    VerifySettings,
    WriterSettings,
)
from monitor.config.service import AlertsSettings, DaemonSettings, HaSettings, TelemetrySettings
from monitor.config.stores import DynamoSettings, PostgresSettings
from monitor.config.values import Section
from monitor.core.mapping import (
    TableMapping,
)


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
        return without_default_model(data)

    def runbook_template(self) -> str:
        """Where alerts link to, `{rule}` standing for the rule's anchor; empty when nowhere."""
        if self.telemetry.public_url:
            return f"{self.telemetry.public_url}/runbook#{{rule}}"
        return self.alerts.runbook_url

    def table_mapping(self) -> TableMapping:
        """The core's view of `[mapping]` (validated when the settings were loaded)."""
        return build_mapping(self.mapping)
