"""Digests of documents and of items as DynamoDB holds them, for repair's plans and audit.

An item is digested in its wire form, so that a plan saved by an earlier version keeps its
meaning: the digest of an unchanged item never changes.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from monitor.core.item import Item
from monitor.stores.wire import encode_attribute


def document_digest(document: Any) -> str:
    """SHA-256 of the document as canonical JSON (sorted keys, no spaces, `str` for the rest)."""
    text = json.dumps(document, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def item_digest(item: Item) -> str:
    """The digest of the item's wire form; a malformed attribute, which DynamoDB never
    returns, digests as `{"?": null}`."""
    wire: dict[str, Any] = {}
    for name, attribute in item.items():
        try:
            wire[name] = encode_attribute(attribute)
        except ValueError:
            wire[name] = {"?": None}
    return document_digest(wire)
