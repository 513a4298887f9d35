"""Alert rules: one small state machine per rule, from an observed figure to a notification.

Pure: the caller passes the observation, the current state and `now`, and receives the next
state and at most one notification to deliver. Delivery (Slack, console, an outbox that
retries) happens elsewhere; after a successful delivery the caller records it with
`mark_sent`. Alertmanager's behaviour is the bar: fire once, repeat every `repeat_interval`
while firing, send one resolved, honour silences and inhibition.

Each evaluation classifies its observation as **bad** or **good** (`None` or NaN is **missing**):

- a plain rule is bad when the value is on the wrong side of the threshold (`below`: value <
  threshold; `above`: value > threshold; a value equal to the threshold is good);
- a *sampled* rule (one estimated from a random sample, with a 95 % confidence interval) has
  hysteresis. While the rule is not firing (`ok`, `pending`), an observation is bad only when
  the whole interval is on the wrong side: for `below`, the interval's UPPER bound < threshold;
  for `above`, its LOWER bound > threshold. While it fires (`firing`, `resolving`), it is good
  only when the point estimate is back on the healthy side (`below`: point >= threshold;
  `above`: point <= threshold). A sample that cannot tell therefore neither starts nor ends an
  incident. An observation without bounds is read as an interval of zero width.

`hold_runs` (and, optionally, `hold_for`) is the flapping protection: an incident opens only
after that many consecutive bad observations and closes only after that many consecutive good
ones. A missing observation neither counts nor breaks a streak.

"Muted" below means an active `Silence` matches the rule, or the rule is inhibited (a data rule
while `store_unreachable` fires). A muted notification is still returned, marked `silenced` /
`inhibited`, so the caller can count it; it must not be sent.

State table ("held" = the streak has reached `hold_runs` and lasted `hold_for`):

| state               | observation      | next state | notification                            |
|---------------------|------------------|------------|-----------------------------------------|
| any                 | missing          | unchanged  | none                                    |
| ok                  | good             | ok         | none                                    |
| ok, pending         | bad, not held    | pending    | none                                    |
| ok, pending         | bad, held        | firing     | `firing` (muted: marked, remembered)    |
| pending             | good             | ok         | none (the flap never fired)             |
| firing, resolving   | bad, firing owed | firing     | `firing`, if no longer muted            |
| firing, resolving   | bad, repeat due  | firing     | `repeat`, if not muted                  |
| firing, resolving   | bad, otherwise   | firing     | none                                    |
| firing, resolving   | good, not held   | resolving  | none                                    |
| firing, resolving   | good, held       | ok         | one `resolved`, reply_to = message_ref  |

- *Firing owed*: the incident's `firing` went out muted. The first unmuted bad evaluation
  sends `firing` then (Alertmanager notifies once a silence expires if the alert still fires).
  An owed firing is not sent while the figure is good (`resolving`): firing then resolved at
  once would only be noise.
- *Repeat due*: `last_sent_at` is set and `now - last_sent_at >= repeat_interval`, and the
  last notification emitted, if still undelivered, is at least that old too. Repeats are
  measured from the last real delivery (`mark_sent`), never from an emission, because
  delivery may fail. A due repeat under a mute is dropped, not reported: it is exactly what
  the silence is for; repeats resume from `last_sent_at` once it ends.
- *Never delivered*: `firing` with `last_sent_at` None and nothing owed means the `firing`
  was emitted and is still in the caller's outbox: no new notification (the outbox retries
  that one), so a failing delivery never turns into a `firing` on every evaluation.
- *Resolved*: emitted muted when a mute is active, and also when the incident's `firing` was
  never emitted unmuted (marked like that firing was), so nobody receives a resolved for an
  alert they never saw. Its `reply_to` is the firing message's ref, if that was delivered.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Final, Literal

Direction = Literal["below", "above"]
AlertState = Literal["ok", "pending", "firing", "resolving"]
NotificationKind = Literal["firing", "repeat", "resolved"]
#: How an incident's firing was muted, remembered until it is sent unmuted.
Muting = Literal["silence", "inhibition"]

#: A Slack message lists at most this many example keys.
MAX_EXAMPLE_KEYS: Final = 5

_ACTIVE: Final[frozenset[AlertState]] = frozenset({"firing", "resolving"})


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """What a rule watches and when it fires. See the module docstring for `sampled`."""

    name: str
    #: The observed figure the rule reads, e.g. `dualwrite.field_accuracy`.
    metric: str
    #: `below` fires when value < threshold, `above` when value > threshold.
    direction: Direction
    threshold: float
    #: The healthy goal shown next to the threshold in messages; informative only.
    target: float | None = None
    #: Consecutive bad observations to fire, and consecutive good ones to resolve.
    hold_runs: int = 1
    #: Optionally also: the streak must have lasted this long (Prometheus `for:`).
    hold_for: timedelta | None = None
    #: Decide on the confidence interval to fire, on the point estimate to resolve.
    sampled: bool = False
    #: Inhibited while `store_unreachable` fires.
    depends_on_store: bool = False

    def __post_init__(self) -> None:
        if self.direction not in ("below", "above"):
            raise ValueError(
                f"rule {self.name!r}: direction must be 'below' or 'above', not {self.direction!r}"
            )
        if not math.isfinite(self.threshold):
            raise ValueError(f"rule {self.name!r}: threshold must be finite")
        if self.hold_runs < 1:
            raise ValueError(f"rule {self.name!r}: hold_runs must be at least 1")
        if self.hold_for is not None and self.hold_for < timedelta(0):
            raise ValueError(f"rule {self.name!r}: hold_for must not be negative")


@dataclass(frozen=True, slots=True)
class Observation:
    """One evaluation's figure for a rule, with what a message needs to explain it."""

    value: float
    #: The confidence interval of a sampled figure; None for exact figures.
    lower: float | None = None
    upper: float | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None
    #: Up to `MAX_EXAMPLE_KEYS` keys, as text; extra ones are dropped.
    example_keys: tuple[str, ...] = ()
    table: str = ""
    #: A value-free note for the message, e.g. the failed run's error type; never data.
    cause: str = ""

    def __post_init__(self) -> None:
        if self.lower is not None and self.upper is not None and self.lower > self.upper:
            raise ValueError(f"interval lower bound {self.lower} exceeds upper {self.upper}")
        if len(self.example_keys) > MAX_EXAMPLE_KEYS:
            # Frozen: the only way to normalise in place, before anyone can see the value.
            object.__setattr__(self, "example_keys", tuple(self.example_keys[:MAX_EXAMPLE_KEYS]))


@dataclass(frozen=True, slots=True)
class RuleState:
    """Where a rule stands between evaluations; persisted so it survives a restart."""

    #: pending = bad but not held yet; resolving = firing, good but not held yet.
    state: AlertState = "ok"
    breach_streak: int = 0
    healthy_streak: int = 0
    #: When the current (non-zero) streak began; what `hold_for` is measured from.
    streak_since: datetime | None = None
    #: When the current incident started firing; None outside an incident.
    firing_since: datetime | None = None
    #: Last successful delivery for this incident (`mark_sent`); repeats are measured from it.
    last_sent_at: datetime | None = None
    #: Last unmuted notification `evaluate` emitted for this incident, delivered or not.
    last_emitted_at: datetime | None = None
    #: The delivered firing message's reference (e.g. a Slack ts), for threading and updates.
    message_ref: str | None = None
    #: Set while the incident's firing went out muted only: it is owed once unmuted.
    unannounced: Muting | None = None
    last_observation: Observation | None = None

    @property
    def active(self) -> bool:
        """True while an incident is open (`firing` or `resolving`): what inhibits others."""
        return self.state in _ACTIVE


@dataclass(frozen=True, slots=True)
class Silence:
    """Mute a rule for a time. `rule` is an exact name or a glob where `*` matches anything."""

    rule: str
    starts_at: datetime
    #: Exclusive, like every window here.
    ends_at: datetime
    reason: str
    created_by: str

    def __post_init__(self) -> None:
        if not self.rule:
            raise ValueError("a silence needs a rule name or pattern")
        if self.ends_at <= self.starts_at:
            raise ValueError(f"silence of {self.rule!r} ends ({self.ends_at}) before it starts")

    def is_active(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at

    def matches(self, rule: str) -> bool:
        # Only `*` is special: rule names contain `:` and could contain `[`, unlike fnmatch's.
        pattern = ".*".join(re.escape(part) for part in self.rule.split("*"))
        return re.fullmatch(pattern, rule) is not None


@dataclass(frozen=True, slots=True)
class Notification:
    """A message to deliver, or, when muted, only to count."""

    rule: str
    kind: NotificationKind
    observation: Observation
    #: Threshold, direction and target for the message.
    spec: RuleSpec
    firing_since: datetime
    #: The firing message's ref for `repeat` / `resolved`, so Slack can thread or update it.
    reply_to: str | None
    silenced: bool = False
    inhibited: bool = False

    @property
    def muted(self) -> bool:
        """True when the caller must count this notification and not send it."""
        return self.silenced or self.inhibited


def evaluate(
    spec: RuleSpec,
    state: RuleState,
    observation: Observation | None,
    now: datetime,
    *,
    repeat_interval: timedelta,
    silences: Sequence[Silence] = (),
    inhibited: bool = False,
) -> tuple[RuleState, Notification | None]:
    """Advance one rule by one evaluation: the next state and at most one notification.

    `observation` None (or a NaN value) means the figure could not be produced this run: the
    state is returned unchanged. `inhibited` is ignored for a rule that does not depend on the
    stores, so `store_unreachable` never inhibits itself. See the module docstring's table.
    """
    if observation is None or math.isnan(observation.value):
        return state, None
    silenced = any(s.is_active(now) and s.matches(spec.name) for s in silences)
    inhibited = inhibited and spec.depends_on_store
    was_active = state.active
    bad = not _recovered(spec, observation) if was_active else _breaches(spec, observation)
    state = _count(state, bad=bad, now=now, observation=observation)

    muted = silenced or inhibited
    if not was_active:
        if not bad:
            return replace(state, state="ok"), None
        if not _held(spec, state.breach_streak, state.streak_since, now):
            return replace(state, state="pending"), None
        # A new incident: nothing of a previous one may leak into its repeats or threading.
        fired = replace(
            state,
            state="firing",
            firing_since=now,
            last_sent_at=None,
            last_emitted_at=None if muted else now,
            message_ref=None,
            unannounced=_muting(silenced=silenced, inhibited=inhibited),
        )
        return fired, _notify(
            spec, observation, "firing", fired, silenced=silenced, inhibited=inhibited
        )

    if bad:
        state = replace(state, state="firing")
        if muted:
            return state, None
        if state.unannounced is not None:
            owed = replace(state, unannounced=None, last_emitted_at=now)
            return owed, _notify(spec, observation, "firing", owed)
        if not _repeat_due(state, now, repeat_interval):
            return state, None
        return replace(state, last_emitted_at=now), _notify(spec, observation, "repeat", state)

    if not _held(spec, state.healthy_streak, state.streak_since, now):
        return replace(state, state="resolving"), None
    resolved = _notify(
        spec,
        observation,
        "resolved",
        state,
        silenced=silenced or state.unannounced == "silence",
        inhibited=inhibited or state.unannounced == "inhibition",
    )
    closed = replace(
        state,
        state="ok",
        firing_since=None,
        last_sent_at=None,
        last_emitted_at=None,
        message_ref=None,
        unannounced=None,
    )
    return closed, resolved


def mark_sent(
    state: RuleState,
    now: datetime,
    message_ref: str | None = None,
    *,
    sent: Notification | None = None,
) -> RuleState:
    """Record a successful delivery: `last_sent_at`, and `message_ref` if none is kept yet.

    Pass the delivered notification as `sent` when delivery may lag (an outbox): one that
    belongs to an earlier incident, a `resolved` or a muted one then leaves the state alone.
    Outside an open incident there is nothing to record, so the state is returned unchanged.
    """
    if not state.active:
        return state
    if sent is not None and (
        sent.muted or sent.kind == "resolved" or sent.firing_since != state.firing_since
    ):
        return state
    ref = state.message_ref if state.message_ref is not None else message_ref
    return replace(state, last_sent_at=now, message_ref=ref)


def _notify(
    spec: RuleSpec,
    observation: Observation,
    kind: NotificationKind,
    state: RuleState,
    *,
    silenced: bool = False,
    inhibited: bool = False,
) -> Notification:
    if state.firing_since is None:
        raise AssertionError(f"rule {spec.name!r}: a {kind} notification outside an incident")
    return Notification(
        rule=spec.name,
        kind=kind,
        observation=observation,
        spec=spec,
        firing_since=state.firing_since,
        reply_to=None if kind == "firing" else state.message_ref,
        silenced=silenced,
        inhibited=inhibited,
    )


def breaches(spec: RuleSpec, obs: Observation) -> bool:
    """Whether `obs` is bad enough for `spec` to open an incident (what the status page marks)."""
    return _breaches(spec, obs)


def _breaches(spec: RuleSpec, obs: Observation) -> bool:
    """Bad enough to open an incident: for sampled rules, the whole interval is bad."""
    if spec.direction == "below":
        upper = obs.upper if spec.sampled and obs.upper is not None else obs.value
        return upper < spec.threshold
    lower = obs.lower if spec.sampled and obs.lower is not None else obs.value
    return lower > spec.threshold


def _recovered(spec: RuleSpec, obs: Observation) -> bool:
    """Good enough to count towards closing an incident: the point is on the healthy side."""
    if spec.direction == "below":
        return obs.value >= spec.threshold
    return obs.value <= spec.threshold


def _count(state: RuleState, *, bad: bool, now: datetime, observation: Observation) -> RuleState:
    if bad:
        since = state.streak_since if state.breach_streak else now
        return replace(
            state,
            breach_streak=state.breach_streak + 1,
            healthy_streak=0,
            streak_since=since,
            last_observation=observation,
        )
    since = state.streak_since if state.healthy_streak else now
    return replace(
        state,
        breach_streak=0,
        healthy_streak=state.healthy_streak + 1,
        streak_since=since,
        last_observation=observation,
    )


def _held(spec: RuleSpec, streak: int, since: datetime | None, now: datetime) -> bool:
    if streak < spec.hold_runs:
        return False
    return spec.hold_for is None or (since is not None and now - since >= spec.hold_for)


def _repeat_due(state: RuleState, now: datetime, interval: timedelta) -> bool:
    if state.last_sent_at is None:
        # Never delivered: the outbox still holds the firing; a new message would duplicate it.
        return False
    if now - state.last_sent_at < interval:
        return False
    # An emission still undelivered is retried by the outbox; only one stuck for a whole
    # interval (dropped, perhaps) justifies another.
    emitted = state.last_emitted_at
    return emitted is None or emitted <= state.last_sent_at or now - emitted >= interval


def _muting(*, silenced: bool, inhibited: bool) -> Muting | None:
    # Inhibition names the root cause (a store is down), so it wins when both apply.
    if inhibited:
        return "inhibition"
    if silenced:
        return "silence"
    return None
