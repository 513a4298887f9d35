"""DynamoDB adapter (aiobotocore): sliced Queries, batched reads, one read budget, retries.

`DynamoStore` is the mapped table with every port it serves, one module per job:

- `client`: the one path every request takes (`call`: budget, limiter, declared retries),
  metered views, conditional writes;
- `reads`: the checks' reads (`TargetStore`);
- `writes`: the dual writer's conditional puts and status marks (`TargetWrites`);
- `repairs`: repair's writes, each conditional on the state it read (`TargetRepairs`);
- `probes`: preflight's probes (`TargetProbes`) and the traffic generator's faults.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from monitor.config import DynamoSettings
from monitor.core.mapping import TableMapping
from monitor.stores.dynamodb.client import (
    CALL_EXCEPTIONS,
    RETRYABLE_CODES,
    STORE,
    TRANSIENT_EXCEPTIONS,
    ConditionFailed,
    ReadMeter,
    RetryPolicy,
    TableNotFound,
    open_client,
    retryable_failure,
)
from monitor.stores.dynamodb.probes import Probes
from monitor.stores.dynamodb.reads import BATCH_GET_LIMIT, TableReads
from monitor.stores.dynamodb.repairs import RepairWrites, unchanged_condition
from monitor.stores.dynamodb.writes import WriterWrites

__all__ = [
    "BATCH_GET_LIMIT",
    "CALL_EXCEPTIONS",
    "RETRYABLE_CODES",
    "STORE",
    "TRANSIENT_EXCEPTIONS",
    "ConditionFailed",
    "DynamoStore",
    "ReadMeter",
    "RetryPolicy",
    "TableNotFound",
    "open_client",
    "retryable_failure",
    "unchanged_condition",
]


class DynamoStore(TableReads, WriterWrites, RepairWrites, Probes):
    """Reads (and, for `setup`, creates) the mapped table. Construct with `DynamoStore.open`."""

    @classmethod
    @asynccontextmanager
    async def open(
        cls, settings: DynamoSettings, mapping: TableMapping, **kwargs: Any
    ) -> AsyncIterator[DynamoStore]:
        async with open_client("dynamodb", settings) as client:
            yield cls(client, settings, mapping, **kwargs)
