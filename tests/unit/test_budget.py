"""The read-capacity budget on fake clocks: from the start, reads never outrun the rate by more
than what the requests in flight consume beyond their reservations."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial

import anyio
import looptime
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.stores.budget import _PROBE_PATIENCE, _PROBE_POLL, ReadBudget, ShareOfBudget
from tests.fake_time import SteppingClock


def run_on_loop_time(scenario: Callable[[], Awaitable[None]]) -> None:
    """Run `scenario` on a loop whose clock jumps to the next wake-up whenever every task waits
    (concurrent sleepers wake in the order, and at the times, a real clock would give). Nothing
    here waits on I/O or a timeout, so the clock may jump after a single idle cycle."""
    loop = partial(looptime.new_event_loop, start=0, noop_cycles=1)
    anyio.run(scenario, backend="asyncio", backend_options={"loop_factory": loop})


@settings(max_examples=50, deadline=None)
@given(st.floats(1, 1000), st.lists(st.floats(0, 50), min_size=1, max_size=200))
def test_spending_never_outruns_the_rate(rate: float, costs: list[float]) -> None:
    clock = SteppingClock()
    budget = ReadBudget(rate, clock=clock, sleep=clock.sleep)

    async def spend() -> None:
        for cost in costs:
            budget.charge(cost, await budget.acquire())

    anyio.run(spend)
    # No initial burst: everything but the last request's cost is paid for by time.
    assert sum(costs) <= rate * clock.now + max(costs) + 1e-6
    assert budget.consumed == pytest.approx(sum(costs))


@settings(max_examples=50, deadline=None)
@given(
    st.floats(10, 1000),
    st.floats(0.05, 1.0),
    st.lists(st.floats(0, 50), min_size=1, max_size=200),
)
def test_a_share_stays_within_its_share_and_is_charged_to_the_whole(
    rate: float, share: float, costs: list[float]
) -> None:
    clock = SteppingClock()
    whole = ReadBudget(rate, clock=clock, sleep=clock.sleep)
    part = ShareOfBudget(whole, share)

    async def spend() -> None:
        for cost in costs:
            part.charge(cost, await part.acquire())

    anyio.run(spend)
    assert sum(costs) <= rate * share * clock.now + max(costs) + 1e-6
    assert whole.consumed == part.consumed == pytest.approx(sum(costs))


#: One request of a task: what it consumes, how long it takes, whether DynamoDB refuses it.
REQUEST = st.tuples(st.floats(0, 50), st.floats(0, 2), st.booleans())
TASKS = st.lists(st.lists(REQUEST, min_size=1, max_size=15), min_size=1, max_size=8)


@dataclass
class Reads:
    """What the tasks have really read (a request reads when it starts) and what is in flight:
    per request, what it consumes beyond its reservation (a refused one: minus its reservation)."""

    read: float = 0.0
    overrun: dict[int, float] = field(default_factory=dict)

    def start(self, request: int, units: float, reserved: float) -> None:
        self.read += units
        self.overrun[request] = units - reserved

    def bound(self, rate: float, now: float, reserved: float, capacity: float) -> float:
        """The most the reads may be at a request's start (one expected to cost more than a
        full bucket starts on a full bucket)."""
        slack = 1e-9 * (1 + rate * now)
        return rate * now + sum(self.overrun.values()) + max(0.0, reserved - capacity) + slack


async def issue(
    budget: ReadBudget,
    requests: list[tuple[float, float, bool]],
    task: int,
    reads: list[Reads],
    rate: float,
    capacity: float,
) -> None:
    """One task's requests in turn: acquire, read (checking every bound), wait, then charge what
    was read, or refund a refused request."""
    for number, (units, latency, refused) in enumerate(requests):
        reserved = await budget.acquire()
        request = task * 1000 + number
        now = anyio.current_time()
        for meter in reads:
            meter.start(request, 0.0 if refused else units, reserved)
        assert reads[-1].read <= reads[-1].bound(rate, now, reserved, capacity)
        await anyio.sleep(latency)
        for meter in reads:
            del meter.overrun[request]
        if refused:
            budget.refund(reserved)
        else:
            budget.charge(units, reserved)


def served(tasks: list[list[tuple[float, float, bool]]]) -> float:
    return math.fsum(units for requests in tasks for units, _, refused in requests if not refused)


@settings(max_examples=40, deadline=None)
@given(st.floats(1, 1000), TASKS)
def test_concurrent_reads_never_outrun_the_rate_beyond_the_overruns_in_flight(
    rate: float, tasks: list[list[tuple[float, float, bool]]]
) -> None:
    budget = ReadBudget(rate)
    reads = Reads()

    async def scenario() -> None:
        async with anyio.create_task_group() as group:
            for task, requests in enumerate(tasks):
                group.start_soon(issue, budget, requests, task, [reads], rate, budget.capacity)

    run_on_loop_time(scenario)
    assert budget.consumed == pytest.approx(served(tasks))


@settings(max_examples=30, deadline=None)
@given(st.floats(10, 1000), st.floats(0.05, 1.0), TASKS, TASKS)
def test_a_share_and_direct_reads_together_never_outrun_the_whole(
    rate: float,
    share: float,
    in_share: list[list[tuple[float, float, bool]]],
    direct: list[list[tuple[float, float, bool]]],
) -> None:
    whole = ReadBudget(rate)
    part = ShareOfBudget(whole, share)
    everything, of_the_share = Reads(), Reads()

    async def scenario() -> None:
        async with anyio.create_task_group() as group:
            for task, requests in enumerate(in_share):
                # The whole's bound is checked: a share's request starts once the whole has it.
                group.start_soon(
                    issue, part, requests, task, [of_the_share, everything], rate, whole.capacity
                )
            for task, requests in enumerate(direct, start=len(in_share)):
                group.start_soon(issue, whole, requests, task, [everything], rate, whole.capacity)

    run_on_loop_time(scenario)
    assert part.consumed == pytest.approx(served(in_share))
    assert whole.consumed == pytest.approx(served(in_share) + served(direct))


def test_while_no_cost_is_known_one_request_runs_alone_and_the_others_follow_its_charge() -> None:
    budget = ReadBudget(100)
    started: list[tuple[float, float]] = []

    async def request() -> None:
        reserved = await budget.acquire()
        started.append((anyio.current_time(), reserved))

    async def scenario() -> None:
        async with anyio.create_task_group() as group:
            for _ in range(3):
                group.start_soon(request)
            await anyio.sleep(0.5)
            assert started == [(0.0, 0.0)]  # the probe, with nothing reserved
            budget.charge(4.0, 0.0)

    run_on_loop_time(scenario)
    later = started[1:]
    assert [reserved for _, reserved in later] == [4.0, 4.0]
    assert all(0.5 <= at <= 0.5 + 2 * _PROBE_POLL for at, _ in later), started


def test_a_probe_that_never_answers_holds_the_next_request_back_a_second_at_most() -> None:
    budget = ReadBudget(100)
    started: list[float] = []

    async def request() -> None:
        await budget.acquire()  # never charged: a timeout, a cancelled read
        started.append(anyio.current_time())

    async def scenario() -> None:
        async with anyio.create_task_group() as group:
            for _ in range(3):
                group.start_soon(request)

    run_on_loop_time(scenario)
    # Each lost probe holds the next one back for the patience, not for ever.
    assert started[0] == 0.0
    for before, after in zip(started, started[1:], strict=False):
        assert _PROBE_PATIENCE <= after - before <= _PROBE_PATIENCE + 2 * _PROBE_POLL, started


def test_a_refused_probe_lets_the_next_request_try_at_once() -> None:
    clock = SteppingClock()
    budget = ReadBudget(100, clock=clock, sleep=clock.sleep)

    async def scenario() -> None:
        budget.refund(await budget.acquire())
        assert await budget.acquire() == 0.0  # still no cost known: a probe again

    anyio.run(scenario)
    assert clock.now == 0.0


def test_an_unanswered_request_keeps_its_reservation_spent_and_its_retry_goes_at_once() -> None:
    clock = SteppingClock()
    budget = ReadBudget(10, clock=clock, sleep=clock.sleep)

    async def scenario() -> None:
        budget.abandon(await budget.acquire())  # the first: no answer (DynamoDB unreachable)
        assert await budget.acquire() == 0.0  # its retry probes again, without waiting
        assert clock.now == 0.0
        budget.charge(4.0, 0.0)
        reserved = await budget.acquire()  # waits until time has paid for the 4 and the next 4
        budget.abandon(reserved)
        assert budget.tokens == pytest.approx(0.0, abs=0.05)  # the 4 it reserved stay spent

    anyio.run(scenario)


def test_a_refund_gives_the_reservation_back() -> None:
    clock = SteppingClock()
    budget = ReadBudget(10, clock=clock, sleep=clock.sleep)

    async def scenario() -> None:
        budget.charge(4.0, await budget.acquire())
        assert budget.tokens == -4.0
        reserved = await budget.acquire()  # waits until time has paid the 4 and the next 4
        assert reserved == 4.0
        assert clock.now == pytest.approx(0.8, abs=2e-3)
        after_reserving = budget.tokens
        budget.refund(reserved)
        assert budget.tokens == pytest.approx(after_reserving + 4.0)
        assert await budget.acquire() == 4.0  # the refund pays the next request: no wait
        assert clock.now == pytest.approx(0.8, abs=2e-3)

    anyio.run(scenario)
    assert budget.consumed == 4.0


def test_a_share_is_charged_and_refunded_on_both_budgets() -> None:
    clock = SteppingClock()
    whole = ReadBudget(100, clock=clock, sleep=clock.sleep)
    part = ShareOfBudget(whole, 0.5)

    async def scenario() -> None:
        part.charge(5.0, await part.acquire())
        assert (part.tokens, whole.tokens) == (-5.0, -5.0)
        reserved = await part.acquire()
        assert reserved == 5.0
        part_after, whole_after = part.tokens, whole.tokens
        part.refund(reserved)
        assert part.tokens == pytest.approx(part_after + 5.0)
        assert whole.tokens == pytest.approx(whole_after + 5.0)

    anyio.run(scenario)
    assert part.consumed == whole.consumed == 5.0
