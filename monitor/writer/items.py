"""A row of the default data model (CONTRACT §1) as its DynamoDB item (`monitor.core.item`).

The DynamoDB adapter encodes it to the wire format when it writes it.

Also builds the secondary-index attributes: GSI1 by application, GSI2 only for failures,
GSI3 only while the write is pending (a sparse index: pending detection costs what is pending).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from monitor.core.item import Attribute, AttributeType, exact_number
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


def attribute_value(value: Any, *, time_format: str) -> Attribute | None:
    """A Python value as a DynamoDB attribute; None (SQL NULL) means "leave the attribute out".

    A number becomes N with its exact text (a float as Python writes it); a `Decimal` (a
    `numeric` column) and every other value become S, as the seed's writer stored them.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return Attribute(AttributeType.BOOL, value)
    if isinstance(value, int):
        return Attribute.number(value)
    if isinstance(value, float):
        number = exact_number(str(value))
        return Attribute.string(str(value)) if number is None else Attribute.number(number)
    if isinstance(value, datetime):
        return Attribute.string(format_time(value, time_format))
    return Attribute.string(str(value))


def default_item(row: Mapping[str, Any], mapping: TableMapping) -> dict[str, Attribute]:
    """The item the dual writer puts for `row` (the default mapping's names)."""
    time_format = mapping.sort_template.time_format or "%Y-%m-%dT%H:%M:%S.%fZ"
    sk = mapping.sort_template.render(row)
    item: dict[str, Attribute] = {
        mapping.partition_key: Attribute.string(mapping.partition_template.render(row)),
        mapping.sort_key: Attribute.string(sk),
    }
    for column in DEFAULT_COLUMNS:
        if column in _SQL_ONLY or column not in row:
            continue
        value = attribute_value(row[column], time_format=time_format)
        if value is not None:
            item[pascal_case(column)] = value
    timestamp = row["log_timestamp"]
    item["GSI1PK"] = Attribute.string(f"APP#{row['application_id']}")
    item["GSI1SK"] = Attribute.string(sk)
    if row.get("is_success") is False:
        item["GSI2PK"] = Attribute.string(f"ERR#{format_time(timestamp, '%Y-%m-%d')}")
        item["GSI2SK"] = Attribute.string(sk)
    item.update(pending_index_attributes(row, mapping, sk, row.get("write_status")))
    return item


def pending_index_attributes(
    row: Mapping[str, Any], mapping: TableMapping, sk: str, status: object
) -> dict[str, Attribute]:
    """The pending index's key attributes of the item of a row with this status (none unless
    it is pending)."""
    index = mapping.pending_index
    if index is None or status != mapping.status_values.pending:
        return {}
    return {
        index.partition_key: Attribute.string(index.partition_template.render(row)),
        index.sort_key: Attribute.string(sk),
    }
