"""Faults injected at the real seams, so that the writer's own code paths handle them.

`FaultyClient` wraps the aiobotocore DynamoDB client the adapter calls: for an armed item it
fails, throttles, delays or corrupts the put, or fails the commit-marking update, with the very
errors DynamoDB returns (`ClientError` codes), so the adapter's retry and error translation run
as in production. `crash_hook` makes the writer "die" at a checkpoint. Nothing here writes a final
state directly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import anyio
from botocore.exceptions import ClientError

from monitor.core.mapping import TableMapping
from monitor.stores.wire import decode_attribute
from monitor.writer.dual import Checkpoint, CrashHook, WriterCrashed
from monitor.writer.faults import Fault

#: (partition key, sort key) of an item.
Location = tuple[str, str]

#: Times a throttled put is refused before it goes through (the writer retries more often).
THROTTLES = 2
#: How much longer a slow write takes.
SLOW_SECONDS = 3.0
#: The compared attribute a corrupted item gets wrong, and how.
CORRUPTED_ATTRIBUTE = "StatusCode"


def client_error(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "injected fault"}}, operation)


def location_of(mapping: TableMapping, row: Mapping[str, Any]) -> Location:
    return mapping.partition_template.render(row), mapping.sort_template.render(row)


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
        self._armed: dict[Location, Fault] = {}
        self._throttles: dict[Location, int] = {}
        self._slow_seconds = slow_seconds
        self._sleep = sleep

    def arm(self, location: Location, fault: Fault) -> None:
        self._armed[location] = fault
        if fault is Fault.DYNAMODB_THROTTLED:
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
        if fault is Fault.DYNAMODB_WRITE_FAILED:
            raise client_error("InternalServerError", "PutItem")
        if fault is Fault.DYNAMODB_THROTTLED and location is not None:
            left = self._throttles.get(location, 0)
            if left > 0:
                self._throttles[location] = left - 1
                raise client_error("ProvisionedThroughputExceededException", "PutItem")
        if fault is Fault.SLOW_WRITE:
            await self._sleep(self._slow_seconds)
        if fault is Fault.CORRUPTED_FIELD:
            params["Item"] = corrupt(params["Item"])
        return await self._client.put_item(**params)

    async def update_item(self, **params: Any) -> Any:
        location = self._location(params.get("Key", {}))
        fault = None if location is None else self._armed.get(location)
        status = decode_attribute(params.get("ExpressionAttributeValues", {}).get(":st")).text
        if fault is Fault.COMMIT_MARK_FAILED and status == self._mapping.status_values.committed:
            raise client_error("InternalServerError", "UpdateItem")
        return await self._client.update_item(**params)


def corrupt(item: Mapping[str, Any]) -> dict[str, Any]:
    """The item with another value in one compared field (nothing else touched)."""
    changed = dict(item)
    current = decode_attribute(changed.get(CORRUPTED_ATTRIBUTE)).text
    changed[CORRUPTED_ATTRIBUTE] = {"S": "299" if current != "299" else "298"}
    return changed


def crash_hook(faults: Callable[[Mapping[str, Any]], Fault | None]) -> CrashHook:
    """A hook that kills the writer where the row's fault says: after the SQL insert
    (`crash_after_sql`) or after both pending writes (`crash_before_commit`)."""

    def hook(point: Checkpoint, row: Mapping[str, Any]) -> None:
        fault = faults(row)
        if (fault is Fault.CRASH_AFTER_SQL and point is Checkpoint.AFTER_SQL_INSERT) or (
            fault is Fault.CRASH_BEFORE_COMMIT and point is Checkpoint.AFTER_DYNAMODB_PUT
        ):
            raise WriterCrashed(point)

    return hook
