"""Discovery's pace beside a check, on simulated time: its shares hold, its first page is always
sent, and no page is started that the check would wait for."""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.core.pacing import RECHECK_SECONDS, PaceState


@dataclass
class Sent:
    at: float
    busy_before: float
    units_before: float
    last_before: float
    check_units: float


@dataclass
class Run:
    """A check reading `rate` units a second for `length` seconds, discovery beside it."""

    share: float
    rate: float
    length: float
    sent: list[Sent] = field(default_factory=list)

    def simulate(self, durations: list[float], page_units: float) -> PaceState:
        pace, now = PaceState(self.share, 0.0), 0.0
        for duration in durations:
            while True:
                done = min(1.0, now / self.length)
                wait = pace.wait_before_next(now, self.rate * now, done)
                if wait is None:
                    return pace
                if wait == 0.0:
                    break
                assert wait > 0.0
                now += wait
            self.sent.append(Sent(now, pace.busy, pace.units, pace.last_page, self.rate * now))
            pace = pace.record(duration, page_units)
            now += duration
        return pace


shares = st.floats(0.01, 1.0)
durations = st.lists(st.floats(0.001, 2.0), min_size=1, max_size=60)


@settings(max_examples=200, deadline=None)
@given(shares, st.floats(1, 1e4), st.floats(0.1, 60), durations, st.floats(0, 500))
def test_every_page_after_the_first_fits_both_shares(
    share: float, rate: float, length: float, pages: list[float], units: float
) -> None:
    run = Run(share, rate, length)
    run.simulate(pages, units)
    assert run.sent and run.sent[0].at == 0.0, "the first page is sent at once"
    for page in run.sent[1:]:
        # Its own expected time counted: discovery never plans past its share of the run.
        assert page.busy_before + page.last_before <= share * page.at + 1e-6
        assert page.units_before <= share * page.check_units + 1e-6


@settings(max_examples=200, deadline=None)
@given(shares, st.floats(1, 1e4), st.floats(0.1, 60), durations)
def test_no_page_after_the_first_is_started_that_the_check_would_wait_for(
    share: float, rate: float, length: float, pages: list[float]
) -> None:
    run = Run(share, rate, length)
    run.simulate(pages, 1.0)
    for page in run.sent[1:]:
        # Estimated from the share done, which is exact here: the check reads evenly.
        assert page.at + page.last_before <= length + 1e-6


@settings(max_examples=100, deadline=None)
@given(shares, st.floats(0, 1e3), st.floats(0, 1), st.floats(0, 10))
def test_the_first_page_of_a_run_is_always_allowed(
    share: float, now: float, done: float, units: float
) -> None:
    assert PaceState(share, 0.0).wait_before_next(now, units, done) == 0.0


def test_once_the_check_is_done_no_more_pages() -> None:
    pace = PaceState(1.0, 0.0).record(0.1, 1.0)
    assert pace.wait_before_next(100.0, 1e6, 1.0) is None


def test_the_time_share_gives_the_moment_the_next_page_fits() -> None:
    # 10 %: a 0.25 s page may be followed by another once the run is 5 s old (0.5 s in all).
    pace = PaceState(0.1, 10.0).record(0.25, 1.0)
    assert pace.wait_before_next(11.0, 1e6, 0.01) == 4.0
    assert pace.wait_before_next(15.0, 1e6, 0.01) == 0.0


def test_the_read_unit_share_waits_for_the_checks_own_reads() -> None:
    pace = PaceState(0.1, 0.0).record(0.001, 50.0)
    assert pace.wait_before_next(10.0, 100.0, 0.5) == RECHECK_SECONDS
    assert pace.wait_before_next(10.0, 500.0, 0.5) == 0.0


def test_a_check_about_to_finish_gets_no_new_page() -> None:
    # Half done after 10 s: about 10 s left, room for another 5 s page; 70 % done: 4.3 s left.
    pace = PaceState(1.0, 0.0).record(5.0, 1.0)
    assert pace.wait_before_next(10.0, 1e6, 0.5) == 0.0
    assert pace.wait_before_next(10.0, 1e6, 0.7) is None
