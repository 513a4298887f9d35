"""Ratios and their confidence: what a sample can and cannot show (SEED-REVIEW #10).

Every sampled ratio the monitor reports carries a Wilson score interval, because a
bare "0 mismatches in 1,000 samples" says nothing about a 99.99 % target: the 95 %
lower bound of that success ratio is about 99.62 %. `samples_needed` says how many
clean samples a target needs before the data can support it.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

__all__ = [
    "Interval",
    "interval_or_none",
    "percentile",
    "ratio",
    "ratio_or_none",
    "samples_needed",
    "wilson_interval",
]


@dataclass(frozen=True, slots=True)
class Interval:
    """An observed ratio and its confidence bounds, all in [0, 1], lower <= point <= upper."""

    #: The observed ratio, successes / trials (not the Wilson centre).
    point: float
    lower: float
    upper: float


def _z(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be strictly between 0 and 1, got {confidence!r}")
    # Two-sided: put (1 - confidence) / 2 in each tail.
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def wilson_interval(successes: int, trials: int, confidence: float = 0.95) -> Interval:
    """The Wilson score interval of `successes / trials` at `confidence` (two-sided).

    Raises ValueError when `trials` is 0 (a ratio of nothing has no interval; use
    `interval_or_none` where an empty sample is expected), when `successes` is outside
    [0, trials], or when `confidence` is not strictly between 0 and 1.
    """
    # operator.index rejects floats such as 3.0: counts are whole numbers.
    k = operator.index(successes)
    n = operator.index(trials)
    if n <= 0:
        raise ValueError(f"trials must be positive, got {n} (an empty sample has no interval)")
    if not 0 <= k <= n:
        raise ValueError(f"successes must be between 0 and trials ({n}), got {k}")
    z = _z(confidence)
    z2 = z * z
    point = k / n
    # At the edges the closed forms are exact; the general formula would leave
    # rounding noise such as a lower bound of -1e-17 for k == 0.
    if k == 0:
        return Interval(point=0.0, lower=0.0, upper=z2 / (n + z2))
    if k == n:
        return Interval(point=1.0, lower=n / (n + z2), upper=1.0)
    # Wilson: (k + z²/2 ± z·sqrt(k(n-k)/n + z²/4)) / (n + z²); k(n-k) stays an exact int.
    centre = k + z2 / 2.0
    half = z * math.sqrt(k * (n - k) / n + z2 / 4.0)
    denominator = n + z2
    lower = (centre - half) / denominator
    upper = (centre + half) / denominator
    # Mathematically lower < point < upper here; clamp so rounding can never break it.
    return Interval(
        point=point,
        lower=min(max(lower, 0.0), point),
        upper=max(min(upper, 1.0), point),
    )


def interval_or_none(successes: int, trials: int, confidence: float = 0.95) -> Interval | None:
    """`wilson_interval`, or None for an empty sample (reported as JSON null)."""
    if trials == 0:
        return None
    return wilson_interval(successes, trials, confidence)


def samples_needed(target: float, confidence: float = 0.95) -> int:
    """The smallest n such that n clean samples (0 failures) put the Wilson lower bound >= target.

    `target` is a ratio (0.9999), not a percent (99.99). A target of 1 can never be
    shown by a finite sample, so `target` must be in [0, 1).
    """
    if not 0.0 <= target < 1.0:
        raise ValueError(
            f"target must be a ratio in [0, 1) (e.g. 0.9999, not 99.99), got {target!r}"
        )
    z = _z(confidence)
    z2 = z * z
    # With 0 failures lower = n / (n + z²), so lower >= t  <=>  n >= t·z² / (1 - t).
    n = max(1, math.ceil(target * z2 / (1.0 - target)))
    # The closed form is computed in floats; settle the last step against the
    # interval the reports actually show, so the answer is exactly minimal.
    while wilson_interval(n, n, confidence).lower < target:
        n += 1
    while n > 1 and wilson_interval(n - 1, n - 1, confidence).lower >= target:
        n -= 1
    return n


def ratio(numerator: float, denominator: float, empty: float = 1.0) -> float:
    """`numerator / denominator`, or `empty` when the denominator is 0.

    The default of 1.0 reads "nothing to check, nothing wrong" (e.g. consistency of an
    empty window); pass another value where an empty denominator means something else.
    """
    if denominator == 0:
        return empty
    return numerator / denominator


def ratio_or_none(numerator: float, denominator: float) -> float | None:
    """`numerator / denominator`, or None when the denominator is 0 (reported as JSON null)."""
    if denominator == 0:
        return None
    return numerator / denominator


def percentile(ordered: Sequence[float], q: float) -> float:
    """The nearest-rank `q` quantile (0 < q <= 1) of values sorted in increasing order."""
    if not ordered:
        raise ValueError("no values")
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]
