"""Calls outside the protocol: preflight's probes (monitor.migration.preflight, the
`TargetProbes` port: real calls that write nothing) and the traffic generator's faults
(monitor.writer.generate: writes around the protocol)."""

from __future__ import annotations

from typing import Any

from monitor.core.item import Item
from monitor.stores.dynamodb.client import DynamoTable
from monitor.stores.wire import encode_item


class Probes(DynamoTable):
    """Permission probes and deliberate faults."""

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

    async def put_unconditionally(self, item: Item) -> None:
        """Put `item` over whatever is at its key: the stray writer of `dynamodb_only`."""
        await self.call("put_item", reads=False, TableName=self.table, Item=encode_item(item))

    async def delete_unconditionally(self, pk: str, sk: str) -> None:
        """Delete the item at (pk, sk), whatever it holds: the `lost_item` fault."""
        await self.call("delete_item", reads=False, TableName=self.table, Key=self._key(pk, sk))
