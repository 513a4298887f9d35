"""Faults injected at the real seams, so that the writer's own code paths handle them.

The DynamoDB client's misbehaviour (`monitor.stores.faulty.FaultyClient`) is armed per item with
`client_fault`; `crash_hook` makes the writer "die" at a checkpoint. Nothing here writes a final
state directly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from monitor.core.mapping import TableMapping
from monitor.stores.faulty import ClientFault, Location
from monitor.writer.dual import Checkpoint, CrashHook, WriterCrashed
from monitor.writer.faults import Fault

_CLIENT_FAULTS = frozenset(f.value for f in ClientFault)


def location_of(mapping: TableMapping, row: Mapping[str, Any]) -> Location:
    return mapping.partition_template.render(row), mapping.sort_template.render(row)


def client_fault(fault: Fault | None) -> ClientFault | None:
    """What the DynamoDB client does for this fault (None: the fault is injected elsewhere)."""
    return ClientFault(fault.value) if fault is not None and fault.value in _CLIENT_FAULTS else None


def crash_hook(faults: Callable[[Mapping[str, Any]], Fault | None]) -> CrashHook:
    """A hook that kills the writer where the row's fault says: after the SQL insert
    (`crash_after_sql`) or after both pending writes (`crash_before_commit`)."""

    def hook(point: Checkpoint, row: Mapping[str, Any]) -> None:
        fault = faults(row)
        if (fault is Fault.CRASH_AFTER_SQL and point is Checkpoint.AFTER_SQL_INSERT) or (
            fault is Fault.CRASH_BEFORE_COMMIT and point is Checkpoint.AFTER_DYNAMODB_PUT
        ):
            raise WriterCrashed(point)

    return hook
