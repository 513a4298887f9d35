"""The stream verifier's pure parts: positions, the change buffer, shard lineage, the verdict."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from monitor.config import Settings, field_specs
from monitor.model import FindingKind
from monitor.stores.streams import decode_record
from monitor.stores.wire import decode_item
from monitor.stream.buffer import ChangeBuffer
from monitor.stream.changes import Change, Position, UnreadableRecord, change_from_record
from monitor.stream.judge import judge_item
from monitor.stream.positions import Positions, readable_shards

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
MAPPING = Settings().table_mapping()
SPECS = field_specs(Settings().mapping.fields, "mapping.fields")


def change(n: int, key: int, shard: str = "s1") -> Change:
    return Change(
        pk=f"P#{key}",
        sk=f"S#{key}",
        changed_at=T0 + timedelta(seconds=n),
        position=Position(shard, f"{n:06d}"),
        image=decode_item({"LogId": {"N": str(key)}}),
    )


@given(st.permutations(list(range(30))))
def test_the_checkpoint_is_the_end_of_the_judged_prefix(order: list[int]) -> None:
    positions = Positions()
    for n in range(30):
        positions.read("s", f"{n:03d}", T0)
    judged: set[int] = set()
    for n in order:
        positions.judge("s", f"{n:03d}")
        judged.add(n)
        prefix = 0
        while prefix in judged:
            prefix += 1
        expected = None if prefix == 0 else f"{prefix - 1:03d}"
        assert positions.checkpoint("s") == expected
    assert positions.drained("s")


@given(st.lists(st.integers(0, 5), min_size=1, max_size=40))
def test_the_buffer_keeps_the_newest_change_per_record_and_loses_no_position(
    keys: list[int],
) -> None:
    buffer = ChangeBuffer(Positions())
    for n, key in enumerate(keys):
        buffer.add(change(n, key))
    assert len(buffer) == len(set(keys))
    due = buffer.take_due(T0 + timedelta(days=1), 1000)
    newest = {key: n for n, key in enumerate(keys)}
    assert {c.position.sequence for c in due} == {f"{n:06d}" for n in newest.values()}
    buffer.judged(due)
    assert buffer.positions.checkpoint("s1") == f"{len(keys) - 1:06d}"


def test_only_changes_older_than_the_horizon_are_due_and_put_back_first() -> None:
    buffer = ChangeBuffer(Positions())
    for n in range(5):
        buffer.add(change(n, n))
    due = buffer.take_due(T0 + timedelta(seconds=2), 10)
    assert [c.pk for c in due] == ["P#0", "P#1", "P#2"]
    buffer.add(change(9, 1))  # a newer change of record 1 while the batch was out
    buffer.put_back(due)
    again = buffer.take_due(T0 + timedelta(seconds=100), 10)
    assert [c.pk for c in again] == ["P#0", "P#2", "P#3", "P#4", "P#1"]
    assert buffer.positions.checkpoint("s1") is None  # 000000 not judged yet
    buffer.judged(again)
    assert buffer.positions.checkpoint("s1") == "000009"


def test_children_wait_for_their_parent_and_orphans_are_readable() -> None:
    shards: dict[str, str | None] = {"a": None, "b": "a", "c": "a", "d": "gone"}
    assert readable_shards(shards, finished=(), reading=()) == ["a", "d"]
    assert readable_shards(shards, finished={"a"}, reading={"d"}) == ["b", "c"]


def _row(**over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "log_id": 7,
        "service_name": "CreditCheckService",
        "log_timestamp": T0,
        "write_status": "Committed",
        "log_type": "Request",
        "is_success": True,
        "status_code": "200",
        "request_data": '{"a": 1}',
    }
    return row | over


def _item(row: dict[str, Any], **over: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "PK": {"S": MAPPING.partition_template.render(row)},
        "SK": {"S": MAPPING.sort_template.render(row)},
        "LogId": {"N": str(row["log_id"])},
        "WriteStatus": {"S": row["write_status"]},
        "LogType": {"S": row["log_type"]},
        "IsSuccess": {"BOOL": row["is_success"]},
        "StatusCode": {"S": row["status_code"]},
        "LogTimestamp": {"S": T0.strftime("%Y-%m-%dT%H:%M:%S.%fZ")},
        "RequestData": {"S": row["request_data"]},
    }
    return item | over


def kinds(row: dict[str, Any] | None, item: dict[str, Any] | None) -> list[str]:
    image = None if item is None else decode_item(item)
    return [str(f.kind) for f in judge_item(MAPPING, SPECS, 7, "pk", "sk", image, row)]


def test_verdicts_follow_the_sample_comparators_and_final_states() -> None:
    row = _row()
    assert kinds(row, _item(row)) == []
    assert kinds(row, _item(row, LogType={"S": "Error"})) == ["field_mismatch"]
    assert kinds(row, _item(row, WriteStatus={"S": "Pending"})) == ["status_divergence"]
    pending = _row(write_status="Pending")
    assert kinds(pending, _item(pending)) == ["stuck_pending"]
    assert kinds(row, None) == ["missing_in_dynamodb"]
    assert kinds(None, _item(row)) == ["missing_in_sql"]
    assert kinds(None, None) == []
    # Abandoned on one side and absent on the other agree (CONTRACT §7).
    assert kinds(_row(write_status="Compensated"), None) == []
    assert kinds(None, _item(_row(write_status="Failed"))) == []
    bad = _row(request_data="{not json")
    assert kinds(bad, _item(bad)) == [str(FindingKind.INVALID_DATA)]


def test_a_stream_record_becomes_a_change() -> None:
    record = {
        "eventName": "REMOVE",
        "dynamodb": {
            "Keys": {"PK": {"S": "p"}, "SK": {"S": "s"}},
            "OldImage": {"LogId": {"N": "12"}},
            "SequenceNumber": "42",
            "ApproximateCreationDateTime": T0,
        },
    }
    parsed = change_from_record(MAPPING, "shard", decode_record(record))
    assert parsed.image is None
    assert parsed.key(MAPPING) == 12
    assert parsed.position == Position("shard", "42")
    record["eventName"] = "MODIFY"
    try:
        change_from_record(MAPPING, "shard", decode_record(record))
    except UnreadableRecord as exc:
        assert "NEW_AND_OLD_IMAGES" in str(exc)
    else:
        raise AssertionError("a MODIFY without NewImage must be refused")


_wire = st.recursive(
    st.none() | st.text(max_size=5) | st.integers() | st.floats(allow_nan=False),
    lambda inner: st.dictionaries(st.text(max_size=4), inner, max_size=3) | st.lists(inner),
    max_leaves=10,
)


_data = st.fixed_dictionaries(
    {},
    optional={
        "Keys": _wire,
        "NewImage": _wire,
        "OldImage": _wire,
        "SequenceNumber": _wire,
        "ApproximateCreationDateTime": _wire,
    },
)


@given(st.dictionaries(st.sampled_from(["eventName", "dynamodb", "other"]), _wire | _data))
def test_decoding_a_stream_record_never_raises(record: dict[str, Any]) -> None:
    decoded = decode_record(record)
    if decoded.created_at is not None:
        assert decoded.created_at.tzinfo is not None


def test_a_decoded_record_carries_neutral_values_and_a_utc_time() -> None:
    record = {
        "eventName": "INSERT",
        "dynamodb": {
            "Keys": {"PK": {"S": "p"}, "SK": {"S": "s"}},
            "NewImage": {"LogId": {"N": "7"}, "PK": {"S": "p"}, "SK": {"S": "s"}},
            "SequenceNumber": "43",
            "ApproximateCreationDateTime": T0.timestamp(),
        },
    }
    decoded = decode_record(record)
    assert decoded.created_at == T0 and decoded.old_image is None
    assert decoded.new_image == decode_item(record["dynamodb"]["NewImage"])  # type: ignore[index]
    assert change_from_record(MAPPING, "s1", decoded).key(MAPPING) == 7


def test_grace_counts_from_the_reading_when_the_record_time_is_rounded_down() -> None:
    # DynamoDB Local rounds a record's time down to the minute: read at T0 + 59 s, a change
    # stamped T0 may be 0 s old; with a grace of 5 s it is due at T0 + 64 s, not T0 + 5 s.
    stamped = replace(change(0, 1), read_at=T0 + timedelta(seconds=59))
    buffer = ChangeBuffer(Positions())
    buffer.add(stamped)
    assert buffer.take_due(T0 + timedelta(seconds=58), 10) == []
    assert buffer.take_due(T0 + timedelta(seconds=59), 10) == [stamped]
    assert change(3, 1).made_by == T0 + timedelta(seconds=3)  # not read yet: its own time
