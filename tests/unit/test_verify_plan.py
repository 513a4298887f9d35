"""The verification plan (windows and shards) and the checkpoint's JSON form of a window."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.model import Finding, FindingKind, Window
from monitor.verify.plan import VerifyPlan, shard_lock_key
from monitor.verify.progress import VerifyProgress
from monitor.verify.results import WindowResult, finding_from_json, finding_to_json

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@settings(deadline=None)  # a loaded machine must not fail it on time
@given(
    length=st.integers(min_value=1, max_value=3_000),
    window=st.integers(min_value=1, max_value=500),
    shard_windows=st.integers(min_value=1, max_value=40),
)
def test_windows_tile_the_range_and_shards_tile_the_windows(
    length: int, window: int, shard_windows: int
) -> None:
    plan = VerifyPlan(T0, T0 + timedelta(minutes=length), timedelta(minutes=window), shard_windows)
    windows = plan.windows()
    assert windows[0].start == plan.start and windows[-1].end == plan.end
    assert all(a.end == b.start for a, b in zip(windows, windows[1:], strict=False))
    assert all(w.end - w.start <= plan.window for w in windows)
    shards = plan.shards()
    assert [w for s in shards for w in s.windows] == windows
    assert [s.index for s in shards] == list(range(len(shards)))
    assert all(1 <= len(s.windows) <= shard_windows for s in shards)


def test_an_empty_range_is_refused() -> None:
    with pytest.raises(ValueError, match="end after it starts"):
        VerifyPlan(T0, T0, timedelta(hours=1), 1)


def test_shard_lock_keys_differ_by_run_and_shard_and_fit_a_bigint() -> None:
    keys = {shard_lock_key("s", run, shard) for run in range(20) for shard in range(50)}
    assert len(keys) == 1000
    assert all(-(2**63) <= k < 2**63 for k in keys)


keys = st.one_of(st.integers(min_value=-(2**63), max_value=2**64), st.text(max_size=20))
optional_text = st.none() | st.text(max_size=30)


@given(
    kind=st.sampled_from(list(FindingKind)),
    key=keys,
    pk=optional_text,
    sk=optional_text,
    status=optional_text,
    detail=optional_text,
)
def test_a_finding_survives_the_checkpoint_exactly(
    kind: FindingKind,
    key: int | str,
    pk: str | None,
    sk: str | None,
    status: str | None,
    detail: str | None,
) -> None:
    finding = Finding(kind, key, pk=pk, sk=sk, sql_status=status, detail=detail)
    assert finding_from_json(json.loads(json.dumps(finding_to_json(finding)))) == finding


def test_a_window_result_survives_the_checkpoint() -> None:
    window = Window(T0, T0 + timedelta(hours=1))
    result = WindowResult(
        window,
        10,
        9,
        8,
        1,
        3,
        2.5,
        (Finding(FindingKind.MISSING_IN_DYNAMODB, 2**53 + 1),),
        sampled=5,
        sample_bad=2,
        sample_by_field={"LogType": 2, "IsSuccess": 0},
    )
    stored = json.loads(json.dumps(result.tally_json()))
    findings = json.loads(json.dumps([finding_to_json(f) for f in result.findings]))
    assert WindowResult.from_json(window, stored, findings) == result


def test_progress_rate_and_eta_are_this_process_own() -> None:
    ticks = iter([100.0, 110.0])
    progress = VerifyProgress(clock=lambda: next(ticks), enabled=False)
    # 20 windows came from a checkpoint: they do not count towards the rate.
    assert progress.line(20, 100, 5_000) == (
        "verify: 20/100 windows, 5,000 records, 0 records/s, ETA unknown"
    )
    assert progress.line(30, 100, 25_000) == (
        "verify: 30/100 windows, 25,000 records, 2,000 records/s, ETA 0:01:10"
    )
