"""What happens around a phase switch, as pure decisions (CONTRACT §4b).

- Which checks keep running in a phase: in `dynamo_only` SQL is no longer written, so a check
  that reads new records from SQL (its sample) or compares the stores window by window would
  report nothing, or every new record as `missing_in_sql`; it stops, and says why. The others
  keep running.
- After a switch, when the traffic seen in a settled window proves it worked: enough records
  written after the switch (and the writers' phase cache) in the stores the new phase writes, and
  none in a store it no longer writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from monitor.core.phases import Phase


def stop_reason(phase: Phase, needs_sql_writes: str) -> str | None:
    """Why a check does not run in `phase` (None: it runs); `needs_sql_writes` is the check's
    own reason for needing SQL to be written ("" when it does not)."""
    if phase is Phase.DYNAMO_ONLY and needs_sql_writes:
        return f"SQL is no longer written in dynamo_only: {needs_sql_writes}"
    return None


@dataclass(frozen=True, slots=True)
class Traffic:
    """One settled window after a switch, as `counts` saw it."""

    sql_count: int
    dynamodb_count: int
    #: Keys `counts` found on one side only.
    findings: int


Verdict = Literal["wait", "passed", "failed"]


def after_switch(phase: Phase, traffic: Traffic, wanted: int) -> tuple[Verdict, str]:
    """Whether the traffic after a switch into `phase` proves the switch, refutes it, or is
    not enough yet (`wait`)."""
    sql, dynamo = traffic.sql_count, traffic.dynamodb_count
    if not phase.writes_sql and sql:
        return "failed", (
            f"{sql} SQL records written after the switch: a writer still writes SQL"
            " (does every writer read the phase?)"
        )
    if not phase.writes_dynamodb and dynamo:
        return "failed", f"{dynamo} DynamoDB items written after the switch to {phase}"
    if phase.writes_sql and phase.writes_dynamodb and traffic.findings:
        return "failed", f"{traffic.findings} records on one side only after the switch"
    seen = dynamo if phase.writes_dynamodb else sql
    store = "DynamoDB" if phase.writes_dynamodb else "SQL"
    if seen < wanted:
        return "wait", f"{seen} of {wanted} records in {store} after the switch"
    written = (
        f"{sql} SQL rows and {dynamo} DynamoDB items, agreeing"
        if phase.writes_sql and phase.writes_dynamodb
        else f"{seen} records in {store}, none in the store no longer written"
    )
    return "passed", f"{written} after the switch"
