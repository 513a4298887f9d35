"""The `[checks.*]` sections and the alert thresholds the checks are judged against."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import (
    Field,
    model_validator,
)

from monitor.config.mapping import FieldSettings
from monitor.config.values import Attribute, Duration, Section


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
    #: ~1,000: DynamoDB Local pages a long Query in O(n^2) (bench/counts.py at 200k, quiet: 2,000
    #: 1.5x slower than 1,000), while 500 parses twice the responses for the same items (1,000:
    #: 1.19x the floor, 500: 1.32x). On AWS a slice of 1,000 small items is still one page.
    slice_records: int = Field(default=1000, ge=100)


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
