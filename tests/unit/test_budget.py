"""The read-capacity budget on a fake clock: the long-run rate never exceeds the limit."""

from __future__ import annotations

import anyio
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.stores.budget import ReadBudget


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


@settings(max_examples=50, deadline=None)
@given(st.floats(1, 1000), st.lists(st.floats(0, 50), min_size=1, max_size=200))
def test_spending_never_outruns_the_rate(rate: float, costs: list[float]) -> None:
    clock = FakeClock()
    budget = ReadBudget(rate, clock=clock, sleep=clock.sleep)

    async def spend() -> None:
        for cost in costs:
            await budget.acquire()
            budget.charge(cost)

    anyio.run(spend)
    # Everything but the initial one-second burst and the last request's cost is paid for by time.
    assert sum(costs) <= rate * clock.now + rate + max(costs) + 1e-6
    assert budget.consumed == sum(costs)


@settings(max_examples=50, deadline=None)
@given(
    st.floats(10, 1000),
    st.floats(0.05, 1.0),
    st.lists(st.floats(0, 50), min_size=1, max_size=200),
)
def test_a_share_stays_within_its_share_and_is_charged_to_the_whole(
    rate: float, share: float, costs: list[float]
) -> None:
    from monitor.stores.budget import ShareOfBudget

    clock = FakeClock()
    whole = ReadBudget(rate, clock=clock, sleep=clock.sleep)
    part = ShareOfBudget(whole, share)

    async def spend() -> None:
        for cost in costs:
            await part.acquire()
            part.charge(cost)

    anyio.run(spend)
    assert sum(costs) <= rate * share * (clock.now + 1) + max(costs) + 1e-6
    assert whole.consumed == part.consumed == sum(costs)
