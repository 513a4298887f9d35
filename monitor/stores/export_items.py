"""Attributes of a DynamoDB export's items, as the JSON text of their wire form, decoded.

An export line holds each item in DynamoDB JSON (`{"LogId": {"N": "1.5"}}`); the engines that
compare an export (DuckDB, the Spark job) extract the few attributes they need as JSON text and
hand the items their fast path cannot read to the mapping, decoded here by the one decoder.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from monitor.core.item import Attribute
from monitor.stores.wire import decode_attribute


def decode_json_attributes(attributes: Mapping[str, str | None]) -> dict[str, Attribute]:
    """Attributes given as the JSON text of their wire form, decoded; None (or JSON `null`)
    means the item lacks that attribute."""
    wire = {name: None if raw is None else json.loads(raw) for name, raw in attributes.items()}
    return {str(name): decode_attribute(value) for name, value in wire.items() if value is not None}
