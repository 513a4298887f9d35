"""What a dual write can end as: typed results, never a bare bool (CONTRACT §7).

`Committed`: both stores hold the record as committed. `Compensated`: the DynamoDB write failed
for good and the SQL row was compensated once (marked `Compensated`, or deleted when configured).
`LeftPending`: the writer stopped at `step` and left the record pending on the side not yet
marked, for `orphans` to find and `repair` to finish; nothing was compensated or deleted.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from monitor.model import KeyValue


class Step(enum.StrEnum):
    """The protocol's steps, in order; each is safe to retry and idempotent by transaction id."""

    SQL_INSERT = "sql_insert"
    DYNAMODB_PUT = "dynamodb_put"
    SQL_COMMIT = "sql_commit"
    DYNAMODB_COMMIT = "dynamodb_commit"
    COMPENSATE = "compensate"


@dataclass(frozen=True, slots=True)
class Committed:
    key: KeyValue
    transaction_id: str


@dataclass(frozen=True, slots=True)
class Compensated:
    key: KeyValue
    transaction_id: str
    #: Why the DynamoDB write failed for good (an error message, never record data).
    reason: str
    #: True when the SQL row was deleted (`[writer] compensation = "delete"`), not marked.
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class LeftPending:
    key: KeyValue
    transaction_id: str
    #: The step that could not be completed.
    step: Step
    reason: str


WriteResult = Committed | Compensated | LeftPending


class DuplicateRecord(ValueError):
    """A record with this key already exists under another transaction: nothing was written."""

    def __init__(self, key: KeyValue, where: str) -> None:
        self.key = key
        super().__init__(f"record {key!r} already exists in {where} under another transaction")
