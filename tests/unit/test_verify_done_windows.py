"""A walk's progress counts each window once, whichever of its lanes saw it first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from monitor.verify.online import DoneWindows

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def window(i: int) -> datetime:
    return T0 + timedelta(hours=6 * i)


def test_a_window_saved_by_one_lane_and_read_back_by_another_counts_once() -> None:
    done = DoneWindows()
    done.seen({window(0), window(1)})
    # Lane B's save commits; lane A's read of the checkpoint already lists it; then B counts it.
    done.seen({window(0), window(1), window(2)})
    done.saved(window(2), records=10)
    assert len(done.starts) == 3
    assert done.own == {window(2)} and done.records == 10


@given(
    st.lists(
        st.tuples(st.booleans(), st.frozensets(st.integers(0, 8), max_size=9)),
        max_size=30,
    )
)
def test_the_count_is_the_windows_known_done_whatever_the_order(
    steps: list[tuple[bool, frozenset[int]]],
) -> None:
    done = DoneWindows()
    known: set[int] = set()
    for is_save, indices in steps:
        if is_save:
            for i in indices:
                done.saved(window(i), records=1)
        else:
            done.seen(window(i) for i in indices)
        known |= indices
    assert len(done.starts) == len(known) <= 9
