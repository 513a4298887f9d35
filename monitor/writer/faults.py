"""The fault table of CONTRACT §7: kinds, what the checks must report, and how often each occurs.

Pure. A `FaultProfile` gives each fault kind a probability per record; `FaultPicker` draws at
most one fault per record from a seeded generator, so the same seed gives the same faults.
"""

from __future__ import annotations

import enum
import random
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from monitor.errors import UsageError
from monitor.model import FindingKind


class Fault(enum.StrEnum):
    DYNAMODB_WRITE_FAILED = "dynamodb_write_failed"
    DYNAMODB_THROTTLED = "dynamodb_throttled"
    SLOW_WRITE = "slow_write"
    CRASH_AFTER_SQL = "crash_after_sql"
    CRASH_BEFORE_COMMIT = "crash_before_commit"
    COMMIT_MARK_FAILED = "commit_mark_failed"
    CORRUPTED_FIELD = "corrupted_field"
    DYNAMODB_ONLY = "dynamodb_only"
    LOST_ITEM = "lost_item"
    INVALID_JSON = "invalid_json"


#: The finding each fault must produce (None: the final states agree, nothing to report).
EXPECT: Mapping[Fault, FindingKind | None] = MappingProxyType(
    {
        Fault.DYNAMODB_WRITE_FAILED: None,
        Fault.DYNAMODB_THROTTLED: None,
        Fault.SLOW_WRITE: None,
        Fault.CRASH_AFTER_SQL: FindingKind.MISSING_IN_DYNAMODB,
        Fault.CRASH_BEFORE_COMMIT: FindingKind.STUCK_PENDING,
        Fault.COMMIT_MARK_FAILED: FindingKind.STATUS_DIVERGENCE,
        Fault.CORRUPTED_FIELD: FindingKind.FIELD_MISMATCH,
        Fault.DYNAMODB_ONLY: FindingKind.MISSING_IN_SQL,
        Fault.LOST_ITEM: FindingKind.MISSING_IN_DYNAMODB,
        Fault.INVALID_JSON: FindingKind.INVALID_DATA,
    }
)

#: Total fault rate of the named profiles, spread evenly over the kinds.
PROFILE_RATES = {"none": 0.0, "light": 0.005, "heavy": 0.05}


@dataclass(frozen=True, slots=True)
class FaultProfile:
    name: str
    probabilities: Mapping[Fault, float]

    @property
    def total(self) -> float:
        return sum(self.probabilities.values())

    @classmethod
    def named(cls, name: str) -> FaultProfile:
        rate = PROFILE_RATES[name]
        return cls(name, MappingProxyType({fault: rate / len(Fault) for fault in Fault}))

    @classmethod
    def from_mapping(cls, name: str, table: Mapping[str, object]) -> FaultProfile:
        """Per-fault probabilities; unknown kinds and bad numbers are errors naming the key."""
        known = {str(f) for f in Fault}
        probabilities: dict[Fault, float] = {}
        for key, value in table.items():
            if key not in known:
                raise UsageError(
                    f"{name}: unknown fault {key!r}; known faults: {', '.join(sorted(known))}"
                )
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
                raise UsageError(f"{name}: {key} must be a probability between 0 and 1")
            probabilities[Fault(key)] = float(value)
        if sum(probabilities.values()) > 1:
            raise UsageError(f"{name}: the fault probabilities add up to more than 1")
        return cls(name, MappingProxyType(probabilities))


def load_profile(spec: str) -> FaultProfile:
    """`none`, `light`, `heavy`, or the path of a TOML file (`kind = probability`, at the top
    level or under `[faults]`)."""
    if spec in PROFILE_RATES:
        return FaultProfile.named(spec)
    path = Path(spec)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"--faults {spec!r}: not none, light or heavy, and no such file") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"--faults {spec!r}: cannot read it: {exc}") from None
    table = data.get("faults", data)
    if not isinstance(table, dict):
        raise UsageError(f"--faults {spec!r}: [faults] must be a table")
    return FaultProfile.from_mapping(spec, table)


class FaultPicker:
    """At most one fault per record, drawn from its own seeded generator."""

    def __init__(self, profile: FaultProfile, seed: int) -> None:
        self._rng = random.Random(f"faults:{seed}")
        self._choices = [(f, p) for f, p in profile.probabilities.items() if p > 0]

    def pick(self) -> Fault | None:
        draw = self._rng.random()
        for fault, probability in self._choices:
            if draw < probability:
                return fault
            draw -= probability
        return None
