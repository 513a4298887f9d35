"""The generator's pure parts: the fault table, fault profiles and the record factory."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.errors import UsageError
from monitor.model import FindingKind
from monitor.writer.faults import EXPECT, Fault, FaultPicker, FaultProfile, load_profile
from monitor.writer.records import RecordFactory


def test_every_fault_has_its_expected_finding_from_the_contract() -> None:
    assert set(EXPECT) == set(Fault)
    assert EXPECT[Fault.COMMIT_MARK_FAILED] is FindingKind.STATUS_DIVERGENCE
    assert EXPECT[Fault.DYNAMODB_WRITE_FAILED] is None
    assert {k for k, v in EXPECT.items() if v is None} == {
        Fault.DYNAMODB_WRITE_FAILED,
        Fault.DYNAMODB_THROTTLED,
        Fault.SLOW_WRITE,
    }


@pytest.mark.parametrize(("name", "rate"), [("none", 0.0), ("light", 0.005), ("heavy", 0.05)])
def test_named_profiles_inject_about_their_rate(name: str, rate: float) -> None:
    picker = FaultPicker(FaultProfile.named(name), seed=3)
    n = 100_000
    drawn = Counter(picker.pick() for _ in range(n))
    faults = n - drawn[None]
    assert abs(faults / n - rate) <= 4 * (rate * (1 - rate) / n) ** 0.5 + 1e-9
    if rate:
        assert set(drawn) - {None} == set(Fault)


def test_the_same_seed_draws_the_same_faults() -> None:
    profile = FaultProfile.named("heavy")
    a, b, other = FaultPicker(profile, 9), FaultPicker(profile, 9), FaultPicker(profile, 10)
    drawn = [a.pick() for _ in range(2000)]
    assert drawn == [b.pick() for _ in range(2000)]
    assert drawn != [other.pick() for _ in range(2000)]


def test_a_fault_file_gives_per_fault_probabilities(tmp_path: Path) -> None:
    path = tmp_path / "faults.toml"
    path.write_text("[faults]\ncrash_after_sql = 0.5\nlost_item = 0.25\n")
    profile = load_profile(str(path))
    assert profile.probabilities == {Fault.CRASH_AFTER_SQL: 0.5, Fault.LOST_ITEM: 0.25}
    picker = FaultPicker(profile, 1)
    drawn = Counter(picker.pick() for _ in range(4000))
    assert set(drawn) == {Fault.CRASH_AFTER_SQL, Fault.LOST_ITEM, None}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("crash_after_sq = 0.1\n", "unknown fault 'crash_after_sq'"),
        ("lost_item = 2\n", "lost_item must be a probability"),
        ("lost_item = 0.7\ninvalid_json = 0.7\n", "add up to more than 1"),
        ("lost_item = [\n", "cannot read it"),
    ],
)
def test_a_bad_fault_file_is_one_clear_usage_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "f.toml"
    path.write_text(text)
    with pytest.raises(UsageError, match=message):
        load_profile(str(path))


def test_an_unknown_profile_name_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="not none, light or heavy"):
        load_profile("medium")


@settings(max_examples=30)
@given(seed=st.integers(0, 2**32))
def test_records_are_repeatable_valid_and_obey_the_business_rules(seed: int) -> None:
    one = [RecordFactory(seed, 100).make() for _ in range(1)]
    a, b = RecordFactory(seed, 100), RecordFactory(seed, 100)
    rows_a, rows_b = [a.make() for _ in range(50)], [b.make() for _ in range(50)]
    strip = lambda r: {k: v for k, v in r.items() if k != "log_timestamp"}  # noqa: E731
    assert [strip(r) for r in rows_a] == [strip(r) for r in rows_b]
    assert one[0]["log_id"] == 100
    assert [r["log_id"] for r in rows_a] == list(range(100, 150))
    for row in rows_a:
        json.loads(row["request_data"])
        if row["response_data"] is not None:
            json.loads(row["response_data"])
        if not row["is_success"]:
            assert row["error_message"]
        if row["log_type"] == "Error":
            assert row["is_success"] is False
        assert row["processing_time_ms"] >= 0
        assert row["log_timestamp"].tzinfo is not None


def test_records_mix_services_errors_and_payload_sizes() -> None:
    factory = RecordFactory(5, 1)
    rows = [factory.make() for _ in range(2000)]
    sizes = sorted(len(r["request_data"]) for r in rows)
    assert sizes[0] < 500 and sizes[-1] > 10_000
    assert len({r["service_name"] for r in rows}) >= 5
    errors = sum(not r["is_success"] for r in rows)
    assert 0.04 < errors / len(rows) < 0.14
    assert len({r["correlation_id"] for r in rows}) == len(rows)


def test_an_invalid_json_record_is_not_json() -> None:
    row = RecordFactory(1, 1).make(invalid_json=True)
    with pytest.raises(json.JSONDecodeError):
        json.loads(row["request_data"])


def test_the_demo_scores_found_missed_and_false_findings() -> None:
    from monitor.demo import score
    from monitor.writer.generate import TruthEntry

    entries = [
        TruthEntry(Fault.CRASH_AFTER_SQL, 1, "crashed"),
        TruthEntry(Fault.COMMIT_MARK_FAILED, 2, "left_pending"),
        TruthEntry(Fault.DYNAMODB_WRITE_FAILED, 3, "compensated"),
        TruthEntry(Fault.DYNAMODB_WRITE_FAILED, 4, "compensated"),
    ]
    found = {1: {"missing_in_dynamodb"}, 2: {"stuck_pending"}, 4: {"missing_in_dynamodb"}, 9: {"x"}}
    result = score(entries, found, "log_id")
    assert result["injected"] == {
        "commit_mark_failed": 1,
        "crash_after_sql": 1,
        "dynamodb_write_failed": 2,
    }
    assert result["found"] == {
        "commit_mark_failed": 0,
        "crash_after_sql": 1,
        "dynamodb_write_failed": 1,
    }
    assert result["missed"] == [
        {"key": {"log_id": 2}, "fault": "commit_mark_failed", "expect": "status_divergence"}
    ]
    assert [f["key"] for f in result["false_findings"]] == [{"log_id": 4}, {"log_id": 9}]
