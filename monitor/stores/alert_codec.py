"""Rule values <-> JSON, for the monitor's schema (rule state, outbox rows).

Pure and exact: a value read back equals the value written (times keep their zone and
microseconds), so `mark_sent` can match a delivered notification to its incident.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, cast

from monitor.core.rules import Direction, Notification, NotificationKind, Observation, RuleSpec


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parse_time(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(str(value))


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def observation_to_json(obs: Observation) -> dict[str, Any]:
    return {
        "value": obs.value,
        "lower": obs.lower,
        "upper": obs.upper,
        "window_start": _time(obs.window_start),
        "window_end": _time(obs.window_end),
        "example_keys": list(obs.example_keys),
        "table": obs.table,
        "cause": obs.cause,
    }


def observation_from_json(data: Mapping[str, Any]) -> Observation:
    return Observation(
        value=float(data["value"]),
        lower=_float(data.get("lower")),
        upper=_float(data.get("upper")),
        window_start=_parse_time(data.get("window_start")),
        window_end=_parse_time(data.get("window_end")),
        example_keys=tuple(str(k) for k in data.get("example_keys", ())),
        table=str(data.get("table", "")),
        cause=str(data.get("cause", "")),
    )


def spec_to_json(spec: RuleSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "metric": spec.metric,
        "direction": spec.direction,
        "threshold": spec.threshold,
        "target": spec.target,
        "hold_runs": spec.hold_runs,
        "hold_for": None if spec.hold_for is None else spec.hold_for.total_seconds(),
        "sampled": spec.sampled,
        "depends_on_store": spec.depends_on_store,
    }


def spec_from_json(data: Mapping[str, Any]) -> RuleSpec:
    hold_for = data.get("hold_for")
    return RuleSpec(
        name=str(data["name"]),
        metric=str(data["metric"]),
        direction=cast(Direction, data["direction"]),
        threshold=float(data["threshold"]),
        target=_float(data.get("target")),
        hold_runs=int(data.get("hold_runs", 1)),
        hold_for=None if hold_for is None else timedelta(seconds=float(hold_for)),
        sampled=bool(data.get("sampled", False)),
        depends_on_store=bool(data.get("depends_on_store", False)),
    )


def notification_to_json(note: Notification) -> dict[str, Any]:
    return {
        "rule": note.rule,
        "kind": note.kind,
        "observation": observation_to_json(note.observation),
        "spec": spec_to_json(note.spec),
        "firing_since": note.firing_since.isoformat(),
        "reply_to": note.reply_to,
        "silenced": note.silenced,
        "inhibited": note.inhibited,
    }


def notification_from_json(data: Mapping[str, Any]) -> Notification:
    """Raises ValueError (or KeyError, TypeError) on a malformed document."""
    kind = str(data["kind"])
    if kind not in ("firing", "repeat", "resolved"):
        raise ValueError(f"unknown notification kind {kind!r}")
    reply_to = data.get("reply_to")
    return Notification(
        rule=str(data["rule"]),
        kind=cast(NotificationKind, kind),
        observation=observation_from_json(data["observation"]),
        spec=spec_from_json(data["spec"]),
        firing_since=datetime.fromisoformat(str(data["firing_since"])),
        reply_to=None if reply_to is None else str(reply_to),
        silenced=bool(data.get("silenced", False)),
        inhibited=bool(data.get("inhibited", False)),
    )
