"""A DynamoDB client that misbehaves on purpose, for the traffic generator and the tests.

`FaultyClient` wraps the aiobotocore client the adapter calls: for an armed item it fails,
throttles, delays or corrupts the put, or fails the commit-marking update, with the very errors
DynamoDB returns (`ClientError` codes), so the adapter's retry and error translation run as in
production. It reads the requests in their wire form, which is why it lives with the adapter.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from typing import Any

import anyio
from botocore.exceptions import ClientError

from monitor.core.item import Attribute
from monitor.core.mapping import TableMapping
from monitor.stores.wire import decode_attribute, encode_attribute

#: (partition key, sort key) of an item.
Location = tuple[str, str]

#: Times a throttled put is refused before it goes through (the writer retries more often).
THROTTLES = 2
#: How much longer a slow write takes.
SLOW_SECONDS = 3.0
#: The compared attribute a corrupted item gets wrong, and how.
CORRUPTED_ATTRIBUTE = "StatusCode"


class ClientFault(enum.StrEnum):
    """What the client does to an armed item (named as the generator's faults, CONTRACT §7)."""

    PUT_FAILED = "dynamodb_write_failed"
    PUT_THROTTLED = "dynamodb_throttled"
    SLOW_PUT = "slow_write"
    CORRUPTED_PUT = "corrupted_field"
    COMMIT_MARK_FAILED = "commit_mark_failed"


def client_error(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "injected fault"}}, operation)


class FaultyClient:
    """A DynamoDB client that misbehaves for armed items and passes everything else through."""

    def __init__(
        self,
        client: Any,
        mapping: TableMapping,
        *,
        slow_seconds: float = SLOW_SECONDS,
        sleep: Callable[[float], Any] = anyio.sleep,
    ) -> None:
        self._client = client
        self._mapping = mapping
        self._armed: dict[Location, ClientFault] = {}
        self._throttles: dict[Location, int] = {}
        self._slow_seconds = slow_seconds
        self._sleep = sleep

    def arm(self, location: Location, fault: ClientFault) -> None:
        self._armed[location] = fault
        if fault is ClientFault.PUT_THROTTLED:
            self._throttles[location] = THROTTLES

    def disarm(self, location: Location) -> None:
        self._armed.pop(location, None)
        self._throttles.pop(location, None)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def _location(self, key: Mapping[str, Any]) -> Location | None:
        pk = decode_attribute(key.get(self._mapping.partition_key)).text
        sk = decode_attribute(key.get(self._mapping.sort_key)).text
        return None if pk is None or sk is None else (pk, sk)

    async def put_item(self, **params: Any) -> Any:
        location = self._location(params.get("Item", {}))
        fault = None if location is None else self._armed.get(location)
        if fault is ClientFault.PUT_FAILED:
            raise client_error("InternalServerError", "PutItem")
        if fault is ClientFault.PUT_THROTTLED and location is not None:
            left = self._throttles.get(location, 0)
            if left > 0:
                self._throttles[location] = left - 1
                raise client_error("ProvisionedThroughputExceededException", "PutItem")
        if fault is ClientFault.SLOW_PUT:
            await self._sleep(self._slow_seconds)
        if fault is ClientFault.CORRUPTED_PUT:
            params["Item"] = corrupt(params["Item"])
        return await self._client.put_item(**params)

    async def update_item(self, **params: Any) -> Any:
        location = self._location(params.get("Key", {}))
        fault = None if location is None else self._armed.get(location)
        status = decode_attribute(params.get("ExpressionAttributeValues", {}).get(":st")).text
        if (
            fault is ClientFault.COMMIT_MARK_FAILED
            and status == self._mapping.status_values.committed
        ):
            raise client_error("InternalServerError", "UpdateItem")
        return await self._client.update_item(**params)


def corrupt(item: Mapping[str, Any]) -> dict[str, Any]:
    """The wire item with another value in one compared field (nothing else touched)."""
    changed = dict(item)
    current = decode_attribute(changed.get(CORRUPTED_ATTRIBUTE)).text
    changed[CORRUPTED_ATTRIBUTE] = encode_attribute(
        Attribute.string("299" if current != "299" else "298")
    )
    return changed
