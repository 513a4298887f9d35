"""A repair plan as a JSON document: saved for review (`--save-plan`), applied as is (`--plan`).

The plan id is a digest of the plan's content, so the same file always has the same id and the
audit trail of an interrupted apply is found again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor.core.phases import Phase
from monitor.core.plan import Action, PlannedAction
from monitor.errors import UsageError
from monitor.model import FindingKind
from monitor.repair.records import Seen

FORMAT = "dualwrite-monitor repair plan 1"


@dataclass(frozen=True, slots=True)
class PlanEntry:
    """One action of a plan and the record as the plan saw it."""

    action: PlannedAction
    seen: Seen


@dataclass(frozen=True, slots=True)
class Plan:
    phase: Phase
    key_column: str
    steps: tuple[PlanEntry, ...]

    @property
    def id(self) -> str:
        body = json.dumps(self._body(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(body.encode()).hexdigest()[:16]

    def _body(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "phase": str(self.phase),
            "key_column": self.key_column,
            "actions": [
                action_json(s.action, self.key_column) | {"seen": s.seen.as_json()}
                for s in self.steps
            ],
        }

    def as_json(self) -> dict[str, Any]:
        return {"plan": self.id, **self._body()}


def action_json(action: PlannedAction, key_column: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "action": str(action.action),
        "key": {key_column: action.key},
        "finding": str(action.finding),
        "reason": action.reason,
        "pk": action.pk,
        "sk": action.sk,
        "sql_status": action.sql_status,
        "dynamodb_status": action.dynamodb_status,
    }
    if action.side is not None:
        out["side"] = action.side
        out["target_status"] = action.target_status
    return out


def save_plan(plan: Plan, path: Path) -> None:
    try:
        path.write_text(json.dumps(plan.as_json(), indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write the plan to {path}: {exc.strerror}") from None


def load_plan(path: Path, key_column: str) -> Plan:
    """A saved plan; exit 2 with the reason when the file is not one (or was edited)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"plan file {path} not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"plan file {path} is not a JSON plan: {exc}") from None
    try:
        if data["format"] != FORMAT:
            raise UsageError(f"plan file {path}: unknown format {data['format']!r}")
        if data["key_column"] != key_column:
            raise UsageError(
                f"plan file {path} is for key column {data['key_column']!r}, not {key_column!r}"
            )
        plan = Plan(
            Phase(data["phase"]),
            key_column,
            tuple(_step(a, key_column) for a in data["actions"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"plan file {path} is not a repair plan: {exc!r}") from None
    if plan.id != data.get("plan"):
        raise UsageError(f"plan file {path} was changed after it was saved (its id differs)")
    return plan


def _step(data: Mapping[str, Any], key_column: str) -> PlanEntry:
    action = PlannedAction(
        Action(data["action"]),
        data["key"][key_column],
        FindingKind(data["finding"]),
        str(data["reason"]),
        pk=data.get("pk"),
        sk=data.get("sk"),
        sql_status=data.get("sql_status"),
        dynamodb_status=data.get("dynamodb_status"),
        side=data.get("side"),
        target_status=data.get("target_status"),
    )
    return PlanEntry(action, Seen.from_json(data["seen"]))


def steps_of(actions: Sequence[PlannedAction], seen: Mapping[Any, Seen]) -> tuple[PlanEntry, ...]:
    return tuple(PlanEntry(a, seen[a.key]) for a in actions)
