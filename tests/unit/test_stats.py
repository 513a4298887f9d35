from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binomtest

from monitor.core.stats import (
    Interval,
    interval_or_none,
    ratio,
    ratio_or_none,
    samples_needed,
    wilson_interval,
)

Z95_SQUARED = 1.959963984540054**2


@st.composite
def counts(draw: st.DrawFn, max_trials: int = 1_000_000) -> tuple[int, int]:
    trials = draw(st.integers(min_value=1, max_value=max_trials))
    successes = draw(st.integers(min_value=0, max_value=trials))
    return successes, trials


confidences = st.floats(min_value=0.5, max_value=0.999)


# --- known values -------------------------------------------------------------------


def test_no_failures_in_1000_cannot_show_four_nines() -> None:
    # SEED-REVIEW #10: the 95 % upper bound on the error rate is about 0.38 %.
    interval = wilson_interval(1000, 1000)
    assert interval.point == 1.0
    assert interval.upper == 1.0
    assert interval.lower == pytest.approx(0.996173, abs=1e-6)
    assert 1 - interval.lower == pytest.approx(0.0038, abs=1e-4)
    assert interval.lower < 0.9999


def test_all_failures_has_zero_lower_bound() -> None:
    interval = wilson_interval(0, 10)
    assert (interval.point, interval.lower) == (0.0, 0.0)
    assert interval.upper == pytest.approx(Z95_SQUARED / (10 + Z95_SQUARED))


def test_interior_value_matches_the_textbook() -> None:
    # Newcombe (1998), example: 81 of 263 -> 0.2553 to 0.3662 at 95 %.
    interval = wilson_interval(81, 263)
    assert interval.point == pytest.approx(81 / 263)
    assert interval.lower == pytest.approx(0.2553, abs=1e-4)
    assert interval.upper == pytest.approx(0.3662, abs=1e-4)


def test_interval_is_a_frozen_value() -> None:
    interval = wilson_interval(3, 4)
    assert interval == Interval(point=0.75, lower=interval.lower, upper=interval.upper)
    with pytest.raises(dataclasses.FrozenInstanceError):
        interval.point = 0.5  # type: ignore[misc]


def test_higher_confidence_is_wider() -> None:
    narrow = wilson_interval(90, 100, confidence=0.90)
    wide = wilson_interval(90, 100, confidence=0.99)
    assert wide.lower < narrow.lower < narrow.upper < wide.upper


@pytest.mark.parametrize(
    ("successes", "trials", "confidence", "message"),
    [
        (0, 0, 0.95, "trials must be positive"),
        (0, -1, 0.95, "trials must be positive"),
        (-1, 10, 0.95, "successes must be between"),
        (11, 10, 0.95, "successes must be between"),
        (5, 10, 0.0, "confidence"),
        (5, 10, 1.0, "confidence"),
        (5, 10, math.nan, "confidence"),
    ],
)
def test_invalid_input_is_a_clear_value_error(
    successes: int, trials: int, confidence: float, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        wilson_interval(successes, trials, confidence)


def test_counts_must_be_whole_numbers() -> None:
    with pytest.raises(TypeError):
        wilson_interval(3.0, 10)  # type: ignore[arg-type]


def test_interval_or_none_for_an_empty_sample() -> None:
    assert interval_or_none(0, 0) is None
    assert interval_or_none(3, 4) == wilson_interval(3, 4)


def test_samples_needed_known_targets() -> None:
    # Closed form with 0 failures: n >= t * z^2 / (1 - t).
    assert samples_needed(0.9999) == 38411
    assert samples_needed(0.999) == 3838
    assert samples_needed(0.0) == 1
    assert wilson_interval(38411, 38411).lower >= 0.9999 > wilson_interval(38410, 38410).lower


@pytest.mark.parametrize("target", [1.0, 99.99, -0.1, math.nan])
def test_samples_needed_rejects_impossible_targets(target: float) -> None:
    with pytest.raises(ValueError, match="ratio"):
        samples_needed(target)


def test_ratio_helpers() -> None:
    assert ratio(1, 4) == 0.25
    assert ratio(0, 0) == 1.0
    assert ratio(3, 0, empty=0.0) == 0.0
    assert ratio_or_none(1, 2) == 0.5
    assert ratio_or_none(1, 0) is None


# --- properties ---------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(counts(), confidences)
def test_bounds_are_ordered_and_in_unit_range(count: tuple[int, int], confidence: float) -> None:
    successes, trials = count
    interval = wilson_interval(successes, trials, confidence)
    assert 0.0 <= interval.lower <= interval.point <= interval.upper <= 1.0
    assert interval.point == successes / trials


@settings(max_examples=100, deadline=None)
@given(counts(), confidences)
def test_matches_scipy_wilson(count: tuple[int, int], confidence: float) -> None:
    successes, trials = count
    expected = binomtest(successes, trials).proportion_ci(
        confidence_level=confidence, method="wilson"
    )
    interval = wilson_interval(successes, trials, confidence)
    assert interval.lower == pytest.approx(expected.low, abs=1e-9)
    assert interval.upper == pytest.approx(expected.high, abs=1e-9)


@settings(max_examples=80, deadline=None)
@given(counts(max_trials=100_000), st.integers(min_value=2, max_value=50))
def test_more_trials_at_the_same_proportion_narrow_the_interval(
    count: tuple[int, int], factor: int
) -> None:
    successes, trials = count
    small = wilson_interval(successes, trials)
    large = wilson_interval(successes * factor, trials * factor)
    assert large.point == small.point
    assert large.upper - large.lower < small.upper - small.lower


@settings(max_examples=80, deadline=None)
@given(st.floats(min_value=0.5, max_value=0.99999), st.sampled_from([0.9, 0.95, 0.99]))
def test_samples_needed_is_minimal(target: float, confidence: float) -> None:
    n = samples_needed(target, confidence)
    assert wilson_interval(n, n, confidence).lower >= target
    assert n == 1 or wilson_interval(n - 1, n - 1, confidence).lower < target


@settings(max_examples=50, deadline=None)
@given(st.floats(min_value=0.5, max_value=0.9999))
def test_samples_needed_agrees_with_scipy(target: float) -> None:
    n = samples_needed(target)
    assert binomtest(n, n).proportion_ci(method="wilson").low >= target - 1e-9
