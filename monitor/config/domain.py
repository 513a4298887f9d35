"""Settings turned into the core's types: the compared fields and the quality plan (the table
mapping is built beside its section, in `mapping.py`)."""

from __future__ import annotations

from monitor.config.mapping import FieldSettings
from monitor.config.settings import Settings
from monitor.core.compare import FieldSpec
from monitor.core.quality import PlanError, QualityPlan, build_plan
from monitor.errors import ConfigError


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
