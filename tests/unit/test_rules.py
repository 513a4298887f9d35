"""The alert rule engine: one example per edge of the state table, then random histories."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.core.rules import (
    MAX_EXAMPLE_KEYS,
    Notification,
    Observation,
    RuleSpec,
    RuleState,
    Silence,
    evaluate,
    mark_sent,
)
from monitor.core.ruleset import CHECK_FAILURES_METRIC, STORE_UNREACHABLE, rules_from_thresholds

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
REPEAT = timedelta(hours=4)

SPEC = RuleSpec(
    name="write_success_rate",
    metric="dualwrite.write_success",
    direction="below",
    threshold=0.999,
    target=0.9995,
    depends_on_store=True,
)
BAD = Observation(0.95, table="integration_logs", example_keys=("1", "2"))
GOOD = Observation(0.9999, table="integration_logs")

CONTRACT_THRESHOLDS = {
    "data_consistency": {"target": 99.9, "alert_below": 99.5},
    "write_success_rate": {"target": 99.95, "alert_below": 99.9},
    "orphaned_records": {"target": 0.01, "alert_above": 0.1},
    "field_accuracy": {"target": 99.99, "alert_below": 99.9},
    "transaction_completion": {"target": 99.9, "alert_below": 99.5},
}


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def silence(rule: str = "write_success_rate", start: float = 0, end: float = 60) -> Silence:
    return Silence(rule, at(start), at(end), reason="maintenance", created_by="oncall")


def step(
    state: RuleState,
    obs: Observation | None,
    minutes: float,
    *,
    spec: RuleSpec = SPEC,
    silences: tuple[Silence, ...] = (),
    inhibited: bool = False,
) -> tuple[RuleState, Notification | None]:
    return evaluate(
        spec,
        state,
        obs,
        at(minutes),
        repeat_interval=REPEAT,
        silences=silences,
        inhibited=inhibited,
    )


def firing_state(minutes: float = 0, *, delivered: bool = True) -> RuleState:
    """A rule that fired at `minutes` and, if `delivered`, whose firing was sent then."""
    state, note = step(RuleState(), BAD, minutes)
    assert note is not None and note.kind == "firing"
    return mark_sent(state, at(minutes), "ts-1", sent=note) if delivered else state


# --- the state table, edge by edge ------------------------------------------------------


@pytest.mark.parametrize("hold", [1, 3])
@pytest.mark.parametrize("missing", [None, Observation(math.nan)])
def test_missing_observation_changes_nothing_in_any_state(
    hold: int, missing: Observation | None
) -> None:
    spec = replace(SPEC, hold_runs=hold)
    pending, _ = step(RuleState(), BAD, 0, spec=spec)
    states = [RuleState(), pending, firing_state(), replace(firing_state(), state="resolving")]
    for state in states:
        assert step(state, missing, 600, spec=spec) == (state, None)


def test_ok_and_good_stays_ok() -> None:
    state, note = step(RuleState(), GOOD, 0)
    assert (state.state, note) == ("ok", None)
    assert state.healthy_streak == 1
    assert state.last_observation == GOOD


def test_ok_to_pending_to_firing_after_hold_runs() -> None:
    spec = replace(SPEC, hold_runs=3)
    state, note = step(RuleState(), BAD, 0, spec=spec)
    assert (state.state, note) == ("pending", None)
    state, note = step(state, BAD, 5, spec=spec)
    assert (state.state, note) == ("pending", None)
    state, note = step(state, BAD, 10, spec=spec)
    assert state.state == "firing"
    assert state.firing_since == at(10)
    assert note == Notification(
        rule="write_success_rate",
        kind="firing",
        observation=BAD,
        spec=spec,
        firing_since=at(10),
        reply_to=None,
    )


def test_ok_fires_at_once_with_hold_runs_one() -> None:
    state, note = step(RuleState(), BAD, 0)
    assert state.state == "firing"
    assert note is not None and note.kind == "firing" and not note.muted


def test_pending_then_good_returns_to_ok_silently() -> None:
    spec = replace(SPEC, hold_runs=2)
    state, _ = step(RuleState(), BAD, 0, spec=spec)
    state, note = step(state, GOOD, 5, spec=spec)
    assert (state.state, note, state.breach_streak) == ("ok", None, 0)


def test_a_missing_run_neither_counts_nor_breaks_a_streak() -> None:
    spec = replace(SPEC, hold_runs=2)
    state, _ = step(RuleState(), BAD, 0, spec=spec)
    state, _ = step(state, None, 5, spec=spec)
    assert state.breach_streak == 1
    state, note = step(state, BAD, 10, spec=spec)
    assert state.state == "firing" and note is not None


def test_flap_shorter_than_hold_runs_never_fires() -> None:
    spec = replace(SPEC, hold_runs=3)
    state = RuleState()
    for minute, obs in enumerate([BAD, BAD, GOOD, BAD, BAD, GOOD, BAD, GOOD] * 3):
        state, note = step(state, obs, minute * 5, spec=spec)
        assert note is None
        assert state.state in ("ok", "pending")


def test_firing_and_still_bad_repeats_only_after_repeat_interval() -> None:
    state = firing_state(0)
    state, note = step(state, BAD, 60)
    assert note is None
    state, note = step(state, BAD, 239)
    assert note is None
    state, note = step(state, BAD, 240)
    assert note is not None
    assert (note.kind, note.reply_to, note.firing_since) == ("repeat", "ts-1", at(0))
    assert state.state == "firing"


def test_repeats_are_measured_from_the_last_delivery_not_the_emission() -> None:
    state, note = step(RuleState(), BAD, 0)
    # The firing sat in the outbox for an hour before Slack took it.
    state = mark_sent(state, at(60), "ts-1", sent=note)
    state, note = step(state, BAD, 250)
    assert note is None
    state, note = step(state, BAD, 300)
    assert note is not None and note.kind == "repeat"


def test_an_undelivered_firing_is_not_emitted_again() -> None:
    state = firing_state(0, delivered=False)
    for minute in range(5, 24 * 60, 5):
        state, note = step(state, BAD, minute)
        assert note is None
    assert state.state == "firing"


def test_an_undelivered_repeat_is_not_emitted_on_every_evaluation() -> None:
    state = firing_state(0)
    state, note = step(state, BAD, 240)
    assert note is not None and note.kind == "repeat"
    # Slack is down: nothing is marked sent.
    for minute in range(245, 480, 5):
        state, note = step(state, BAD, minute)
        assert note is None
    # Stuck for a whole interval: perhaps dropped, so one more is due.
    state, note = step(state, BAD, 480)
    assert note is not None and note.kind == "repeat"


def test_firing_then_good_resolves_once_with_reply_to() -> None:
    state = firing_state(0)
    state, note = step(state, GOOD, 5)
    assert state.state == "ok"
    assert note is not None
    assert (note.kind, note.reply_to, note.firing_since) == ("resolved", "ts-1", at(0))
    assert note.observation == GOOD and not note.muted
    assert (state.firing_since, state.message_ref, state.last_sent_at) == (None, None, None)
    state, note = step(state, GOOD, 10)
    assert (state.state, note) == ("ok", None)


def test_firing_then_good_passes_through_resolving_with_hold_runs() -> None:
    spec = replace(SPEC, hold_runs=2)
    state, _ = step(RuleState(), BAD, 0, spec=spec)
    state, note = step(state, BAD, 5, spec=spec)
    assert note is not None
    state = mark_sent(state, at(5), "ts-1", sent=note)
    state, note = step(state, GOOD, 10, spec=spec)
    assert (state.state, note) == ("resolving", None)
    state, note = step(state, GOOD, 15, spec=spec)
    assert state.state == "ok"
    assert note is not None and (note.kind, note.reply_to) == ("resolved", "ts-1")


def test_resolving_then_bad_goes_back_to_firing_without_a_new_firing() -> None:
    spec = replace(SPEC, hold_runs=2)
    state, _ = step(RuleState(), BAD, 0, spec=spec)
    state, note = step(state, BAD, 5, spec=spec)
    state = mark_sent(state, at(5), "ts-1", sent=note)
    state, _ = step(state, GOOD, 10, spec=spec)
    state, note = step(state, BAD, 15, spec=spec)
    assert (state.state, note, state.healthy_streak) == ("firing", None, 0)
    assert state.firing_since == at(5)


def test_resolving_then_bad_repeats_when_due() -> None:
    spec = replace(SPEC, hold_runs=2)
    state, _ = step(RuleState(), BAD, 0, spec=spec)
    state, note = step(state, BAD, 5, spec=spec)
    state = mark_sent(state, at(5), "ts-1", sent=note)
    state, _ = step(state, GOOD, 200, spec=spec)
    state, note = step(state, BAD, 245, spec=spec)
    assert state.state == "firing"
    assert note is not None and note.kind == "repeat"


def test_a_new_incident_starts_clean() -> None:
    state = firing_state(0)
    state, _ = step(state, GOOD, 5)
    state, note = step(state, BAD, 10)
    assert note is not None and (note.kind, note.reply_to, note.firing_since) == (
        "firing",
        None,
        at(10),
    )
    assert (state.last_sent_at, state.message_ref) == (None, None)


def test_a_resolved_for_a_firing_still_in_the_outbox_has_no_reply_to() -> None:
    state = firing_state(0, delivered=False)
    state, note = step(state, GOOD, 5)
    assert note is not None and (note.kind, note.reply_to, note.muted) == ("resolved", None, False)


# --- silences and inhibition ------------------------------------------------------------


def test_silenced_firing_is_marked_and_sent_when_the_silence_ends() -> None:
    quiet = (silence(end=60),)
    state, note = step(RuleState(), BAD, 0, silences=quiet)
    assert note is not None and (note.kind, note.silenced, note.inhibited) == (
        "firing",
        True,
        False,
    )
    assert state.state == "firing" and state.unannounced == "silence"
    state, note = step(state, BAD, 30, silences=quiet)
    assert note is None
    state, note = step(state, BAD, 60, silences=quiet)  # ends_at is exclusive
    assert note is not None
    assert (note.kind, note.muted, note.firing_since) == ("firing", False, at(0))
    assert state.unannounced is None
    # Emitted once: the outbox owns it now.
    state, note = step(state, BAD, 65, silences=quiet)
    assert note is None


def test_owed_firing_is_not_sent_while_the_figure_is_good() -> None:
    spec = replace(SPEC, hold_runs=2)
    quiet = (silence(end=10),)
    state, _ = step(RuleState(), BAD, 0, spec=spec, silences=quiet)
    state, note = step(state, BAD, 5, spec=spec, silences=quiet)
    assert note is not None and note.silenced
    state, note = step(state, GOOD, 15, spec=spec, silences=quiet)
    assert (state.state, note) == ("resolving", None)
    # Never announced: its resolved is marked the way its firing was, though the silence ended.
    state, note = step(state, GOOD, 20, spec=spec, silences=quiet)
    assert state.state == "ok"
    assert note is not None and (note.kind, note.silenced, note.reply_to) == (
        "resolved",
        True,
        None,
    )


def test_resolved_under_a_silence_is_marked_silenced() -> None:
    state = firing_state(0)
    state, note = step(state, GOOD, 30, silences=(silence(start=10),))
    assert state.state == "ok"
    assert note is not None and (note.kind, note.silenced, note.reply_to) == (
        "resolved",
        True,
        "ts-1",
    )


def test_repeats_are_dropped_under_a_silence_and_resume_after_it() -> None:
    state = firing_state(0)
    quiet = (silence(start=200, end=300),)
    state, note = step(state, BAD, 250, silences=quiet)
    assert note is None
    state, note = step(state, BAD, 300, silences=quiet)
    assert note is not None and (note.kind, note.muted) == ("repeat", False)


def test_an_expired_or_future_or_other_silence_does_not_mute() -> None:
    others = (
        silence(start=0, end=10),
        silence(start=100, end=200),
        silence(rule="count_variance", start=0, end=200),
    )
    _, note = step(RuleState(), BAD, 50, silences=others)
    assert note is not None and not note.muted


def test_inhibited_is_marked_apart_from_silenced() -> None:
    state, note = step(RuleState(), BAD, 0, inhibited=True)
    assert note is not None and (note.kind, note.silenced, note.inhibited) == (
        "firing",
        False,
        True,
    )
    assert state.unannounced == "inhibition"
    state, note = step(state, BAD, 5, inhibited=True)
    assert note is None
    state, note = step(state, BAD, 10)
    assert note is not None and (note.kind, note.muted) == ("firing", False)


def test_silenced_and_inhibited_marks_both() -> None:
    state, note = step(RuleState(), BAD, 0, silences=(silence(),), inhibited=True)
    assert note is not None and note.silenced and note.inhibited
    state, note = step(state, GOOD, 100)
    assert note is not None and note.kind == "resolved" and note.inhibited


def test_inhibition_is_ignored_for_rules_that_do_not_depend_on_the_stores() -> None:
    spec = RuleSpec(STORE_UNREACHABLE, "dualwrite.store_unreachable", "above", 0.5)
    _, note = step(RuleState(), Observation(1.0), 0, spec=spec, inhibited=True)
    assert note is not None and not note.muted


@pytest.mark.parametrize(
    ("pattern", "rule", "matches"),
    [
        ("field_accuracy", "field_accuracy", True),
        ("field_accuracy", "field_accuracy2", False),
        ("check_failed:*", "check_failed:counts", True),
        ("check_failed:*", "count_variance", False),
        ("*", "anything", True),
        ("*accuracy", "field_accuracy", True),
        ("field_[a]ccuracy", "field_accuracy", False),
        ("check_failed:?", "check_failed:x", False),
    ],
)
def test_silence_matches_exact_names_and_star_globs(pattern: str, rule: str, matches: bool) -> None:
    assert silence(rule=pattern).matches(rule) is matches


def test_silence_is_active_on_a_half_open_range() -> None:
    s = silence(start=10, end=20)
    assert [s.is_active(at(m)) for m in (9, 10, 19, 20)] == [False, True, True, False]


def test_silence_must_end_after_it_starts_and_name_a_rule() -> None:
    with pytest.raises(ValueError, match="ends"):
        silence(start=10, end=10)
    with pytest.raises(ValueError, match="rule"):
        silence(rule="")


# --- mark_sent --------------------------------------------------------------------------


def test_mark_sent_keeps_the_first_message_ref() -> None:
    state = firing_state(0)
    assert (state.last_sent_at, state.message_ref) == (at(0), "ts-1")
    state = mark_sent(state, at(240), "ts-2")
    assert (state.last_sent_at, state.message_ref) == (at(240), "ts-1")


def test_mark_sent_ignores_stale_resolved_and_muted_deliveries() -> None:
    old, old_note = step(RuleState(), BAD, 0)
    closed, resolved = step(old, GOOD, 5)
    assert old_note is not None and resolved is not None
    assert mark_sent(closed, at(6), "ts-r", sent=resolved) == closed
    new, _ = step(closed, BAD, 10)
    # The previous incident's messages arrive late: not this incident's delivery.
    assert mark_sent(new, at(11), "ts-old", sent=old_note) == new
    assert mark_sent(new, at(11), "ts-old", sent=resolved) == new
    muted, muted_note = step(RuleState(), BAD, 0, silences=(silence(),))
    assert muted_note is not None
    assert mark_sent(muted, at(1), "ts", sent=muted_note) == muted


def test_mark_sent_outside_an_incident_changes_nothing() -> None:
    assert mark_sent(RuleState(), at(0), "ts") == RuleState()


# --- sampled rules ----------------------------------------------------------------------

ACCURACY = RuleSpec(
    "field_accuracy", "dualwrite.field_accuracy", "below", 0.999, 0.9999, sampled=True
)
ORPHANS = RuleSpec("orphaned_records", "dualwrite.orphan_ratio", "above", 0.001, sampled=True)


def test_sampled_below_fires_only_when_the_upper_bound_is_below() -> None:
    unsure = Observation(0.99, lower=0.98, upper=0.9995)
    state, note = step(RuleState(), unsure, 0, spec=ACCURACY)
    assert (state.state, note) == ("ok", None)
    sure = Observation(0.99, lower=0.98, upper=0.995)
    state, note = step(state, sure, 5, spec=ACCURACY)
    assert state.state == "firing" and note is not None


def test_sampled_below_stays_firing_until_the_point_is_back() -> None:
    state, _ = step(RuleState(), Observation(0.99, lower=0.98, upper=0.995), 0, spec=ACCURACY)
    state, note = step(state, Observation(0.998, lower=0.99, upper=0.9999), 5, spec=ACCURACY)
    assert (state.state, note) == ("firing", None)
    state, note = step(state, Observation(0.999, lower=0.99, upper=0.9999), 10, spec=ACCURACY)
    assert state.state == "ok" and note is not None and note.kind == "resolved"


def test_sampled_above_uses_the_lower_bound_to_fire_and_the_point_to_resolve() -> None:
    state, note = step(RuleState(), Observation(0.01, lower=0.0005, upper=0.02), 0, spec=ORPHANS)
    assert (state.state, note) == ("ok", None)
    state, note = step(state, Observation(0.01, lower=0.002, upper=0.02), 5, spec=ORPHANS)
    assert state.state == "firing"
    state, note = step(state, Observation(0.0015, lower=0.0, upper=0.01), 10, spec=ORPHANS)
    assert (state.state, note) == ("firing", None)
    state, note = step(state, Observation(0.001, lower=0.0, upper=0.01), 15, spec=ORPHANS)
    assert state.state == "ok" and note is not None


def test_sampled_without_bounds_uses_the_point() -> None:
    state, note = step(RuleState(), Observation(0.99), 0, spec=ACCURACY)
    assert state.state == "firing" and note is not None


def test_a_value_equal_to_the_threshold_is_healthy() -> None:
    above = RuleSpec("count_variance", "dualwrite.count_variance", "above", 0.001)
    for spec, value in ((SPEC, SPEC.threshold), (above, 0.001)):
        state, note = step(RuleState(), Observation(value), 0, spec=spec)
        assert (state.state, note) == ("ok", None)


# --- hold_for ---------------------------------------------------------------------------


def test_hold_for_needs_the_streak_to_last() -> None:
    spec = replace(SPEC, hold_for=timedelta(minutes=10))
    state, note = step(RuleState(), BAD, 0, spec=spec)
    assert (state.state, note) == ("pending", None)
    state, note = step(state, BAD, 5, spec=spec)
    assert (state.state, note) == ("pending", None)
    state, note = step(state, BAD, 10, spec=spec)
    assert state.state == "firing" and note is not None
    state, note = step(state, GOOD, 15, spec=spec)
    assert (state.state, note) == ("resolving", None)
    state, note = step(state, BAD, 20, spec=spec)
    state, note = step(state, GOOD, 25, spec=spec)
    state, note = step(state, GOOD, 30, spec=spec)
    assert (state.state, note) == ("resolving", None)
    state, note = step(state, GOOD, 35, spec=spec)
    assert state.state == "ok" and note is not None and note.kind == "resolved"


# --- values -----------------------------------------------------------------------------


def test_observation_keeps_at_most_five_example_keys() -> None:
    obs = Observation(0.5, example_keys=tuple(str(k) for k in range(9)))
    assert obs.example_keys == ("0", "1", "2", "3", "4")
    assert len(obs.example_keys) == MAX_EXAMPLE_KEYS


def test_observation_rejects_an_inverted_interval() -> None:
    with pytest.raises(ValueError, match="exceeds"):
        Observation(0.5, lower=0.6, upper=0.4)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"direction": "under"}, "direction"),
        ({"threshold": math.inf}, "finite"),
        ({"hold_runs": 0}, "hold_runs"),
        ({"hold_for": timedelta(seconds=-1)}, "hold_for"),
    ],
)
def test_rule_spec_rejects_nonsense(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        replace(SPEC, **changes)  # type: ignore[arg-type]


# --- rules_from_thresholds --------------------------------------------------------------


def test_rules_from_the_contract_defaults() -> None:
    rules = rules_from_thresholds(
        CONTRACT_THRESHOLDS,
        count_threshold_percent=0.1,
        failure_runs=3,
        checks=["orphans", "counts", "sample", "quality"],
    )
    by_name = {rule.name: rule for rule in rules}
    assert [rule.name for rule in rules] == [
        "store_unreachable",
        "data_consistency",
        "write_success_rate",
        "orphaned_records",
        "field_accuracy",
        "transaction_completion",
        "count_variance",
        "check_failed:orphans",
        "check_failed:counts",
        "check_failed:sample",
        "check_failed:quality",
    ]
    accuracy = by_name["field_accuracy"]
    assert (accuracy.direction, accuracy.metric, accuracy.sampled) == (
        "below",
        "dualwrite.field_accuracy",
        True,
    )
    assert accuracy.threshold == pytest.approx(0.999)
    assert accuracy.target == pytest.approx(0.9999)
    orphans = by_name["orphaned_records"]
    assert (orphans.direction, orphans.metric) == ("above", "dualwrite.orphan_ratio")
    assert orphans.threshold == pytest.approx(0.001)
    assert by_name["count_variance"].threshold == pytest.approx(0.001)
    assert [r.name for r in rules if r.sampled] == ["field_accuracy"]
    # Everything but the inhibitor itself is held back while a store is unreachable.
    assert {r.name for r in rules if r.depends_on_store} == set(by_name) - {STORE_UNREACHABLE}
    failed = by_name["check_failed:counts"]
    assert (failed.metric, failed.direction, failed.threshold) == (
        CHECK_FAILURES_METRIC,
        "above",
        2.5,
    )


def test_check_failed_fires_at_the_nth_failure_and_store_unreachable_at_one() -> None:
    rules = rules_from_thresholds({}, count_threshold_percent=0.1, failure_runs=3, checks=["x"])
    by_name = {rule.name: rule for rule in rules}
    state, note = step(RuleState(), Observation(2), 0, spec=by_name["check_failed:x"])
    assert note is None
    state, note = step(state, Observation(3), 5, spec=by_name["check_failed:x"])
    assert note is not None and note.kind == "firing"
    state, note = step(state, Observation(0), 10, spec=by_name["check_failed:x"])
    assert note is not None and note.kind == "resolved"
    _, note = step(RuleState(), Observation(1), 0, spec=by_name[STORE_UNREACHABLE])
    assert note is not None and note.kind == "firing"


def test_rules_from_thresholds_dedupes_checks_and_applies_hold_runs_to_data_rules() -> None:
    rules = rules_from_thresholds(
        {"data_consistency": {"alert_below": 99.5}},
        count_threshold_percent=1,
        failure_runs=1,
        checks=["counts", "counts"],
        hold_runs=2,
    )
    assert [(r.name, r.hold_runs) for r in rules] == [
        ("store_unreachable", 2),
        ("data_consistency", 2),
        ("count_variance", 2),
        ("check_failed:counts", 1),
    ]
    assert rules[1].target is None


@pytest.mark.parametrize(
    ("thresholds", "message"),
    [
        ({"latency": {"alert_above": 1.0}}, r"alerts\.thresholds\.latency: unknown rule"),
        ({"field_accuracy": {"target": 99.0}}, "exactly one"),
        ({"field_accuracy": {"alert_below": 99.0, "alert_above": 1.0}}, "exactly one"),
        ({"field_accuracy": {"alert_below": 99.0, "warn": 1.0}}, "unknown key 'warn'"),
        ({"field_accuracy": {"alert_below": 199.0}}, r"field_accuracy\.alert_below"),
        ({"field_accuracy": {"alert_below": 99.0, "target": -1.0}}, r"field_accuracy\.target"),
    ],
)
def test_rules_from_thresholds_names_the_bad_key(
    thresholds: dict[str, dict[str, float]], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        rules_from_thresholds(thresholds, count_threshold_percent=0.1, failure_runs=3, checks=[])


def test_rules_from_thresholds_rejects_bad_counts_and_failure_runs() -> None:
    with pytest.raises(ValueError, match="failure_runs"):
        rules_from_thresholds({}, count_threshold_percent=0.1, failure_runs=0, checks=[])
    with pytest.raises(ValueError, match="threshold_percent"):
        rules_from_thresholds({}, count_threshold_percent=math.nan, failure_runs=1, checks=[])


# --- random histories -------------------------------------------------------------------


@dataclass
class Incident:
    started: datetime
    emitted: list[Notification] = field(default_factory=list)
    #: (delivery time, notification) for every delivered firing / repeat.
    delivered: list[tuple[datetime, Notification]] = field(default_factory=list)
    first_ref: str | None = None
    closed: bool = False


steps = st.lists(
    st.tuples(
        st.sampled_from(["bad", "good", "missing"]),
        st.sampled_from([None, None, "write_success_rate", "write_*", "*"]),  # silence
        st.booleans() | st.just(False),  # inhibited (False twice as often)
        st.integers(min_value=1, max_value=300),  # minutes to the next evaluation
        st.booleans() | st.just(True),  # delivery succeeds this step
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(
    history=steps,
    hold=st.integers(min_value=1, max_value=3),
    repeat_minutes=st.sampled_from([30, 60, 240]),
)
def test_random_histories_keep_the_invariants(
    history: list[tuple[str, str | None, bool, int, bool]], hold: int, repeat_minutes: int
) -> None:
    spec = replace(SPEC, hold_runs=hold)
    repeat = timedelta(minutes=repeat_minutes)
    observations = {"bad": BAD, "good": GOOD, "missing": None}
    state = RuleState()
    outbox: list[tuple[datetime, Notification]] = []  # (emitted at, notification)
    incidents: dict[datetime, Incident] = {}
    current: Incident | None = None
    bad_run = good_run = 0
    now = T0
    for kind, pattern, inhibited, minutes, delivery_works in history:
        now += timedelta(minutes=minutes)
        silences = [Silence("count_variance", T0, now + MIN, "other rule", "test")]
        if pattern is not None:
            silences.append(Silence(pattern, now - MIN, now + MIN, "test", "test"))
        if kind == "bad":
            bad_run, good_run = bad_run + 1, 0
        elif kind == "good":
            bad_run, good_run = 0, good_run + 1
        before = state
        state, note = evaluate(
            spec,
            state,
            observations[kind],
            now,
            repeat_interval=repeat,
            silences=silences,
            inhibited=inhibited,
        )
        if kind == "missing":
            assert (state, note) == (before, None)
        if not before.active and state.active:
            # A flap shorter than hold_runs never fires.
            assert bad_run >= hold
            current = incidents[now] = Incident(started=now)
        if note is not None:
            assert current is not None, "a notification outside an incident"
            assert note.firing_since == current.started
            if pattern is not None:
                assert note.silenced, "an unsilenced notification under an active silence"
            if inhibited:
                assert note.inhibited
            # Threads under the firing message once its delivery is known, never another's.
            assert note.reply_to == (None if note.kind == "firing" else current.first_ref)
            current.emitted.append(note)
            if not note.muted:
                if note.kind == "repeat":
                    # A failing delivery is retried, not re-emitted on every evaluation.
                    assert all(now - queued_at >= repeat for queued_at, _ in outbox)
                    # The outbox replaces a repeat still waiting with the newer one.
                    outbox = [(t, n) for t, n in outbox if n.kind != "repeat"]
                outbox.append((now, note))
        if before.active and not state.active:
            assert good_run >= hold
            assert current is not None and note is not None and note.kind == "resolved"
            current.closed = True
            current = None
        elif note is not None:
            assert note.kind != "resolved"
        if state.state == "firing" and kind == "bad" and pattern is None and not inhibited:
            # Once unmuted and still bad, the incident has been announced.
            assert current is not None
            assert any(n.kind == "firing" and not n.muted for n in current.emitted)
        if delivery_works:
            for _, sent in outbox:
                incident = incidents[sent.firing_since]
                ref = f"ts-{now.isoformat()}"
                if sent.kind != "resolved":
                    incident.delivered.append((now, sent))
                    if incident.first_ref is None:
                        incident.first_ref = ref
                state = mark_sent(state, now, ref, sent=sent)
            outbox.clear()

    for incident in incidents.values():
        kinds = [(n.kind, n.muted) for n in incident.emitted]
        assert kinds[0][0] == "firing", "the first notification of an incident is its firing"
        assert kinds.count(("firing", True)) <= 1
        assert kinds.count(("firing", False)) <= 1
        resolved = [muted for kind, muted in kinds if kind == "resolved"]
        assert len(resolved) == (1 if incident.closed else 0)
        if resolved:
            assert kinds[-1][0] == "resolved"
            # Nobody receives a resolved for an alert they were never shown.
            if not resolved[0]:
                assert ("firing", False) in kinds
        unmuted = [kind for kind, muted in kinds if not muted]
        if "repeat" in unmuted:
            assert unmuted.index("firing") < unmuted.index("repeat")
        for (previous, _), (sent_at, sent) in zip(
            incident.delivered, incident.delivered[1:], strict=False
        ):
            assert sent.kind == "repeat"
            assert sent_at - previous >= repeat


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(min_value=0.98, max_value=1.0),
            st.floats(min_value=0.0, max_value=0.01),
        ),
        max_size=40,
    )
)
def test_sampled_rules_fire_on_the_interval_and_resolve_on_the_point(
    samples: list[tuple[float, float]],
) -> None:
    state = RuleState()
    for minute, (point, half_width) in enumerate(samples):
        obs = Observation(
            point, lower=max(0.0, point - half_width), upper=min(1, point + half_width)
        )
        before = state
        state, _ = step(state, obs, minute * 5, spec=ACCURACY)
        assert obs.upper is not None
        if not before.active:
            assert state.active == (obs.upper < ACCURACY.threshold)
        else:
            assert state.active == (obs.value < ACCURACY.threshold)
