"""The checks' reads of the mapped table (the `TargetStore` port): Queries, BatchGetItem, Scans.

Nothing is ever dropped: `UnprocessedKeys` are retried until served, or the run fails loudly
with `StoreUnavailable`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import anyio

from monitor.core.item import Item
from monitor.core.mapping import IndexMap
from monitor.errors import StoreUnavailable
from monitor.model import IndexInfo
from monitor.stores.dynamodb.client import STORE, DynamoTable, consumed_units
from monitor.stores.ports import ScanPage, SliceRead
from monitor.stores.wire import (
    decode_attribute,
    decode_item,
    describe_indexes,
    plain_key_statuses,
)

BATCH_GET_LIMIT = 100


class TableReads(DynamoTable):
    """What the checks read: slices, batches of keys, key ranges, Scan pages, the indexes."""

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
        consumed = consumed_units(page)
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
