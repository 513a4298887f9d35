"""Items of a narrow read taken from the response's JSON as DynamoDB sent it, not through botocore.

botocore turns every attribute of every item into Python by walking the service model in pure
Python (`_handle_structure`, `_handle_map`): for `check counts`, which reads the key, status and
sort key of every record in the window, that walk is most of the monitor's CPU (measured in
bench/counts.py: 5.5 s of client CPU for 200,000 items against 2 s with this). The wire format
*is* the shape botocore returns for string and number attributes (`{"S": "..."}`,
`{"N": "12"}`), so a read that projects only such attributes can take `Items` from the JSON
directly. Binary attributes differ (base64 text here, bytes from botocore); a key or status of
that type is invalid data either way.

Only the requests made inside `raw_items()` are affected; every other call on the client is
parsed by botocore as usual. `ConsumedCapacity`, `LastEvaluatedKey` and errors always are.
"""

from __future__ import annotations

import contextvars
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

#: The operations whose `Items` may be taken raw (their other fields stay botocore's).
_OPERATIONS = ("Query", "Scan")

_raw: contextvars.ContextVar[bool] = contextvars.ContextVar("raw_items", default=False)


@contextmanager
def raw_items() -> Iterator[None]:
    """Requests made in this block (this task only) return `Items` as DynamoDB sent them."""
    token = _raw.set(True)
    try:
        yield
    finally:
        _raw.reset(token)


def _take_items(
    response_dict: dict[str, Any], customized_response_dict: dict[str, Any], **_: Any
) -> None:
    if not _raw.get() or response_dict.get("status_code", 500) >= 300:
        return
    body = response_dict.get("body")
    if not isinstance(body, bytes | bytearray | str):
        return
    parsed = json.loads(body)
    items = parsed.pop("Items", None)
    if items is None:
        return
    customized_response_dict["Items"] = items
    # botocore parses the rest (Count, LastEvaluatedKey, ConsumedCapacity) as usual.
    response_dict["body"] = json.dumps(parsed).encode()


def install(client: Any) -> None:
    """Register the hook on a DynamoDB client (idempotent per client)."""
    for operation in _OPERATIONS:
        client.meta.events.register(
            f"before-parse.dynamodb.{operation}", _take_items, unique_id=f"raw-items-{operation}"
        )
