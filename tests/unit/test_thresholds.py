"""The one threshold judgement (monitor/core/thresholds.py) that counts, orphans, sample,
quality and the stream report share."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from monitor.core.thresholds import within_thresholds

FIGURES = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)
LIMITS = st.none() | FIGURES


def test_equal_to_a_threshold_is_within_even_through_float_noise() -> None:
    assert within_thresholds(0.999 * 100, alert_below=99.9)
    assert within_thresholds(0.1, alert_above=0.1)
    assert not within_thresholds(0.1000001, alert_above=0.1)
    assert not within_thresholds(99.89, alert_below=99.9)
    assert within_thresholds(50.0)


def test_a_range_is_out_only_when_all_of_it_is_past_a_threshold() -> None:
    assert within_thresholds(0.98, 0.9995, alert_below=0.999)
    assert not within_thresholds(0.98, 0.9985, alert_below=0.999)
    assert within_thresholds(0.4, 0.6, alert_above=0.5)
    assert not within_thresholds(0.51, 0.6, alert_above=0.5)


@given(FIGURES, LIMITS, LIMITS)
def test_a_point_is_a_range_of_one_value(
    value: float, below: float | None, above: float | None
) -> None:
    point = within_thresholds(value, alert_below=below, alert_above=above)
    assert point == within_thresholds(value, value, alert_below=below, alert_above=above)
    rounded = round(value, 9)
    expected = (below is None or rounded >= below) and (above is None or rounded <= above)
    assert point == expected


@given(FIGURES, FIGURES, LIMITS, LIMITS)
def test_widening_a_range_never_makes_it_fail(
    a: float, b: float, below: float | None, above: float | None
) -> None:
    low, high = min(a, b), max(a, b)
    for inner in (low, high):
        if within_thresholds(inner, alert_below=below, alert_above=above):
            assert within_thresholds(low, high, alert_below=below, alert_above=above)
