"""The `[mapping]` section: the SQL table, the DynamoDB table and how one maps to the other."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Literal

from pydantic import (
    Field,
    field_validator,
)

from monitor.config.values import (
    Attribute,
    Duration,
    Identifier,
    QualifiedIdentifier,
    Section,
    StatusValue,
)
from monitor.core.compare import FieldSpec
from monitor.core.mapping import (
    FieldMap,
    IndexMap,
    KeyTemplate,
    StatusValues,
    TableMapping,
    TemplateError,
    pascal_case,
)


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


def without_default_model(data: Mapping[str, Any]) -> dict[str, Any]:
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
