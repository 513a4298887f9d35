"""The per-window field sample of `verify`: its size, and findings merged with the key diff's."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from monitor.model import Finding, FindingKind
from monitor.verify.sampled import merged_findings, sample_size


@given(st.integers(0, 10**9), st.floats(0, 1), st.integers())
def test_a_window_sample_is_its_share_rounded_either_way(
    records: int, fraction: float, seed: int
) -> None:
    size = sample_size(records, fraction, random.Random(seed))
    exact = records * fraction
    assert 0 <= size <= records
    assert int(exact) <= size <= int(exact) + 1


def test_the_rounding_is_exact_in_expectation() -> None:
    rng = random.Random(7)
    drawn = sum(sample_size(3, 0.1, rng) for _ in range(20_000))  # 0.3 per window
    assert abs(drawn / 20_000 - 0.3) < 0.02


def test_no_fraction_no_sample_and_all_is_all() -> None:
    rng = random.Random(1)
    assert sample_size(1000, 0.0, rng) == 0
    assert sample_size(1000, 1.0, rng) == 1000


def test_a_sampled_record_missing_is_named_once_and_field_findings_are_added() -> None:
    missing = Finding(FindingKind.MISSING_IN_DYNAMODB, 7, pk="p", sk="s")
    diffed = [missing, Finding(FindingKind.MISSING_IN_SQL, 8)]
    sampled = [
        Finding(FindingKind.MISSING_IN_DYNAMODB, 7, pk="p", sk="s", sql_status="Committed"),
        Finding(FindingKind.FIELD_MISMATCH, 9, field="LogType"),
        Finding(FindingKind.FIELD_MISMATCH, 9, field="IsSuccess"),
    ]
    merged = merged_findings(diffed, sampled)
    assert merged == [*diffed, sampled[1], sampled[2]]
