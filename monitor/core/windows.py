"""Window arithmetic from an injected `now`: nothing younger than `settle` is ever judged."""

from __future__ import annotations

from datetime import datetime, timedelta

from monitor.model import Window


def settled_window(
    now: datetime,
    length: timedelta,
    settle: timedelta,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Window:
    """The window to judge: `[until - length, until)`, ending no later than `now - settle`.

    An explicit `until` past the settled edge is pulled back to it and the window says so
    (`clamped`), because records younger than `settle` may still be in flight.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    edge = now - settle
    clamped = until is not None and until > edge
    end = edge if until is None or clamped else until
    start = since if since is not None else end - length
    if start > end:
        raise ValueError(
            f"the window starts ({start.isoformat()}) after it ends ({end.isoformat()})"
        )
    return Window(start, end, clamped)


def align_down(moment: datetime, step: timedelta) -> datetime:
    """Floor to a multiple of `step` since the epoch (slice edges must fall on the SK resolution)."""
    if step <= timedelta(microseconds=1):
        return moment
    epoch = datetime(1970, 1, 1, tzinfo=moment.tzinfo)
    return moment - (moment - epoch) % step
