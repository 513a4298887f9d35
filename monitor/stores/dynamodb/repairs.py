"""Repair's side (monitor.repair, the `TargetRepairs` port): every write conditional on the
state repair read."""

from __future__ import annotations

from typing import Any

from monitor.core.item import AttributeType, Item
from monitor.stores.dynamodb.client import DynamoTable
from monitor.stores.wire import encode_attribute, encode_item


class RepairWrites(DynamoTable):
    """Puts, deletes and status changes that hold only while the item is as repair saw it."""

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
