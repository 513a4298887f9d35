"""Whether a figure is within its thresholds: the one judgement every check makes.

A figure is a point (a percentage, a count's variance) or a range (a 95 % interval). It is out
only when the whole of it is past a threshold: below `alert_below` or above `alert_above`;
equal to a threshold is within. Values are rounded to 9 decimals first, so that float noise
(0.999 * 100 reads 99.89999999999999) never decides a verdict. Thresholds are in the figure's
own unit (percent for percentages, a ratio for a ratio).
"""

from __future__ import annotations


def within_thresholds(
    low: float,
    high: float | None = None,
    *,
    alert_below: float | None = None,
    alert_above: float | None = None,
) -> bool:
    """True when the figure `[low, high]` (a point when `high` is None) is within."""
    lowest = round(low, 9)
    highest = lowest if high is None else round(high, 9)
    if alert_below is not None and highest < alert_below:
        return False
    return alert_above is None or lowest <= alert_above
