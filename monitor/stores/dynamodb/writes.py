"""The dual writer's side (monitor.writer, the `TargetWrites` port): conditional, idempotent
by transaction id."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from monitor.core.item import Item
from monitor.stores.dynamodb.client import ConditionFailed, DynamoTable
from monitor.stores.wire import decode_item, encode_item


class WriterWrites(DynamoTable):
    """The pending put and the status marks of one transaction."""

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
