"""Check runs -> rule evaluations with persisted state -> notifications queued in the outbox.

`AlertEngine.observe` is the daemon's report sink, called after every check run with the report
or the error. It never talks to Slack: it decides, in one transaction, what each rule the run
informs now says (`monitor.core.rules.evaluate`), saves the states and queues what must be sent;
the outbox delivers in the background. A Slack outage therefore cannot slow or break a check.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from monitor.checks.registry import RULE_FIGURES
from monitor.core.alertmap import Figure, run_observations
from monitor.core.rules import Notification, RuleSpec, RuleState, evaluate
from monitor.core.ruleset import STORE_UNREACHABLE
from monitor.errors import MonitorError, StoreUnavailable, describe_error, first_monitor_error
from monitor.model import CheckReport
from monitor.stores.alert_state import AlertStore

log = logging.getLogger(__name__)

Outcome = Literal["queued", "silenced", "inhibited"]
#: (rule, notification kind, outcome): what `AlertEngine.counts` counts.
AlertCount = tuple[str, str, Outcome]


def utc_now() -> datetime:
    return datetime.now(UTC)


def counter_state(note: Notification) -> Literal["firing", "resolved"] | None:
    """The `state` of `dualwrite.alerts` for a notification; None for a repeat (not a new alert).

    Muted notifications count too: a silence mutes delivery, not the record of what happened.
    """
    if note.kind == "repeat":
        return None
    return "resolved" if note.kind == "resolved" else "firing"


def store_unreachable(error: BaseException | None, finished: bool) -> bool | None:
    """True: a store could not be reached; False: the run reached both; None: cannot tell."""
    if error is None:
        return False if finished else None
    return True if isinstance(first_monitor_error(error), StoreUnavailable) else None


class AlertEngine:
    """Evaluates the rules after every check run; state lives in the monitor's schema."""

    def __init__(
        self,
        store: AlertStore,
        rules: Sequence[RuleSpec],
        *,
        repeat_interval: timedelta,
        table: str,
        clock: Callable[[], datetime] = utc_now,
        on_queued: Callable[[], None] | None = None,
        figures: Mapping[str, Figure[Any]] = RULE_FIGURES,
    ) -> None:
        names = [rule.name for rule in rules]
        if len(set(names)) != len(names):
            raise ValueError(f"rule names must be unique: {names}")
        # The inhibitor first, so the other rules see its state from this very run.
        self._rules = sorted(rules, key=lambda rule: rule.name != STORE_UNREACHABLE)
        self._store = store
        self._repeat = repeat_interval
        self._table = table
        self._clock = clock
        self._on_queued = on_queued
        self._figures = figures
        self._listeners: list[Callable[[Notification], None]] = []
        #: Every notification emitted, by outcome (silences are counted, not sent); a muted
        #: firing later sent unmuted appears twice here, once per outcome.
        self.counts: Counter[AlertCount] = Counter()

    @property
    def rules(self) -> tuple[RuleSpec, ...]:
        return tuple(self._rules)

    def add_listener(self, listener: Callable[[Notification], None]) -> None:
        """Called once per alert event, after it is committed: an incident's firing (muted or
        not), each repeat, its resolved. A firing that was muted and is sent once the mute ends
        is the same event and is not reported again.

        For the `dualwrite.alerts` counter, `counter_state(note)` gives its `state` label.
        """
        self._listeners.append(listener)

    async def observe(
        self, check_name: str, report: CheckReport | None, error: BaseException | None
    ) -> None:
        """The daemon's report sink. A PostgreSQL problem is logged, never raised to the check."""
        try:
            await self.evaluate_run(check_name, report, error)
        except MonitorError as exc:
            log.warning("alert rules not evaluated after %s: %s", check_name, exc)

    async def evaluate_run(
        self,
        check_name: str,
        report: CheckReport | None,
        error: BaseException | None,
        *,
        now: datetime | None = None,
    ) -> list[Notification]:
        """Evaluate what this run informs; return every notification emitted (muted too)."""
        if report is None and error is None:
            return []
        now = self._clock() if now is None else now
        notes: list[Notification] = []
        #: A firing sent late for an incident already counted while muted is not a new alert.
        owed: set[int] = set()
        queued = 0
        async with self._store.evaluation() as tx:
            failures = await tx.count_failure(check_name, failed=error is not None, now=now)
            observations = run_observations(
                check_name,
                report,
                failures=failures,
                unreachable=store_unreachable(error, finished=report is not None),
                table=self._table,
                figures=self._figures,
                cause="" if error is None else describe_error(error, message=False),
            )
            rules = [rule for rule in self._rules if rule.name in observations]
            if not rules:
                return []
            states = await tx.states([STORE_UNREACHABLE, *(rule.name for rule in rules)])
            silences = await tx.active_silences(now)
            for spec in rules:
                before = states.get(spec.name, RuleState())
                inhibited = states.get(STORE_UNREACHABLE, RuleState()).active
                after, note = evaluate(
                    spec,
                    before,
                    observations[spec.name],
                    now,
                    repeat_interval=self._repeat,
                    silences=silences,
                    inhibited=inhibited,
                )
                states[spec.name] = after
                if after != before:
                    await tx.save_state(spec.name, after, now)
                if note is None:
                    continue
                if note.kind == "firing" and before.active:
                    owed.add(len(notes))
                notes.append(note)
                if not note.muted:
                    await tx.enqueue(note, now)
                    queued += 1
        for index, note in enumerate(notes):
            outcome: Outcome = (
                "inhibited" if note.inhibited else "silenced" if note.silenced else "queued"
            )
            self.counts[(note.rule, note.kind, outcome)] += 1
            log.info("alert %s %s (%s)", note.rule, note.kind, outcome)
            if index in owed:
                continue
            for listener in self._listeners:
                listener(note)
        if queued and self._on_queued is not None:
            self._on_queued()
        return notes
