"""What the daemon's own repair has done, as typed values: `/status` shows their JSON, the
status page reads their attributes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from monitor.core.plan import RepairFigures


@dataclass(frozen=True, slots=True)
class RepairRun:
    """The last repair run: its plan and figures, or the error that lost it."""

    #: When it started (ISO 8601, `Z`).
    at: str
    plan: str | None = None
    figures: RepairFigures | None = None
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        if self.error is not None or self.figures is None:
            return {"at": self.at, "error": self.error}
        return {"at": self.at, "plan": self.plan, "summary": self.figures.to_summary()}


@dataclass(frozen=True, slots=True)
class RepairStatus:
    """The daemon's repair: off, or on every `interval_seconds`, with its runs so far."""

    enabled: bool
    interval_seconds: float = 0.0
    runs: int = 0
    last_run: RepairRun | None = None

    def as_json(self) -> dict[str, Any]:
        if not self.enabled:
            return {"enabled": False}
        return {
            "enabled": True,
            "interval_seconds": self.interval_seconds,
            "runs": self.runs,
            "last_run": None if self.last_run is None else self.last_run.as_json(),
        }


#: The daemon without `[repair] enabled`.
REPAIR_OFF = RepairStatus(enabled=False)
