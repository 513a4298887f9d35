"""An asyncio event loop whose clock jumps ahead whenever every task waits (kopf's looptime).

`anyio.sleep(60)`, a `fail_after(5)` or a scheduler's interval then take no real time, and
the order of events stays exactly as it would be on a real clock. Only for tests without real
I/O: a reply from a server takes real time, which this clock would skip over.
"""

from __future__ import annotations

from typing import Any

import looptime


def fake_time_backend() -> tuple[str, dict[str, Any]]:
    """An `anyio_backend` value: asyncio on a fast-forwarding loop starting at time 0."""
    return "asyncio", {"loop_factory": lambda: looptime.new_event_loop(start=0)}


class SteppingClock:
    """A clock that stands still but for the waits it is given (each moves it ahead at once):
    for a budget whose waits follow one another, next to real I/O."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
