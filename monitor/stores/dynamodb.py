"""DynamoDB adapter (aiobotocore): sliced Queries, batched reads, one read budget, retries.

One client per process (creating one does blocking I/O). Every request goes through `call`:
bounded concurrency, the shared `ReadBudget`, and a declared retry on throttling and transient
server errors with capped, jittered backoff. Nothing is ever dropped: `UnprocessedKeys` are
retried until served, or the run fails loudly with `StoreUnavailable`.
"""

from __future__ import annotations

import copy
import logging
import random
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import anyio
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    NoCredentialsError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from monitor.config import DynamoSettings
from monitor.core.item import AttributeType, Item
from monitor.core.mapping import IndexMap, TableMapping
from monitor.errors import StoreError, StoreUnavailable
from monitor.model import IndexInfo
from monitor.stores.budget import ReadBudget
from monitor.stores.ports import ScanPage, SliceRead
from monitor.stores.raw_items import install as install_raw_items
from monitor.stores.raw_items import raw_items
from monitor.stores.wire import (
    decode_attribute,
    decode_item,
    describe_indexes,
    encode_attribute,
    encode_item,
    plain_key_statuses,
)

log = logging.getLogger(__name__)

STORE = "DynamoDB"
BATCH_GET_LIMIT = 100
#: Error codes worth another try: throttling and transient server trouble.
RETRYABLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "LimitExceededException",
    }
)
#: Driver exceptions that mean "could not talk to the endpoint" (also retried, then unavailable).
TRANSIENT_EXCEPTIONS: tuple[type[BaseException], ...] = (
    BotoConnectionError,
    HTTPClientError,
    OSError,
    TimeoutError,
    BotoCoreError,
)
#: What a request may raise besides ClientError: `retryable_failure` sorts it out.
CALL_EXCEPTIONS: tuple[type[BaseException], ...] = (NoCredentialsError, *TRANSIENT_EXCEPTIONS)


def retryable_failure(
    store: str, operation: str, exc: BaseException, settings: DynamoSettings
) -> str:
    """What went wrong, when another try may help (throttling, a server or network fault);
    a permanent error (a refused request, no credentials) is raised as a `StoreError`."""
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        if code not in RETRYABLE_CODES:
            raise StoreError(store, f"{operation} failed: {code}") from None
        return f"{operation} throttled or failing ({code})"
    if isinstance(exc, NoCredentialsError):
        raise StoreError(
            store, "no AWS credentials (set AWS_ACCESS_KEY_ID or a role/profile)"
        ) from None
    return f"cannot reach {settings.endpoint_url or 'AWS'}: {type(exc).__name__}"


@asynccontextmanager
async def open_client(service: str, settings: DynamoSettings) -> AsyncIterator[Any]:
    """An aiobotocore client of `service` ("dynamodb", "dynamodbstreams") for these settings."""
    timeout = settings.request_timeout.total_seconds()
    config = AioConfig(
        connect_timeout=timeout,
        read_timeout=timeout,
        # Our own retry loop is declared below; botocore's would hide throttling from us.
        retries={"total_max_attempts": 1},
        max_pool_connections=max(10, settings.max_concurrency * 2),
    )
    session: Any = get_session()  # typed per service name; the name here is a variable
    async with session.create_client(
        service,
        region_name=settings.region,
        endpoint_url=settings.endpoint_url or None,
        config=config,
    ) as client:
        if service == "dynamodb":
            install_raw_items(client)
        yield client


class TableNotFound(StoreError):
    """The table (or an index a request named) does not exist."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Capped exponential backoff with full jitter. Tests pass `base_delay=0` to skip waits."""

    attempts: int = 8
    base_delay: float = 0.05
    max_delay: float = 5.0

    def delay(self, attempt: int) -> float:
        if self.base_delay <= 0:
            return 0.0
        return random.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))


def _consumed(response: Mapping[str, Any]) -> float | None:
    consumed = response.get("ConsumedCapacity")
    if isinstance(consumed, Mapping):
        return float(consumed.get("CapacityUnits", 0.0))
    if isinstance(consumed, list):
        return sum(float(c.get("CapacityUnits", 0.0)) for c in consumed)
    return None


@dataclass(slots=True)
class ReadMeter:
    """What went through one store view: read units consumed, requests sent, retries."""

    units: float = 0.0
    requests: int = 0
    retried: int = 0


class DynamoStore:
    """Reads (and, for `setup`, creates) the mapped table. Construct with `DynamoStore.open`.

    `for_run()` gives a check run its own view, sharing the client, budget and concurrency
    limit, whose `read_units` counts only that run's requests (the process's budget counter
    also counts the checks that overlap it).
    """

    def __init__(
        self,
        client: Any,
        settings: DynamoSettings,
        mapping: TableMapping,
        *,
        retry: RetryPolicy = RetryPolicy(),
        budget: ReadBudget | None = None,
    ) -> None:
        self.client = client
        self.settings = settings
        self.table = settings.table
        self.mapping = mapping
        self.retry = retry
        self.budget = budget or ReadBudget(settings.max_read_units_per_second)
        self._limiter = anyio.CapacityLimiter(settings.max_concurrency)
        #: This view's meter first, then those of the views it was derived from.
        self._meters: tuple[ReadMeter, ...] = (ReadMeter(),)

    def for_run(self) -> DynamoStore:
        """A view of this store that meters one run on its own (and still counts here)."""
        view = copy.copy(self)
        view._meters = (ReadMeter(), *self._meters)
        return view

    def with_budget(self, budget: ReadBudget) -> DynamoStore:
        """A view of this store (metered on its own, as `for_run`) reading within `budget`."""
        view = self.for_run()
        view.budget = budget
        return view

    @property
    def read_units(self) -> float:
        return self._meters[0].units

    @property
    def requests(self) -> int:
        return self._meters[0].requests

    @property
    def retried(self) -> int:
        return self._meters[0].retried

    def _count(self, *, units: float = 0.0, requests: int = 0, retried: int = 0) -> None:
        for meter in self._meters:
            meter.units += units
            meter.requests += requests
            meter.retried += retried

    @classmethod
    @asynccontextmanager
    async def open(
        cls, settings: DynamoSettings, mapping: TableMapping, **kwargs: Any
    ) -> AsyncIterator[DynamoStore]:
        async with open_client("dynamodb", settings) as client:
            yield cls(client, settings, mapping, **kwargs)

    # --- the one path every request takes ------------------------------------------------

    async def call(
        self, operation: str, *, reads: bool = True, raw: bool = False, **params: Any
    ) -> dict[str, Any]:
        """One request through the budget, the limiter and the retries. `raw`: the items of a
        narrow Query/Scan (string and number attributes only) come from the JSON as sent
        (monitor/stores/raw_items.py), which saves most of the client's CPU."""
        method = getattr(self.client, operation)
        for attempt in range(self.retry.attempts):
            if reads:
                await self.budget.acquire()
                params.setdefault("ReturnConsumedCapacity", "TOTAL")
            try:
                async with self._limiter:
                    self._count(requests=1)
                    with raw_items() if raw else nullcontext():
                        response: dict[str, Any] = await method(**params)
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if code == "ResourceNotFoundException":
                    raise TableNotFound(
                        STORE,
                        f"table {self.table!r} (or an index) does not exist; for a development"
                        " table run `dualwrite-monitor setup`",
                    ) from None
                if code == "ConditionalCheckFailedException":
                    raise ConditionFailed(
                        STORE, f"{operation}: the condition does not hold"
                    ) from None
                failure = retryable_failure(STORE, operation, exc, self.settings)
            except CALL_EXCEPTIONS as exc:
                failure = retryable_failure(STORE, operation, exc, self.settings)
            else:
                if reads:
                    consumed = _consumed(response)
                    units = 1.0 if consumed is None else consumed
                    self.budget.charge(units)
                    self._count(units=units)
                return response
            self._count(retried=1)
            # Debug: the final StoreUnavailable says what happened; on a terminal the CLI shows
            # these as one line updated in place (monitor.retryline).
            log.debug(
                "DynamoDB %s: %s; retry %d/%d",
                operation,
                failure,
                attempt + 1,
                self.retry.attempts,
                extra={"retry_attempt": attempt + 1, "retry_attempts": self.retry.attempts},
            )
            await anyio.sleep(self.retry.delay(attempt))
        raise StoreUnavailable(STORE, f"{failure} after {self.retry.attempts} attempts")

    async def _paginate(
        self, operation: str, *, raw: bool = False, **params: Any
    ) -> AsyncIterator[dict[str, Any]]:
        while True:
            page = await self.call(operation, raw=raw, **params)
            yield page
            last = page.get("LastEvaluatedKey")
            if not last:
                return
            params["ExclusiveStartKey"] = last

    # --- reads ---------------------------------------------------------------------------

    async def slice_keys(self, pk: str, start_sk: str, end_sk: str) -> SliceRead:
        """(key, status) of every item of one partition in `[start_sk, end_sk]`, projected narrow.

        The partition key is known from the query, so it is not projected (parsing every
        projected attribute costs client CPU); the sort key is, so that an item missing in SQL
        is named without reading its slice a second time (a FilterExpression saves no units).
        An item whose key or status cannot be read is returned in `invalid`, never dropped.
        """
        m = self.mapping
        out = SliceRead()
        async for page in self._paginate(
            "query",
            raw=True,
            TableName=self.table,
            KeyConditionExpression="#pk = :pk AND #sk BETWEEN :lo AND :hi",
            ProjectionExpression="#k, #st, #sk",
            ExpressionAttributeNames={
                "#pk": m.partition_key,
                "#sk": m.sort_key,
                "#k": m.key_attribute,
                "#st": m.status_attribute,
            },
            ExpressionAttributeValues={
                ":pk": {"S": pk},
                ":lo": {"S": start_sk},
                ":hi": {"S": end_sk},
            },
        ):
            plain, rest = plain_key_statuses(page.get("Items", ()), m)
            out.add_plain_items(plain)
            for wire in rest:
                out.add(m, decode_item(wire))
        return out

    async def batch_get(
        self,
        keys: Sequence[tuple[str, str]],
        projection: Sequence[str] | None = None,
        *,
        consistent: bool = False,
    ) -> list[Item]:
        """Items for (pk, sk) pairs: BatchGetItem of 100, concurrently, UnprocessedKeys retried."""
        unique = list(dict.fromkeys(keys))
        results: list[Item] = []

        async def fetch(chunk: list[tuple[str, str]]) -> None:
            results.extend(await self._batch_get_chunk(chunk, projection, consistent))

        async with anyio.create_task_group() as group:
            for start in range(0, len(unique), BATCH_GET_LIMIT):
                group.start_soon(fetch, unique[start : start + BATCH_GET_LIMIT])
        return results

    async def _batch_get_chunk(
        self, chunk: list[tuple[str, str]], projection: Sequence[str] | None, consistent: bool
    ) -> list[Item]:
        m = self.mapping
        request: dict[str, Any] = {
            "Keys": [{m.partition_key: {"S": pk}, m.sort_key: {"S": sk}} for pk, sk in chunk]
        }
        if consistent:
            request["ConsistentRead"] = True
        if projection:
            names = {f"#a{i}": name for i, name in enumerate(projection)}
            request["ProjectionExpression"] = ", ".join(names)
            request["ExpressionAttributeNames"] = names
        items: list[Item] = []
        pending: dict[str, Any] = {self.table: request}
        stalled = 0
        while pending:
            response = await self.call("batch_get_item", RequestItems=pending)
            items.extend(map(decode_item, response.get("Responses", {}).get(self.table, ())))
            unprocessed = response.get("UnprocessedKeys") or {}
            if not unprocessed:
                break
            left = len(unprocessed.get(self.table, {}).get("Keys", ()))
            before = len(pending[self.table]["Keys"])
            stalled = stalled + 1 if left >= before else 0
            if stalled >= self.retry.attempts:
                raise StoreUnavailable(
                    STORE, f"BatchGetItem made no progress on {left} keys after {stalled} tries"
                )
            self._count(retried=1)
            await anyio.sleep(self.retry.delay(stalled))
            pending = unprocessed
        return items

    async def scan_partition_keys_page(
        self,
        segment: int,
        segments: int,
        start_key: dict[str, Any] | None,
        limit: int | None = None,
    ) -> ScanPage:
        """One page of a segmented, PK-only Scan: its partition keys and where to resume."""
        pk_name = self.mapping.partition_key
        params: dict[str, Any] = {
            "TableName": self.table,
            "ProjectionExpression": "#pk",
            "ExpressionAttributeNames": {"#pk": pk_name},
            "Segment": segment,
            "TotalSegments": segments,
        }
        if start_key:
            params["ExclusiveStartKey"] = start_key
        if limit:
            params["Limit"] = limit
        page = await self.call("scan", raw=True, **params)
        keys = {
            value
            for wire in page.get("Items", ())
            if (value := decode_attribute(wire.get(pk_name)).text) is not None
        }
        consumed = _consumed(page)
        return ScanPage(keys, page.get("LastEvaluatedKey") or None, consumed or 0.0)

    async def query_range(
        self,
        pk: str,
        start_sk: str,
        end_sk: str,
        projection: Sequence[str],
        *,
        index: IndexMap | None = None,
        status: str | None = None,
    ) -> list[Item]:
        """Items of one partition whose sort key is in `[start_sk, end_sk]`, projected.

        With `index`, the partition and range are those of that secondary index. With `status`,
        only items whose status attribute equals it come back (a filter: it saves transfer and
        parsing, not read units).
        """
        items: list[Item] = []
        async for page in self.query_range_pages(
            pk, start_sk, end_sk, projection, index=index, status=status
        ):
            items.extend(page)
        return items

    async def query_range_pages(
        self,
        pk: str,
        start_sk: str,
        end_sk: str,
        projection: Sequence[str],
        *,
        index: IndexMap | None = None,
        status: str | None = None,
    ) -> AsyncIterator[list[Item]]:
        """`query_range` one response page at a time: memory holds a page, whatever the range."""
        m = self.mapping
        names = {
            "#pk": index.partition_key if index is not None else m.partition_key,
            "#sk": index.sort_key if index is not None else m.sort_key,
        }
        projected = {f"#p{i}": attribute for i, attribute in enumerate(projection)}
        values: dict[str, Any] = {":pk": {"S": pk}, ":lo": {"S": start_sk}, ":hi": {"S": end_sk}}
        params: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "#pk = :pk AND #sk BETWEEN :lo AND :hi",
            "ProjectionExpression": ", ".join(projected),
        }
        if index is not None:
            params["IndexName"] = index.name
        if status is not None:
            names["#st"] = m.status_attribute
            values[":st"] = {"S": status}
            params["FilterExpression"] = "#st = :st"
        params["ExpressionAttributeNames"] = names | projected
        params["ExpressionAttributeValues"] = values
        async for page in self._paginate("query", **params):
            yield [decode_item(wire) for wire in page.get("Items", ())]

    # --- the dual writer's side (monitor.writer): conditional, idempotent by transaction id

    def item_location(self, row: Mapping[str, Any]) -> tuple[str, str]:
        """(pk, sk) of the item `row` maps to."""
        m = self.mapping
        return m.partition_template.render(row), m.sort_template.render(row)

    def item_key(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """The wire-format key of the item `row` maps to (for direct client calls)."""
        return self._key(*self.item_location(row))

    async def put_new(self, item: Item, transaction_attribute: str) -> str | None:
        """Put `item` unless an item with its key exists (`attribute_not_exists`); the existing
        item's transaction id when it does (None: written). A retry of a put that landed although
        its answer was lost finds its own id."""
        m = self.mapping
        wire = encode_item(item)
        try:
            await self.call(
                "put_item",
                reads=False,
                TableName=self.table,
                Item=wire,
                ConditionExpression="attribute_not_exists(#pk)",
                ExpressionAttributeNames={"#pk": m.partition_key},
            )
        except ConditionFailed:
            key = {m.partition_key: wire[m.partition_key], m.sort_key: wire[m.sort_key]}
            found = await self.call(
                "get_item",
                TableName=self.table,
                Key=key,
                ConsistentRead=True,
                ProjectionExpression="#tx",
                ExpressionAttributeNames={"#tx": transaction_attribute},
            )
            stored = decode_item(found.get("Item", {})).get(transaction_attribute)
            return (stored.text if stored is not None else None) or ""
        return None

    async def set_status(
        self,
        location: tuple[str, str],
        transaction_attribute: str,
        transaction_id: str,
        status: str,
        expected: Sequence[str],
    ) -> bool:
        """Move the item of this transaction to `status` if it is in one of `expected` (or there
        already), removing the pending-index attributes once the status is final. False when no
        item of this transaction qualifies (nothing is created)."""
        m = self.mapping
        allowed = list(dict.fromkeys([*expected, status]))
        names = {"#st": m.status_attribute, "#tx": transaction_attribute}
        values: dict[str, Any] = {":st": {"S": status}, ":tx": {"S": transaction_id}}
        values |= {f":e{i}": {"S": s} for i, s in enumerate(allowed)}
        update = "SET #st = :st"
        index = m.pending_index
        if index is not None and status != m.status_values.pending:
            names |= {"#ipk": index.partition_key, "#isk": index.sort_key}
            update += " REMOVE #ipk, #isk"
        condition = f"#tx = :tx AND #st IN ({', '.join(f':e{i}' for i in range(len(allowed)))})"
        try:
            await self.call(
                "update_item",
                reads=False,
                TableName=self.table,
                Key=self._key(*location),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ConditionFailed:
            return False
        return True

    # --- repair's side (monitor.repair): every write conditional ---------------------------

    async def put_if_absent(self, item: Item) -> bool:
        """Put `item` only where no item has its key; False (nothing written) otherwise."""
        return await self.conditional_write(
            "put_item",
            Item=encode_item(item),
            ConditionExpression="attribute_not_exists(#pk)",
            ExpressionAttributeNames={"#pk": self.mapping.partition_key},
        )

    async def put_if_unchanged(self, item: Item, current: Item) -> bool:
        """Put `item` over `current` only while its scalar attributes are still as read."""
        unchanged, names, values = unchanged_condition(current)
        return await self.conditional_write(
            "put_item",
            Item=encode_item(item),
            ConditionExpression=unchanged,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def _status_condition(
        self, seen_status: str | None
    ) -> tuple[str, dict[str, str], dict[str, Any]]:
        """The item exists with the status repair saw (None: it had no status attribute)."""
        names = {"#st": self.mapping.status_attribute}
        if seen_status is None:
            names["#pk"] = self.mapping.partition_key
            return "attribute_exists(#pk) AND attribute_not_exists(#st)", names, {}
        return "#st = :seen", names, {":seen": {"S": seen_status}}

    async def delete_if_status(self, pk: str, sk: str, seen_status: str | None) -> bool:
        """Delete the item at (pk, sk) only while its status is still `seen_status`."""
        condition, names, values = self._status_condition(seen_status)
        return await self.conditional_write(
            "delete_item",
            Key=self._key(pk, sk),
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            **({"ExpressionAttributeValues": values} if values else {}),
        )

    async def set_status_if(self, pk: str, sk: str, status: str, seen_status: str | None) -> bool:
        """Set the item's status only while it is still `seen_status`; a final status also
        removes the pending-index attributes."""
        m = self.mapping
        condition, names, values = self._status_condition(seen_status)
        values = values | {":st": {"S": status}}
        update = "SET #st = :st"
        index = m.pending_index
        if index is not None and status != m.status_values.pending:
            names |= {"#ipk": index.partition_key, "#isk": index.sort_key}
            update += " REMOVE #ipk, #isk"
        return await self.conditional_write(
            "update_item",
            Key=self._key(pk, sk),
            UpdateExpression=update,
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def _key(self, pk: str, sk: str) -> dict[str, Any]:
        return {self.mapping.partition_key: {"S": pk}, self.mapping.sort_key: {"S": sk}}

    async def clear_pending_index_if(self, pk: str, sk: str, seen_status: str | None) -> bool:
        """Remove the pending-index attributes of the item at (pk, sk) only while it still has
        them and its status is still `seen_status` (None: it had no status attribute)."""
        index = self.mapping.pending_index
        if index is None:
            raise ValueError("the mapping has no pending index")
        names = {
            "#st": self.mapping.status_attribute,
            "#ipk": index.partition_key,
            "#isk": index.sort_key,
        }
        condition = "attribute_exists(#ipk) AND " + (
            "attribute_not_exists(#st)" if seen_status is None else "#st = :seen"
        )
        return await self.conditional_write(
            "update_item",
            Key=self._key(pk, sk),
            UpdateExpression="REMOVE #ipk, #isk",
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            **(
                {}
                if seen_status is None
                else {"ExpressionAttributeValues": {":seen": {"S": seen_status}}}
            ),
        )

    # --- preflight's probes (monitor.migration.preflight): real calls that write nothing ---

    async def probe_query(self, pk: str, *, index: tuple[str, str] | None = None) -> None:
        """One Query for at most one item of partition `pk`, of the table or of `index` (its
        name and partition key attribute): proves the Query permission, whatever it finds."""
        params: dict[str, Any] = {"TableName": self.table}
        if index is not None:
            params["IndexName"] = index[0]
        await self.call(
            "query",
            **params,
            KeyConditionExpression="#pk = :pk",
            ExpressionAttributeNames={
                "#pk": self.mapping.partition_key if index is None else index[1]
            },
            ExpressionAttributeValues={":pk": {"S": pk}},
            Limit=1,
        )

    async def put_if_present(self, item: Item) -> bool:
        """Put `item` only where an item with its key exists; False (nothing written) otherwise.
        Preflight puts a key no record has: the refusal proves PutItem is allowed."""
        return await self.conditional_write(
            "put_item",
            Item=encode_item(item),
            ConditionExpression="attribute_exists(#pk)",
            ExpressionAttributeNames={"#pk": self.mapping.partition_key},
        )

    # --- the traffic generator's faults (monitor.writer.generate): around the protocol ----

    async def put_unconditionally(self, item: Item) -> None:
        """Put `item` over whatever is at its key: the stray writer of `dynamodb_only`."""
        await self.call("put_item", reads=False, TableName=self.table, Item=encode_item(item))

    async def delete_unconditionally(self, pk: str, sk: str) -> None:
        """Delete the item at (pk, sk), whatever it holds: the `lost_item` fault."""
        await self.call("delete_item", reads=False, TableName=self.table, Key=self._key(pk, sk))

    async def scan_index(self, index: str, attributes: Sequence[str]) -> AsyncIterator[list[Item]]:
        """Every item of a (sparse) secondary index, a page at a time, with only `attributes`
        (a sparse index costs what it holds, not the table)."""
        names = {f"#a{i}": a for i, a in enumerate(attributes)}
        async for page in self._paginate(
            "scan",
            TableName=self.table,
            IndexName=index,
            ProjectionExpression=", ".join(names),
            ExpressionAttributeNames=names,
        ):
            yield [decode_item(wire) for wire in page.get("Items", [])]

    async def conditional_write(self, operation: str, **params: Any) -> bool:
        """`put_item`, `update_item` or `delete_item` with a ConditionExpression in `params`;
        False (nothing written) when the condition does not hold."""
        if "ConditionExpression" not in params:
            raise ValueError("repair writes are always conditional")
        try:
            await self.call(operation, reads=False, TableName=self.table, **params)
        except ConditionFailed:
            return False
        return True

    async def consistent_items(self, keys: Sequence[tuple[str, str]]) -> list[Item]:
        """Whole items for (pk, sk) pairs with strongly consistent reads (repair checks the state
        it is about to change), BatchGetItem of 100, UnprocessedKeys retried."""
        return await self.batch_get(keys, consistent=True)

    async def describe(self) -> dict[str, Any]:
        response = await self.call("describe_table", reads=False, TableName=self.table)
        return dict(response["Table"])

    async def index_names(self) -> set[str]:
        return {index.name for index in await self.indexes()}

    async def indexes(self) -> list[IndexInfo]:
        return describe_indexes(await self.describe())


def unchanged_condition(item: Item) -> tuple[str, dict[str, str], dict[str, Any]]:
    """A ConditionExpression that holds only while the item's scalar attributes are as read."""
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    terms: list[str] = []
    for i, (attribute, value) in enumerate(sorted(item.items())):
        if value.type not in _SCALARS:
            continue
        names[f"#c{i}"] = attribute
        values[f":c{i}"] = encode_attribute(value)
        terms.append(f"#c{i} = :c{i}")
    return " AND ".join(terms), names, values


#: The attribute types a condition can compare for equality as read.
_SCALARS = frozenset({AttributeType.S, AttributeType.N, AttributeType.BOOL})


class ConditionFailed(StoreError):
    """A conditional write found the item not in the state it required (nothing was written)."""
