"""The one path every DynamoDB request takes: the client, the budget, the limiter, the retries.

One client per process (creating one does blocking I/O). Every request goes through `call`:
bounded concurrency, the shared `ReadBudget`, and a declared retry on throttling and transient
server errors with capped, jittered backoff. The reads, writes, repairs and probes of the
adapter (`monitor.stores.dynamodb`) are built on `DynamoTable`.
"""

from __future__ import annotations

import copy
import logging
import random
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, Self

import anyio
from aiobotocore.config import AioConfig
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
from monitor.core.mapping import TableMapping
from monitor.errors import StoreError, StoreUnavailable
from monitor.stores.aws_session import new_session
from monitor.stores.budget import ReadBudget
from monitor.stores.raw_items import install as install_raw_items
from monitor.stores.raw_items import raw_items

#: The adapter's logger, not this module's: the CLI's retry line (monitor.retryline) listens on it.
log = logging.getLogger("monitor.stores.dynamodb")

STORE = "DynamoDB"
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
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        # A 5xx without one of DynamoDB's codes (a proxy's 502, a bare 500) is a server's
        # trouble too, not a refusal of the request.
        if code not in RETRYABLE_CODES and not (isinstance(status, int) and status >= 500):
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
    session: Any = new_session()  # typed per service name; the name here is a variable
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


class ConditionFailed(StoreError):
    """A conditional write found the item not in the state it required (nothing was written)."""


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


def consumed_units(response: Mapping[str, Any]) -> float | None:
    """The read units a response says it consumed; None when it says nothing."""
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


class DynamoTable:
    """The mapped table behind one client: metered views, `call`, pages, conditional writes.

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

    def for_run(self) -> Self:
        """A view of this store that meters one run on its own (and still counts here)."""
        view = copy.copy(self)
        view._meters = (ReadMeter(), *self._meters)
        return view

    def with_budget(self, budget: ReadBudget) -> Self:
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

    async def call(
        self, operation: str, *, reads: bool = True, raw: bool = False, **params: Any
    ) -> dict[str, Any]:
        """One request through the budget, the limiter and the retries. `raw`: the items of a
        narrow Query/Scan (string and number attributes only) come from the JSON as sent
        (monitor/stores/raw_items.py), which saves most of the client's CPU."""
        method = getattr(self.client, operation)
        for attempt in range(self.retry.attempts):
            reserved = await self.budget.acquire() if reads else None
            if reads:
                params.setdefault("ReturnConsumedCapacity", "TOTAL")
            try:
                async with self._limiter:
                    self._count(requests=1)
                    with raw_items() if raw else nullcontext():
                        response: dict[str, Any] = await method(**params)
            except ClientError as exc:
                if reserved is not None:
                    # DynamoDB answered with an error, so the request consumed nothing. (With
                    # no answer, a timeout, its reservation stands: it may have been read.)
                    self.budget.refund(reserved)
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
                if reserved is not None:
                    self.budget.abandon(reserved)  # no answer: spent, but the retry goes at once
                failure = retryable_failure(STORE, operation, exc, self.settings)
            else:
                if reserved is not None:
                    consumed = consumed_units(response)
                    units = 1.0 if consumed is None else consumed
                    self.budget.charge(units, reserved)
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

    def _key(self, pk: str, sk: str) -> dict[str, Any]:
        return {self.mapping.partition_key: {"S": pk}, self.mapping.sort_key: {"S": sk}}

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
