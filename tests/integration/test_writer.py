"""The dual writer on a real PostgreSQL and a real DynamoDB-API server, at each failure point.

Each test asserts the final state of both stores (CONTRACT §7, SEED-REVIEW rows 1-3).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import anyio
import pytest

from monitor.config import Settings
from monitor.errors import StoreUnavailable
from monitor.stores.faulty import ClientFault, client_error
from monitor.writer.dual import Checkpoint, WriterCrashed
from monitor.writer.faults import Fault
from monitor.writer.inject import crash_hook
from monitor.writer.results import (
    Committed,
    Compensated,
    DuplicateRecord,
    LeftPending,
    Step,
)
from tests.integration.writing import open_rig, records

pytestmark = pytest.mark.services


class FailingSql:
    """The SQL port, failing chosen calls: `fail[method]` = statuses (or "*") whose call raises
    StoreUnavailable; `after` makes the call go through first (its answer is lost)."""

    def __init__(
        self, inner: Any, fail: Mapping[str, Sequence[str]], *, after: bool = False, times: int = 99
    ) -> None:
        self.inner = inner
        self.fail = fail
        self.after = after
        self.times = times
        self.calls: list[tuple[str, Any]] = []

    def _should_fail(self, method: str, status: str) -> bool:
        wanted = self.fail.get(method, ())
        return self.times > 0 and ("*" in wanted or status in wanted)

    async def _call(self, method: str, status: str, *args: Any) -> Any:
        self.calls.append((method, status))
        if self._should_fail(method, status):
            self.times -= 1
            if self.after:
                await getattr(self.inner, method)(*args)
            raise StoreUnavailable("PostgreSQL", f"injected failure of {method}")
        return await getattr(self.inner, method)(*args)

    async def insert_pending(self, row: Any, column: str) -> Any:
        return await self._call("insert_pending", "*", row, column)

    async def set_status(self, key: Any, column: str, tx: str, status: str, expected: Any) -> Any:
        return await self._call("set_status", status, key, column, tx, status, expected)

    async def delete_pending(self, key: Any, column: str, tx: str) -> Any:
        return await self._call("delete_pending", "*", key, column, tx)


def test_a_write_commits_both_stores_and_clears_the_pending_index(settings: Settings) -> None:
    async def go() -> None:
        async with open_rig(settings) as rig:
            (row,) = records(1)
            result = await rig.writer.write(row)
            assert isinstance(result, Committed)
            assert await rig.sql_status(row["log_id"]) == "Committed"
            item = await rig.item(row)
            assert item is not None and item["WriteStatus"] == {"S": "Committed"}
            assert item["TransactionId"] == {"S": result.transaction_id}
            assert "GSI3PK" not in item and "GSI3SK" not in item

    anyio.run(go)


def test_sql_insert_failing_writes_nothing_anywhere(settings: Settings) -> None:
    async def go() -> None:
        async with open_rig(
            settings, sql=lambda pg: FailingSql(pg, {"insert_pending": "*"})
        ) as rig:
            (row,) = records(1)
            with pytest.raises(StoreUnavailable):
                await rig.writer.write(row)
            assert await rig.sql_status(row["log_id"]) is None
            assert await rig.item(row) is None

    anyio.run(go)


def test_a_crash_between_the_writes_leaves_sql_pending_and_compensates_nothing(
    settings: Settings,
) -> None:
    async def go() -> None:
        hook = crash_hook(lambda row: Fault.CRASH_AFTER_SQL)
        async with open_rig(settings, crash=hook) as rig:
            (row,) = records(1)
            with pytest.raises(WriterCrashed) as crashed:
                await rig.writer.write(row)
            assert crashed.value.checkpoint is Checkpoint.AFTER_SQL_INSERT
            assert await rig.sql_status(row["log_id"]) == "Pending"
            assert await rig.item(row) is None

    anyio.run(go)


@pytest.mark.parametrize("compensation", ["soft", "delete"])
def test_dynamodb_failing_for_good_compensates_sql_once(
    settings: Settings, compensation: Any
) -> None:
    counted: list[FailingSql] = []

    def wrap(pg: Any) -> FailingSql:
        counted.append(FailingSql(pg, {}))
        return counted[0]

    async def go() -> None:
        async with open_rig(settings, compensation=compensation, sql=wrap) as rig:
            (row,) = records(1)
            rig.faulty.arm(rig.location(row), ClientFault.PUT_FAILED)
            result = await rig.writer.write(row)
            assert isinstance(result, Compensated)
            assert result.deleted is (compensation == "delete")
            expected = None if compensation == "delete" else "Compensated"
            assert await rig.sql_status(row["log_id"]) == expected
            assert await rig.item(row) is None
            compensations = [
                c
                for c in counted[0].calls
                if c in {("set_status", "Compensated"), ("delete_pending", "*")}
            ]
            assert len(compensations) == 1

    anyio.run(go)


def test_a_lost_compensation_answer_is_retried_without_a_second_effect(settings: Settings) -> None:
    async def go() -> None:
        wrap = lambda pg: FailingSql(pg, {"set_status": ["Compensated"]}, after=True, times=1)  # noqa: E731
        async with open_rig(settings, sql=wrap) as rig:
            (row,) = records(1)
            rig.faulty.arm(rig.location(row), ClientFault.PUT_FAILED)
            result = await rig.writer.write(row)
            assert isinstance(result, Compensated)
            assert await rig.sql_status(row["log_id"]) == "Compensated"

    anyio.run(go)


def test_throttled_and_slow_puts_are_retried_and_commit(settings: Settings) -> None:
    async def go() -> None:
        async with open_rig(settings) as rig:
            throttled, slow = records(2)
            rig.faulty.arm(rig.location(throttled), ClientFault.PUT_THROTTLED)
            rig.faulty.arm(rig.location(slow), ClientFault.SLOW_PUT)
            for row in (throttled, slow):
                assert isinstance(await rig.writer.write(row), Committed)
                assert await rig.sql_status(row["log_id"]) == "Committed"
                assert await rig.item_status(row) == "Committed"
            assert rig.dynamo.retried >= 2

    anyio.run(go)


def test_a_put_whose_answer_was_lost_is_recognised_by_its_transaction_id(
    settings: Settings,
) -> None:
    class LosesFirstAnswer:
        def __init__(self, client: Any) -> None:
            self.client = client
            self.lost = False

        def __getattr__(self, name: str) -> Any:
            return getattr(self.client, name)

        async def put_item(self, **params: Any) -> Any:
            response = await self.client.put_item(**params)
            if not self.lost:
                self.lost = True
                raise client_error("InternalServerError", "PutItem")
            return response

    async def go() -> None:
        async with open_rig(settings) as rig:
            rig.dynamo.client = LosesFirstAnswer(rig.dynamo.client)
            (row,) = records(1)
            assert isinstance(await rig.writer.write(row), Committed)
            assert await rig.item_status(row) == "Committed"

    anyio.run(go)


def test_a_crash_after_both_pending_writes_leaves_both_pending(settings: Settings) -> None:
    async def go() -> None:
        hook = crash_hook(lambda row: Fault.CRASH_BEFORE_COMMIT)
        async with open_rig(settings, crash=hook) as rig:
            (row,) = records(1)
            with pytest.raises(WriterCrashed):
                await rig.writer.write(row)
            assert await rig.sql_status(row["log_id"]) == "Pending"
            item = await rig.item(row)
            assert item is not None and item["WriteStatus"] == {"S": "Pending"}
            assert "GSI3PK" in item

    anyio.run(go)


def test_marking_sql_committed_failing_never_compensates(settings: Settings) -> None:
    async def go() -> None:
        wrap = lambda pg: FailingSql(pg, {"set_status": ["Committed"]})  # noqa: E731
        async with open_rig(settings, sql=wrap) as rig:
            (row,) = records(1)
            result = await rig.writer.write(row)
            assert isinstance(result, LeftPending) and result.step is Step.SQL_COMMIT
            assert await rig.sql_status(row["log_id"]) == "Pending"
            assert await rig.item_status(row) == "Pending"

    anyio.run(go)


def test_marking_dynamodb_committed_failing_never_compensates_or_deletes(
    settings: Settings,
) -> None:
    async def go() -> None:
        async with open_rig(settings) as rig:
            (row,) = records(1)
            rig.faulty.arm(rig.location(row), ClientFault.COMMIT_MARK_FAILED)
            result = await rig.writer.write(row)
            assert isinstance(result, LeftPending) and result.step is Step.DYNAMODB_COMMIT
            assert await rig.sql_status(row["log_id"]) == "Committed"
            assert await rig.item_status(row) == "Pending"

    anyio.run(go)


def test_a_key_taken_by_another_transaction_is_refused_and_left_alone(
    settings: Settings,
) -> None:
    async def go() -> None:
        async with open_rig(settings) as rig:
            (row,) = records(1)
            first = await rig.writer.write(row)
            assert isinstance(first, Committed)
            with pytest.raises(DuplicateRecord):
                await rig.writer.write(row)
            assert await rig.sql_status(row["log_id"]) == "Committed"
            item = await rig.item(row)
            assert item is not None and item["TransactionId"] == {"S": first.transaction_id}

    anyio.run(go)


def test_many_writes_run_concurrently_and_all_commit(settings: Settings) -> None:
    async def go() -> None:
        async with open_rig(settings) as rig:
            rows = records(60)
            results = await rig.writer.write_many(rows, concurrency=16)
            assert [r.key for r in results] == [r["log_id"] for r in rows]
            assert all(isinstance(r, Committed) for r in results)
            count = await rig.sql.pool.fetchval(
                "SELECT count(*) FROM integration_logs WHERE write_status = 'Committed'"
            )
            assert count == 60

    anyio.run(go)


def test_concurrent_commit_marks_commit_both_and_a_failed_mark_is_left_for_repair(
    settings: Settings,
) -> None:
    """`commit_marks = "concurrent"`: one round trip less; a failing SQL mark leaves SQL Pending
    while DynamoDB may already be Committed (never compensated), and repair finishes it."""
    from datetime import UTC, datetime, timedelta

    from monitor.repair.run import RepairRequest, run_repair

    async def go() -> None:
        wrap = lambda pg: FailingSql(pg, {"set_status": ["Committed"]}, times=3)  # noqa: E731
        async with open_rig(settings, sql=wrap) as rig:
            rig.writer.commit_marks = "concurrent"
            failing, fine, dynamo_failing = records(3)
            result = await rig.writer.write(failing)
            assert isinstance(result, LeftPending) and result.step is Step.SQL_COMMIT
            assert await rig.sql_status(failing["log_id"]) == "Pending"
            assert await rig.item_status(failing) == "Committed"

            assert isinstance(await rig.writer.write(fine), Committed)
            assert await rig.sql_status(fine["log_id"]) == "Committed"
            item = await rig.item(fine)
            assert item is not None and item["WriteStatus"] == {"S": "Committed"}
            assert "GSI3PK" not in item

            rig.faulty.arm(rig.location(dynamo_failing), ClientFault.COMMIT_MARK_FAILED)
            result = await rig.writer.write(dynamo_failing)
            assert isinstance(result, LeftPending) and result.step is Step.DYNAMODB_COMMIT
            assert await rig.sql_status(dynamo_failing["log_id"]) == "Committed"
            assert await rig.item_status(dynamo_failing) == "Pending"

            now = datetime.now(UTC)
            window = {"since": now - timedelta(minutes=1), "until": now + timedelta(seconds=1)}
            report = await run_repair(
                settings, RepairRequest(now=now + timedelta(minutes=10), apply=True, **window)
            )
            done = {a["key"]["log_id"]: a for a in report.as_json()["actions"]}
            assert set(done) == {failing["log_id"], dynamo_failing["log_id"]}
            assert {a["action"] for a in done.values()} == {"align_status"}
            for row in (failing, dynamo_failing):
                assert await rig.sql_status(row["log_id"]) == "Committed"
                assert await rig.item_status(row) == "Committed"

    anyio.run(go)
