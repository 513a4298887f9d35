"""One read-capacity budget for every DynamoDB read of the process.

A token bucket refilled at `max_read_units_per_second`. A request waits until the bucket is not
in debt, then runs; what it really consumed (`ReturnConsumedCapacity`) is charged afterwards, so
the long-run rate never exceeds the budget even though a request's cost is unknown in advance.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio


class ReadBudget:
    def __init__(
        self,
        units_per_second: float,
        *,
        clock: Callable[[], float] = anyio.current_time,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        if units_per_second <= 0:
            raise ValueError("units_per_second must be positive")
        self.rate = units_per_second
        # A burst of one second's worth: a check starts at full speed, then settles to the rate.
        self.capacity = units_per_second
        self._tokens = units_per_second
        self._clock = clock
        self._sleep = sleep
        self._updated: float | None = None
        self.consumed = 0.0
        self.waited = 0.0

    def _refill(self) -> None:
        now = self._clock()
        if self._updated is not None:
            self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    async def acquire(self) -> None:
        """Wait until the budget is out of debt (a request may then spend what it must)."""
        self._refill()
        while self._tokens <= 0:
            delay = -self._tokens / self.rate + 1e-3
            self.waited += delay
            await self._sleep(delay)
            self._refill()

    def charge(self, units: float) -> None:
        """Charge what a request consumed (from ReturnConsumedCapacity, or an estimate)."""
        self._refill()
        self._tokens -= units
        self.consumed += units


class ShareOfBudget(ReadBudget):
    """A share of another budget: a request waits for both, and is charged to both, so the
    share never reads faster than `share x` the parent's rate and the parent stays whole."""

    def __init__(self, parent: ReadBudget, share: float) -> None:
        if not 0 < share <= 1:
            raise ValueError("share must be in (0, 1]")
        super().__init__(parent.rate * share, clock=parent._clock, sleep=parent._sleep)
        self.parent = parent

    async def acquire(self) -> None:
        await super().acquire()
        await self.parent.acquire()

    def charge(self, units: float) -> None:
        super().charge(units)
        self.parent.charge(units)
