"""DynamoDB Streams adapter (aiobotocore `dynamodbstreams`): shards, iterators, records.

Reads the table's change stream only: never the table. Records come out decoded (`StreamRecord`:
neutral `Attribute` items, a UTC time): the wire format stays in the adapter. Each call is retried on throttling and
transient trouble with the same capped backoff as the table adapter; the two conditions a
reader must act on are their own errors: `StreamTrimmed` (the position asked for is older than
the stream's 24-hour retention) and `IteratorExpired` (an iterator unused for 15 minutes).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anyio
from botocore.exceptions import ClientError

from monitor.config import DynamoSettings
from monitor.core.item import Item
from monitor.errors import StoreError, StoreUnavailable
from monitor.stores.dynamodb import (
    CALL_EXCEPTIONS,
    RetryPolicy,
    open_client,
    retryable_failure,
)
from monitor.stores.wire import decode_item

log = logging.getLogger(__name__)

STORE = "DynamoDB Streams"


class StreamTrimmed(StoreError):
    """The position asked for is past the stream's retention: records were lost to trimming."""


class IteratorExpired(StoreError):
    """A shard iterator was not used within its lifetime (15 minutes); ask for a new one."""


class StreamEnded(StoreError):
    """The stream was disabled and every change it holds is judged: the table's next stream
    (if it is enabled again) has another ARN."""


class StreamNotFound(StoreError):
    """The stream (or a shard of it) does not exist any more."""


@dataclass(frozen=True, slots=True)
class Shard:
    shard_id: str
    parent_id: str | None
    starting_sequence: str
    #: Set once the shard is closed: it holds no record after this one.
    ending_sequence: str | None


@dataclass(frozen=True, slots=True)
class StreamShape:
    arn: str
    status: str
    view_type: str | None
    shards: tuple[Shard, ...]


@dataclass(frozen=True, slots=True)
class StreamRecord:
    """One change of the table, decoded. Its images hold request and response data: never
    logged."""

    #: INSERT, MODIFY or REMOVE.
    event: str
    sequence: str
    #: The change's time (ApproximateCreationDateTime); None if the record has none.
    created_at: datetime | None
    keys: Item
    #: The item after the change (None when removed, or when the stream lacks new images).
    new_image: Item | None
    #: The item before the change (None when created, or when the stream lacks old images).
    old_image: Item | None


def _as_utc(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(float(value), UTC)
        except (OverflowError, ValueError, OSError):  # not a time DynamoDB would send
            return None
    return None


def _image(value: Any) -> Item | None:
    return decode_item(value) if isinstance(value, Mapping) else None


def decode_record(record: Mapping[str, Any]) -> StreamRecord:
    """A GetRecords record in the monitor's terms (never raises: missing parts are None)."""
    data = record.get("dynamodb")
    if not isinstance(data, Mapping):
        data = {}
    return StreamRecord(
        event=str(record.get("eventName", "")),
        sequence=str(data.get("SequenceNumber", "")),
        created_at=_as_utc(data.get("ApproximateCreationDateTime")),
        keys=_image(data.get("Keys")) or {},
        new_image=_image(data.get("NewImage")),
        old_image=_image(data.get("OldImage")),
    )


@dataclass(frozen=True, slots=True)
class RecordsPage:
    records: list[StreamRecord]
    #: None once a closed shard has been read to its end.
    next_iterator: str | None


_CODES: Mapping[str, type[StoreError]] = {
    "TrimmedDataAccessException": StreamTrimmed,
    "ExpiredIteratorException": IteratorExpired,
    "ResourceNotFoundException": StreamNotFound,
}


class DynamoStreams:
    """The stream of one table. Construct with `DynamoStreams.open`."""

    def __init__(self, client: Any, settings: DynamoSettings, *, retry: RetryPolicy) -> None:
        self.client = client
        self.settings = settings
        self.retry = retry
        #: Requests sent (GetRecords and the rest): none of them reads the table.
        self.requests = 0

    @classmethod
    @asynccontextmanager
    async def open(
        cls, settings: DynamoSettings, *, retry: RetryPolicy | None = None
    ) -> AsyncIterator[DynamoStreams]:
        async with open_client("dynamodbstreams", settings) as client:
            yield cls(client, settings, retry=retry or RetryPolicy())

    async def call(self, operation: str, **params: Any) -> dict[str, Any]:
        method = getattr(self.client, operation)
        failure = operation
        for attempt in range(self.retry.attempts):
            try:
                self.requests += 1
                response: dict[str, Any] = await method(**params)
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                special = _CODES.get(code)
                if special is not None:
                    raise special(STORE, f"{operation}: {code}") from None
                failure = retryable_failure(STORE, operation, exc, self.settings)
            except CALL_EXCEPTIONS as exc:
                failure = retryable_failure(STORE, operation, exc, self.settings)
            else:
                return response
            log.debug("DynamoDB Streams %s: %s; retry %d", operation, failure, attempt + 1)
            await anyio.sleep(self.retry.delay(attempt))
        raise StoreUnavailable(STORE, f"{failure} after {self.retry.attempts} attempts")

    async def describe(self, arn: str) -> StreamShape:
        """The stream and every shard it holds (DescribeStream pages followed)."""
        shards: list[Shard] = []
        params: dict[str, Any] = {"StreamArn": arn}
        while True:
            page = (await self.call("describe_stream", **params))["StreamDescription"]
            for shard in page.get("Shards", ()):
                numbers = shard.get("SequenceNumberRange", {})
                shards.append(
                    Shard(
                        shard["ShardId"],
                        shard.get("ParentShardId"),
                        str(numbers.get("StartingSequenceNumber", "")),
                        numbers.get("EndingSequenceNumber"),
                    )
                )
            last = page.get("LastEvaluatedShardId")
            if not last:
                return StreamShape(
                    arn,
                    str(page.get("StreamStatus", "")),
                    page.get("StreamViewType"),
                    tuple(shards),
                )
            params["ExclusiveStartShardId"] = last

    async def iterator(self, arn: str, shard_id: str, after: str | None, start_at: str) -> str:
        """An iterator just after sequence number `after`, else at `start_at` of the shard."""
        params: dict[str, Any] = {"StreamArn": arn, "ShardId": shard_id}
        if after is not None:
            params |= {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": after}
        else:
            params["ShardIteratorType"] = "TRIM_HORIZON" if start_at == "trim_horizon" else "LATEST"
        return str((await self.call("get_shard_iterator", **params))["ShardIterator"])

    async def records(self, iterator: str, limit: int) -> RecordsPage:
        response = await self.call("get_records", ShardIterator=iterator, Limit=limit)
        records = [decode_record(r) for r in response.get("Records", ())]
        return RecordsPage(records, response.get("NextShardIterator"))


__all__ = [
    "DynamoStreams",
    "IteratorExpired",
    "RecordsPage",
    "Shard",
    "StreamEnded",
    "StreamNotFound",
    "StreamShape",
    "StreamRecord",
    "StreamTrimmed",
    "decode_record",
]
