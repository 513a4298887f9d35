"""A small inline SVG line chart of one figure over the last runs, for the status page.

Pure: numbers in, markup out. No script, no external asset; the chart has a text alternative
(`<title>`) so it reads without images too. A threshold, when given, is drawn as a dashed line
and stays inside the plotted range, so a figure far from it still shows where the line is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

WIDTH = 240
HEIGHT = 48
PAD = 4
_LIMIT = 1e300


def _scale(lo: float, hi: float) -> tuple[float, float]:
    if hi - lo < 1e-12:
        # A flat series: give it some height so the line sits in the middle.
        span = abs(hi) * 0.01 or 1.0
        return lo - span, hi + span
    return lo, hi


def sparkline(
    values: Sequence[float | None],
    *,
    label: str,
    threshold: float | None = None,
) -> str:
    """An SVG polyline of `values` (oldest first; None = a run without this figure)."""
    # Clamped so that the arithmetic below stays finite whatever a figure holds.
    points = [
        (i, max(-_LIMIT, min(_LIMIT, v)))
        for i, v in enumerate(values)
        if v is not None and math.isfinite(v)
    ]
    if threshold is not None:
        threshold = max(-_LIMIT, min(_LIMIT, threshold)) if math.isfinite(threshold) else None
    title = f"<title>{escape(label)}</title>"
    if not points:
        return (
            f'<svg class="chart" width="{WIDTH}" height="{HEIGHT}" role="img"'
            f' aria-label="{escape(label)}: no data yet">{title}</svg>'
        )
    numbers = [v for _, v in points]
    bounds = [*numbers, *([] if threshold is None else [threshold])]
    lo, hi = _scale(min(bounds), max(bounds))
    steps = max(len(values) - 1, 1)

    def x(i: int) -> float:
        return PAD + (WIDTH - 2 * PAD) * i / steps

    def y(v: float) -> float:
        return PAD + (HEIGHT - 2 * PAD) * (1 - (v - lo) / (hi - lo))

    parts = [
        f'<svg class="chart" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}"'
        f' role="img" aria-label="{escape(label)}">',
        title,
    ]
    if threshold is not None:
        ty = f"{y(threshold):.1f}"
        parts.append(
            f'<line class="threshold" x1="{PAD}" x2="{WIDTH - PAD}" y1="{ty}" y2="{ty}"'
            ' stroke="#c0392b" stroke-dasharray="4 3" stroke-width="1"/>'
        )
    coords = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in points)
    parts.append(f'<polyline points="{coords}" fill="none" stroke="#2c3e50" stroke-width="1.5"/>')
    last_i, last_v = points[-1]
    parts.append(f'<circle cx="{x(last_i):.1f}" cy="{y(last_v):.1f}" r="2.5" fill="#2c3e50"/>')
    parts.append("</svg>")
    return "".join(parts)
