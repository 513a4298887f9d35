"""The seed's three read patterns, each served by the store the migration phase says.

Up to `dual_write` PostgreSQL answers; from `dynamo_reads` on, DynamoDB does (its `ByApplication`
and `ErrorsByDate` indexes, and the base table's `LOG#{service}#{date}` partitions). Only
committed records are returned — a pending one may still be compensated — as rows of the default
data model, oldest first, so that both stores give the same answer for the same data.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from monitor.core.item import AttributeType, Item
from monitor.core.mapping import IndexMap, KeyTemplate, pascal_case
from monitor.migration.phase import PhaseSource
from monitor.stores.dynamodb import DynamoStore
from monitor.stores.postgres import PostgresStore, quote_ident
from monitor.writer.items import DEFAULT_COLUMNS

#: What a reader gets back: the record's columns, without the writer's bookkeeping.
READ_COLUMNS = tuple(c for c in DEFAULT_COLUMNS if c not in {"updated_at"})
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
#: Bounds that hold every sort key (they begin with a four-digit year); a key condition may not
#: use an empty string.
_ALL = ("0", "9~")


def row_from_item(item: Item) -> dict[str, Any]:
    """A default-model item as a row: absent attributes are NULL."""
    row: dict[str, Any] = {}
    for column in READ_COLUMNS:
        value = item.get(pascal_case(column))
        if value is None:
            row[column] = None
        elif value.type is AttributeType.BOOL:
            row[column] = bool(value.value)
        elif value.type is AttributeType.N:
            row[column] = int(value.value)
        elif column == "log_timestamp" and value.text is not None:
            row[column] = datetime.strptime(value.text, _TIME_FORMAT).replace(tzinfo=UTC)
        else:
            row[column] = value.text
    return row


class LogReader:
    def __init__(self, sql: PostgresStore, dynamo: DynamoStore, phase: PhaseSource) -> None:
        self.sql = sql
        self.dynamo = dynamo
        self.phase = phase
        self.mapping = sql.mapping
        self._committed = self.mapping.status_values.committed

    def _index(self, name: str, partition_key: str, sort_key: str, template: str) -> IndexMap:
        parsed = KeyTemplate.parse(template, timestamp_column=self.mapping.timestamp_column)
        return IndexMap(name, partition_key, sort_key, parsed)

    async def _from_sql(self, where: str, *params: Any) -> list[dict[str, Any]]:
        status = quote_ident(self.mapping.status_column)
        ts = quote_ident(self.mapping.timestamp_column)
        rows = await self.sql.fetch_rows(
            READ_COLUMNS,
            f"{where} AND {status} = ${len(params) + 1} ORDER BY {ts}, "
            f"{quote_ident(self.mapping.key_column)}",
            *params,
            self._committed,
        )
        return [dict(row) for row in rows]

    async def _from_dynamodb(
        self, pk: str, start_sk: str, end_sk: str, index: IndexMap | None
    ) -> list[dict[str, Any]]:
        attributes = [pascal_case(c) for c in READ_COLUMNS] + [self.mapping.status_attribute]
        items = await self.dynamo.query_range(
            pk,
            start_sk,
            end_sk,
            list(dict.fromkeys(attributes)),
            index=index,
            status=self._committed,
        )
        return sorted(
            (row_from_item(item) for item in items),
            key=lambda r: (r["log_timestamp"], r["log_id"]),
        )

    async def logs_by_application(self, application_id: str) -> list[dict[str, Any]]:
        if (await self.phase.current()).reads_dynamodb:
            index = self._index("ByApplication", "GSI1PK", "GSI1SK", "APP#{application_id}")
            return await self._from_dynamodb(f"APP#{application_id}", *_ALL, index)
        return await self._from_sql(f"{quote_ident('application_id')} = $1", application_id)

    async def logs_by_service_and_time_range(
        self, service_name: str, start: datetime, end: datetime
    ) -> list[dict[str, Any]]:
        """Records of one service with `start <= log_timestamp < end`."""
        if not (await self.phase.current()).reads_dynamodb:
            ts = quote_ident(self.mapping.timestamp_column)
            return await self._from_sql(
                f"{quote_ident('service_name')} = $1 AND {ts} >= $2 AND {ts} < $3",
                service_name,
                start,
                end,
            )
        out: list[dict[str, Any]] = []
        lo, hi = self.mapping.sort_key_bounds(start, end)
        day = start.astimezone(UTC).date()
        while datetime.combine(day, datetime.min.time(), UTC) < end:
            pk = f"LOG#{service_name}#{day:%Y-%m-%d}"
            found = await self._from_dynamodb(pk, lo, hi, None)
            out += [r for r in found if start <= r["log_timestamp"] < end]
            day += timedelta(days=1)
        return out

    async def error_logs_by_date(self, day: date) -> list[dict[str, Any]]:
        if (await self.phase.current()).reads_dynamodb:
            index = self._index("ErrorsByDate", "GSI2PK", "GSI2SK", "ERR#{log_timestamp:%Y-%m-%d}")
            return await self._from_dynamodb(f"ERR#{day:%Y-%m-%d}", *_ALL, index)
        start = datetime.combine(day, datetime.min.time(), UTC)
        ts = quote_ident(self.mapping.timestamp_column)
        return await self._from_sql(
            f"{quote_ident('is_success')} = false AND {ts} >= $1 AND {ts} < $2",
            start,
            start + timedelta(days=1),
        )


__all__ = ["LogReader", "row_from_item"]
