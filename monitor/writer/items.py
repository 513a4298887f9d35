"""A row of the default data model (CONTRACT §1) as its DynamoDB item, in wire format.

Also builds the secondary-index attributes: GSI1 by application, GSI2 only for failures,
GSI3 only while the write is pending (a sparse index: pending detection costs what is pending).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from monitor.core.mapping import TableMapping, format_time, pascal_case

DEFAULT_COLUMNS = (
    "log_id",
    "application_id",
    "service_name",
    "log_type",
    "log_timestamp",
    "request_data",
    "response_data",
    "status_code",
    "is_success",
    "error_message",
    "processing_time_ms",
    "correlation_id",
    "transaction_id",
    "write_status",
    "updated_at",
)
#: Columns that exist only in SQL (bookkeeping), not as item attributes.
_SQL_ONLY = frozenset({"updated_at"})


def attribute_value(value: Any, *, time_format: str) -> dict[str, Any] | None:
    """A Python value as a DynamoDB attribute; None (SQL NULL) means "leave the attribute out"."""
    if value is None:
        return None
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float):
        return {"N": str(value)}
    if isinstance(value, datetime):
        return {"S": format_time(value, time_format)}
    return {"S": str(value)}


def default_item(row: Mapping[str, Any], mapping: TableMapping) -> dict[str, dict[str, Any]]:
    """The item the dual writer puts for `row` (the default mapping's names)."""
    time_format = mapping.sort_template.time_format or "%Y-%m-%dT%H:%M:%S.%fZ"
    sk = mapping.sort_template.render(row)
    item: dict[str, dict[str, Any]] = {
        mapping.partition_key: {"S": mapping.partition_template.render(row)},
        mapping.sort_key: {"S": sk},
    }
    for column in DEFAULT_COLUMNS:
        if column in _SQL_ONLY or column not in row:
            continue
        value = attribute_value(row[column], time_format=time_format)
        if value is not None:
            item[pascal_case(column)] = value
    timestamp = row["log_timestamp"]
    item["GSI1PK"] = {"S": f"APP#{row['application_id']}"}
    item["GSI1SK"] = {"S": sk}
    if row.get("is_success") is False:
        item["GSI2PK"] = {"S": f"ERR#{format_time(timestamp, '%Y-%m-%d')}"}
        item["GSI2SK"] = {"S": sk}
    index = mapping.pending_index
    if index is not None and row.get("write_status") == mapping.status_values.pending:
        item[index.partition_key] = {"S": index.partition_template.render(row)}
        item[index.sort_key] = {"S": sk}
    return item
