"""The writer's item for a row in DynamoDB's wire format, as the tests seed it with a raw client."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from monitor.core.mapping import TableMapping
from monitor.stores.wire import encode_item
from monitor.writer.items import default_item


def wire_item(row: Mapping[str, Any], mapping: TableMapping) -> dict[str, Any]:
    """`default_item(row, mapping)` encoded as the DynamoDB adapter writes it."""
    return encode_item(default_item(row, mapping))
