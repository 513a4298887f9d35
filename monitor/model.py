"""Value types shared by every layer: keys, windows, findings and check reports.

Everything here is frozen; a new value is derived with `dataclasses.replace`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

#: A record key keeps its exact type: a bigint stays an `int` (2**53 + 1 survives), a text key a `str`.
KeyValue = int | str


class FindingKind(enum.StrEnum):
    MISSING_IN_DYNAMODB = "missing_in_dynamodb"
    MISSING_IN_SQL = "missing_in_sql"
    STATUS_DIVERGENCE = "status_divergence"
    STUCK_PENDING = "stuck_pending"
    FIELD_MISMATCH = "field_mismatch"
    INVALID_DATA = "invalid_data"
    INDEX_INTEGRITY = "index_integrity"
    RULE_VIOLATION = "rule_violation"


class Outcome(enum.StrEnum):
    """How a check run ended; the `outcome` attribute of `dualwrite.check.runs`."""

    OK = "ok"
    INCONSISTENT = "inconsistent"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Window:
    """A half-open UTC time range: `start` inclusive, `end` exclusive."""

    start: datetime
    end: datetime
    #: True when an explicit `--until` was later than the settled edge and was pulled back to it.
    clamped: bool = False

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("window bounds must be timezone-aware")
        if self.end < self.start:
            raise ValueError(f"window ends ({self.end}) before it starts ({self.start})")

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


@dataclass(frozen=True, slots=True, order=True)
class KeyStatus:
    """The narrow view a count slice reads from either store: the key and its write status."""

    key: KeyValue
    status: str | None


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing wrong with one record. Never carries a free-text or JSON value."""

    kind: FindingKind
    key: KeyValue
    pk: str | None = None
    sk: str | None = None
    sql_status: str | None = None
    dynamodb_status: str | None = None
    #: For field_mismatch / invalid_data / index_integrity: the attribute concerned.
    field: str | None = None
    #: For rule_violation: the rule's name.
    rule: str | None = None
    #: A short, value-free explanation (JSON paths, hashes, types), never raw data.
    detail: str | None = None


class Figures(Protocol):
    """A report's typed figures (`monitor.core.figures.Figures`, one dataclass per check)."""

    def to_summary(self) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class CheckReport:
    """What a check returns. Metrics, alerts and the CLI read it; checks never talk to them."""

    check: str
    table: str
    key_column: str
    window: Window
    ok: bool
    #: The check's own figures dataclass: readers in the process use its attributes.
    figures: Figures
    findings: tuple[Finding, ...] = ()
    #: Non-fatal remarks for the operator (e.g. a configured index that does not exist).
    warnings: tuple[str, ...] = field(default=())

    @property
    def outcome(self) -> Outcome:
        return Outcome.OK if self.ok else Outcome.INCONSISTENT

    @property
    def summary(self) -> Mapping[str, Any]:
        """The figures as the JSON `summary` (CONTRACT §4), for output and generic listings."""
        return self.figures.to_summary()


@dataclass(frozen=True, slots=True)
class IndexInfo:
    """A global secondary index as the DynamoDB table describes it."""

    name: str
    status: str
    #: KeyType -> AttributeName: {"HASH": ..., "RANGE": ...}.
    key_schema: Mapping[str, str]
    #: ALL, KEYS_ONLY or INCLUDE.
    projection_type: str = "ALL"
    non_key_attributes: tuple[str, ...] = ()
