"""The DynamoDB adapter under throttling and partial batches, injected by a thin wrapper around
the real client (emulators never throttle nor return UnprocessedKeys): nothing is dropped."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import anyio
import pytest
from botocore.exceptions import ClientError

from monitor.checks.counts import run_counts
from monitor.config import Settings
from monitor.errors import StoreUnavailable
from monitor.model import FindingKind, Window
from monitor.runtime import open_context
from monitor.stores.budget import ReadBudget
from monitor.stores.dynamodb import RetryPolicy
from tests.fake_time import SteppingClock
from tests.integration.scenario import make_rows, seed

WINDOW = Window(datetime(2026, 1, 1, 9, tzinfo=UTC), datetime(2026, 1, 1, 11, tzinfo=UTC))


def throttled(operation: str, code: str = "ProvisionedThroughputExceededException") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "slow down"}}, operation)


def bare_server_error(operation: str) -> ClientError:
    """What botocore raises for an HTTP 500 whose body is HTML, not DynamoDB's JSON (a proxy's
    error page, an emulator's crash): the status is the only code."""
    page = "<!doctype html>\n<title>500 Internal Server Error</title>"
    return ClientError(
        {
            "Error": {"Code": "500", "Message": page},
            "ResponseMetadata": {"HTTPStatusCode": 500, "MaxAttemptsReached": True},
        },
        operation,
    )


class FlakyClient:
    """Forwards to the real client; throttles every other call and serves batches partly."""

    def __init__(
        self,
        real: Any,
        *,
        throttle_every: int = 2,
        always_throttle: bool = False,
        query_error: Callable[[str], ClientError] = lambda op: throttled(op, "ThrottlingException"),
    ) -> None:
        self.real = real
        self.query_error = query_error
        self.calls: dict[str, int] = {}
        self.throttled = 0
        self.unprocessed_returned = 0
        self.throttle_every = throttle_every
        self.always_throttle = always_throttle

    def _count(self, name: str) -> int:
        self.calls[name] = self.calls.get(name, 0) + 1
        return self.calls[name]

    async def query(self, **params: Any) -> Any:
        if self.always_throttle or self._count("query") % self.throttle_every == 1:
            self.throttled += 1
            raise self.query_error("Query")
        return await self.real.query(**params)

    async def scan(self, **params: Any) -> Any:
        if self._count("scan") % self.throttle_every == 1:
            self.throttled += 1
            raise throttled("Scan")
        return await self.real.scan(**params)

    async def batch_get_item(self, **params: Any) -> Any:
        ((table, request),) = params["RequestItems"].items()
        keys = request["Keys"]
        served, held = keys[: len(keys) // 2 or 1], keys[len(keys) // 2 or 1 :]
        response = await self.real.batch_get_item(RequestItems={table: {**request, "Keys": served}})
        if held:
            self.unprocessed_returned += len(held)
            response["UnprocessedKeys"] = {table: {**request, "Keys": held}}
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


@pytest.mark.parametrize(
    "query_error",
    [lambda op: throttled(op, "ThrottlingException"), bare_server_error],
    ids=["throttled", "bare-http-500"],
)
def test_throttled_or_failing_queries_are_retried_and_no_key_is_dropped(
    settings: Settings, query_error: Callable[[str], ClientError]
) -> None:
    seed(settings, make_rows(400), drop_from_dynamodb={10, 20}, drop_from_sql={30})

    async def scenario() -> tuple[Any, FlakyClient]:
        async with open_context(settings) as ctx:
            flaky = FlakyClient(ctx.dynamo.client, query_error=query_error)
            ctx.dynamo.client = flaky
            ctx.dynamo.retry = RetryPolicy(base_delay=0)
            report = await run_counts(
                settings, ctx.sql, ctx.dynamo, ctx.state, WINDOW, datetime.now(UTC)
            )
            return report, flaky

    report, flaky = anyio.run(scenario)
    assert flaky.throttled > 3
    missing = {(f.kind, f.key) for f in report.findings}
    assert missing == {
        (FindingKind.MISSING_IN_DYNAMODB, 10),
        (FindingKind.MISSING_IN_DYNAMODB, 20),
        (FindingKind.MISSING_IN_SQL, 30),
    }
    assert report.summary["sql_count"] == 399 and report.summary["dynamodb_count"] == 398


def test_unprocessed_keys_are_retried_until_every_item_is_read(settings: Settings) -> None:
    rows = make_rows(250)
    seed(settings, rows)
    mapping = settings.table_mapping()
    wanted = [(mapping.partition_template.render(r), mapping.sort_template.render(r)) for r in rows]

    async def scenario() -> tuple[list[dict[str, Any]], FlakyClient]:
        async with open_context(settings) as ctx:
            flaky = FlakyClient(ctx.dynamo.client)
            ctx.dynamo.client = flaky
            ctx.dynamo.retry = RetryPolicy(base_delay=0)
            items = await ctx.dynamo.batch_get(wanted, projection=["LogId"])
            return items, flaky

    items, flaky = anyio.run(scenario)
    assert flaky.unprocessed_returned > 100
    assert sorted(i["LogId"].value for i in items) == [r["log_id"] for r in rows]


def test_throttling_that_never_ends_is_a_clear_unavailable_error(settings: Settings) -> None:
    seed(settings, make_rows(10))

    async def scenario() -> None:
        async with open_context(settings) as ctx:
            ctx.dynamo.client = FlakyClient(ctx.dynamo.client, always_throttle=True)
            ctx.dynamo.retry = RetryPolicy(attempts=3, base_delay=0)
            await ctx.dynamo.slice_keys("LOG#CreditCheckService#2026-01-01", "2026", "2027")

    with pytest.raises(StoreUnavailable, match="ThrottlingException.*after 3 attempts"):
        anyio.run(scenario)


def test_read_budget_is_charged_with_consumed_capacity(settings: Settings) -> None:
    seed(settings, make_rows(300))

    async def scenario() -> float:
        async with open_context(settings) as ctx:
            await run_counts(settings, ctx.sql, ctx.dynamo, ctx.state, WINDOW, datetime.now(UTC))
            return ctx.dynamo.budget.consumed

    assert anyio.run(scenario) > 0


def test_a_refused_read_gives_its_reservation_back(settings: Settings) -> None:
    """A read DynamoDB refuses (throttled) consumed nothing: its reservation goes back. After
    refused-then-served reads the budget holds what time paid for less what was read, no more
    (a lost reservation) and no less (a refusal charged)."""
    seed(settings, make_rows(10))
    clock = SteppingClock()
    rate = settings.dynamodb.max_read_units_per_second

    async def scenario() -> tuple[ReadBudget, FlakyClient, float]:
        async with open_context(settings) as ctx:
            budget = ReadBudget(rate, clock=clock, sleep=clock.sleep)
            ctx.dynamo.budget = budget
            flaky = FlakyClient(ctx.dynamo.client)  # refuses every other query, the first too
            ctx.dynamo.client = flaky
            ctx.dynamo.retry = RetryPolicy(base_delay=0)
            for _ in range(2):  # the first tells the cost the second reserves
                await ctx.dynamo.slice_keys("LOG#CreditCheckService#2026-01-01", "2026", "2027")
            return budget, flaky, ctx.dynamo.read_units

    budget, flaky, read = anyio.run(scenario)
    assert (flaky.calls["query"], flaky.throttled) == (4, 2)
    assert budget.consumed == read > 0
    assert clock.now > 0  # the second read waited for what the first had cost
    assert budget.tokens == pytest.approx(rate * clock.now - read)


def test_items_taken_raw_equal_botocores_for_strings_and_numbers_and_only_where_asked(
    settings: Settings,
) -> None:
    """The raw path (monitor/stores/raw_items.py) returns what botocore would for S and N
    attributes, escapes and non-ASCII included; calls outside it still get botocore's parse
    (binary as bytes)."""
    texts = ["plain", 'quote " and \\ backslash', "é ✓ 𝄞", "tab\tnewline\n", "2026-01-01T09:00Z"]
    numbers = ["0", "-12.5", "9007199254740993", "1E+40"]

    async def scenario() -> None:
        async with open_context(settings) as ctx:
            store = ctx.dynamo
            table = store.table
            m = store.mapping
            for i, text in enumerate(texts):
                await store.client.put_item(
                    TableName=table,
                    Item={
                        m.partition_key: {"S": "RAW#p"},
                        m.sort_key: {"S": f"{i:03d}#{text}"},
                        "Text": {"S": text},
                        "Num": {"N": numbers[i % len(numbers)]},
                        "Blob": {"B": b"\x00\xffbin"},
                    },
                )
            params: dict[str, Any] = {
                "TableName": table,
                "KeyConditionExpression": "#pk = :pk",
                "ProjectionExpression": "#sk, #t, #n",
                "ExpressionAttributeNames": {
                    "#pk": m.partition_key,
                    "#sk": m.sort_key,
                    "#t": "Text",
                    "#n": "Num",
                },
                "ExpressionAttributeValues": {":pk": {"S": "RAW#p"}},
            }
            parsed = await store.call("query", **params)
            raw = await store.call("query", raw=True, **params)
            assert raw["Items"] == parsed["Items"] and len(raw["Items"]) == len(texts)
            assert raw["ConsumedCapacity"] == parsed["ConsumedCapacity"]
            # Not asked: botocore's own parse (binary as bytes), even right after a raw call.
            whole = await store.call(
                "query",
                TableName=table,
                KeyConditionExpression="#pk = :pk",
                ExpressionAttributeNames={"#pk": m.partition_key},
                ExpressionAttributeValues={":pk": {"S": "RAW#p"}},
            )
            assert whole["Items"][0]["Blob"] == {"B": b"\x00\xffbin"}

    seed(settings, make_rows(1))  # creates the tables
    anyio.run(scenario)
