"""The migration phases (CONTRACT §4b, ARCHITECTURE decision 7), as pure values.

`sql_only -> dual_write -> dynamo_reads -> dynamo_only`: one step forward through a gate, one
step back by a recorded rollback, never past either end.
"""

from __future__ import annotations

import enum


class Phase(enum.StrEnum):
    SQL_ONLY = "sql_only"
    DUAL_WRITE = "dual_write"
    DYNAMO_READS = "dynamo_reads"
    DYNAMO_ONLY = "dynamo_only"

    @property
    def writes_sql(self) -> bool:
        return self is not Phase.DYNAMO_ONLY

    @property
    def writes_dynamodb(self) -> bool:
        return self is not Phase.SQL_ONLY

    @property
    def reads_dynamodb(self) -> bool:
        return self in (Phase.DYNAMO_READS, Phase.DYNAMO_ONLY)

    @property
    def sql_is_authoritative(self) -> bool:
        """SQL is the system of record up to `dynamo_reads`; DynamoDB in `dynamo_only`."""
        return self is not Phase.DYNAMO_ONLY

    @property
    def following(self) -> Phase | None:
        index = ORDER.index(self)
        return ORDER[index + 1] if index + 1 < len(ORDER) else None

    @property
    def previous(self) -> Phase | None:
        index = ORDER.index(self)
        return ORDER[index - 1] if index > 0 else None


ORDER: tuple[Phase, ...] = tuple(Phase)

#: The gate that moves the phase forward into each phase.
GATES: dict[str, Phase] = {
    "dual-write": Phase.DUAL_WRITE,
    "read-switch": Phase.DYNAMO_READS,
    "write-switch": Phase.DYNAMO_ONLY,
}


def gate_move(gate: str, current: Phase) -> tuple[Phase, Phase] | str:
    """(from, to) of the step a gate makes from `current`, or why it cannot make it."""
    target = GATES[gate]
    if current is target:
        return f"the phase is already {target}"
    if current.following is not target:
        source = target.previous
        return f"the {gate} gate moves {source} to {target}; the phase is {current}"
    return current, target
