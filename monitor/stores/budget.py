"""One read-capacity budget for every DynamoDB read of the process.

A token bucket refilled at `max_read_units_per_second`, starting empty. A request's cost is
known only once it has run (`ReturnConsumedCapacity`), so a request waits until the bucket holds
what requests have been costing and reserves it; afterwards it is charged what it really
consumed and its reservation is given back. While nothing tells what a request costs, one runs
alone and the others wait for its answer. So from the start, reads never outrun the rate by more
than what the requests in flight (when the last one started) consume beyond their reservations;
a bucket left idle saves up at most one second's worth.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio

#: How fast the estimate of a request's cost follows the charges (an exponential average).
_LEARNING_RATE = 0.25
#: While the first request's cost is awaited: how often the others look, and how long they
#: wait for it at most (a request that never answers must not stop the reads).
_PROBE_POLL = 0.005
_PROBE_PATIENCE = 1.0


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
        #: The most an idle bucket saves up: one second's worth.
        self.capacity = units_per_second
        self._tokens = 0.0
        self._clock = clock
        self._sleep = sleep
        self._updated: float | None = None
        self._estimate: float | None = None
        self._probe_until = float("-inf")
        self.consumed = 0.0

    def _refill(self) -> None:
        now = self._clock()
        if self._updated is not None:
            self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    @property
    def tokens(self) -> float:
        """What the bucket holds now (below zero: in debt)."""
        self._refill()
        return self._tokens

    async def _reservation(self) -> float:
        """What a request reserves: what requests have been costing; nothing for the one that
        runs alone while no cost is known (the others wait for its answer)."""
        while self._estimate is None and self._clock() < self._probe_until:
            await self._sleep(_PROBE_POLL)
        if self._estimate is None:
            self._probe_until = self._clock() + _PROBE_PATIENCE
            return 0.0
        return self._estimate

    async def _take(self, units: float) -> None:
        """Wait until the bucket holds `units`, then take them: a request starts only once time
        has paid for what it is expected to cost. (A request expected to cost more than an idle
        bucket can hold waits for a full bucket.)"""
        needed = min(units, self.capacity)
        self._refill()
        while self._tokens < needed:
            delay = (needed - self._tokens) / self.rate + 1e-3
            await self._sleep(delay)
            self._refill()
        self._tokens -= units

    async def acquire(self) -> float:
        """Wait for the budget, then reserve a request's expected cost: the amount to give back
        to `charge` (or `refund`, when the request consumed nothing). A reservation never
        given back stays spent, as a request that may have been served (a timeout) must."""
        reserved = await self._reservation()
        await self._take(reserved)
        return reserved

    def charge(self, units: float, reserved: float = 0.0) -> None:
        """Charge what a request consumed (from ReturnConsumedCapacity, or an estimate), giving
        back what `acquire` reserved for it."""
        self._refill()
        self._tokens += reserved - units
        self.consumed += units
        self._estimate = (
            units
            if self._estimate is None
            else self._estimate + _LEARNING_RATE * (units - self._estimate)
        )

    def refund(self, reserved: float) -> None:
        """Give back the reservation of a request that consumed nothing (DynamoDB refused it).
        A refused first request tells no cost: the next one may try at once."""
        self._refill()
        self._tokens += reserved
        if self._estimate is None:
            self._probe_until = float("-inf")

    def abandon(self, reserved: float) -> None:
        """A request that got no answer (a timeout, a connection refused): its reservation stays
        spent, as it may have been served; if it was the first, the next may try at once (a
        retry does not wait out the first request's patience)."""
        del reserved  # spent
        if self._estimate is None:
            self._probe_until = float("-inf")


class ShareOfBudget(ReadBudget):
    """A share of another budget: a request waits for both, and is charged to both, so the
    share never reads faster than `share x` the parent's rate and the parent stays whole."""

    def __init__(self, parent: ReadBudget, share: float) -> None:
        if not 0 < share <= 1:
            raise ValueError("share must be in (0, 1]")
        super().__init__(parent.rate * share, clock=parent._clock, sleep=parent._sleep)
        self.parent = parent

    async def acquire(self) -> float:
        reserved = await self._reservation()
        await self._take(reserved)
        await self.parent._take(reserved)
        return reserved

    def charge(self, units: float, reserved: float = 0.0) -> None:
        super().charge(units, reserved)
        self.parent.charge(units, reserved)

    def refund(self, reserved: float) -> None:
        super().refund(reserved)
        self.parent.refund(reserved)

    def abandon(self, reserved: float) -> None:
        super().abandon(reserved)
        self.parent.abandon(reserved)
