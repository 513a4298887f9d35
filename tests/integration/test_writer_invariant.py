"""Random fault schedules over many records, on the real stores: the writer's invariant.

Hypothesis draws, for each record, what goes wrong at each of the writer's calls — a failure before
the call, a failure after it went through (its answer lost), a store that stays down — and where
the writer dies, if it does. After the writes:

- no record committed in both stores is ever deleted or marked compensated;
- every record ends in a state the checks (`orphans` + `counts`, run for real) classify exactly
  as CONTRACT §7 says for that state, and that state is one the writer's result allows.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.checks.registry import CheckRequest, run_check
from monitor.config import Settings
from monitor.errors import StoreUnavailable
from monitor.runtime import open_context
from monitor.writer.dual import Checkpoint, WriterCrashed
from monitor.writer.results import Committed, Compensated, LeftPending, Step
from tests.integration.writing import open_rig, records

pytestmark = [pytest.mark.services, pytest.mark.timeout(600)]

SQL_CALLS = ("insert_pending", "set_status:Committed", "set_status:Compensated", "delete_pending")
DYNAMO_CALLS = ("put_new", "set_status:Committed")
#: ok; fail before the call (once, or every time); go through and lose the answer (once).
ACTIONS = ("ok", "ok", "ok", "fail_once", "lost_once", "down")
ABANDONED = {"Compensated", "Failed"}

_examples = itertools.count()


@dataclass
class Schedule:
    sql: dict[str, str]
    dynamo: dict[str, str]
    crash: Checkpoint | None


schedules = st.builds(
    Schedule,
    sql=st.fixed_dictionaries({c: st.sampled_from(ACTIONS) for c in SQL_CALLS}),
    dynamo=st.fixed_dictionaries({c: st.sampled_from(ACTIONS) for c in DYNAMO_CALLS}),
    crash=st.sampled_from([None, None, None, *Checkpoint]),
)


@dataclass
class Injector:
    """Per-key schedules for the port wrappers; remembers which commits went through."""

    schedules: dict[Any, Schedule]
    used: set[tuple[Any, str]] = field(default_factory=set)
    committed: dict[str, set[Any]] = field(default_factory=lambda: {"sql": set(), "dynamo": set()})

    async def run(self, side: str, key: Any, call: str, go: Any) -> Any:
        schedule = self.schedules[key]
        action = (schedule.sql if side == "sql" else schedule.dynamo).get(call, "ok")
        first = (key, f"{side}:{call}") not in self.used
        self.used.add((key, f"{side}:{call}"))
        if action == "down" or (action == "fail_once" and first):
            raise StoreUnavailable(side, f"injected: {call} failed")
        result = await go()
        if call == "set_status:Committed" and result:
            self.committed[side].add(key)
        if action == "lost_once" and first:
            raise StoreUnavailable(side, f"injected: {call} answer lost")
        return result


class ScheduledSql:
    def __init__(self, inner: Any, injector: Injector) -> None:
        self.inner, self.injector = inner, injector

    async def insert_pending(self, row: Any, column: str) -> Any:
        key = row["log_id"]
        return await self.injector.run(
            "sql", key, "insert_pending", lambda: self.inner.insert_pending(row, column)
        )

    async def set_status(self, key: Any, column: str, tx: str, status: str, expected: Any) -> Any:
        return await self.injector.run(
            "sql",
            key,
            f"set_status:{status}",
            lambda: self.inner.set_status(key, column, tx, status, expected),
        )

    async def delete_pending(self, key: Any, column: str, tx: str) -> Any:
        return await self.injector.run(
            "sql", key, "delete_pending", lambda: self.inner.delete_pending(key, column, tx)
        )


class ScheduledDynamo:
    def __init__(self, inner: Any, injector: Injector, key_of_sk: Any) -> None:
        self.inner, self.injector, self.key_of_sk = inner, injector, key_of_sk

    def item_location(self, row: Any) -> Any:
        return self.inner.item_location(row)

    async def put_new(self, item: Any, attribute: str) -> Any:
        key = item["LogId"].value
        return await self.injector.run(
            "dynamo", key, "put_new", lambda: self.inner.put_new(item, attribute)
        )

    async def set_status(
        self, key: Any, attribute: str, tx: str, status: str, expected: Any
    ) -> Any:
        record = self.key_of_sk(key[1])
        return await self.injector.run(
            "dynamo",
            record,
            f"set_status:{status}",
            lambda: self.inner.set_status(key, attribute, tx, status, expected),
        )


def classify(sql: str | None, dynamo: str | None) -> str | None:
    """CONTRACT §7 and §4: the one finding the checks must report for this pair of states."""
    if sql is None and dynamo is None:
        return None
    if sql is None:
        return None if dynamo in ABANDONED else "missing_in_sql"
    if dynamo is None:
        return None if sql in ABANDONED else "missing_in_dynamodb"
    if sql == dynamo:
        return "stuck_pending" if sql == "Pending" else None
    return "status_divergence"


def allowed(
    outcome: object, compensation: str, commit_marks: str = "sequential"
) -> set[tuple[str | None, str | None]]:
    """The final states a writer outcome may leave (lost answers widen some of them; concurrent
    commit marks may have marked DynamoDB while the SQL mark failed)."""
    if isinstance(outcome, Committed):
        return {("Committed", "Committed")}
    if isinstance(outcome, Compensated):
        sql = None if compensation == "delete" else "Compensated"
        return {(sql, None), (sql, "Compensated")}
    if isinstance(outcome, LeftPending):
        both = {("Pending", "Committed"), ("Committed", "Committed")}
        return {
            Step.SQL_COMMIT: {("Pending", "Pending"), ("Committed", "Pending")}
            | (both if commit_marks == "concurrent" else set()),
            Step.DYNAMODB_COMMIT: {("Committed", "Pending"), ("Committed", "Committed")},
            Step.COMPENSATE: {("Pending", None), ("Pending", "Pending")},
        }[outcome.step]
    if outcome == Checkpoint.AFTER_SQL_INSERT:
        return {("Pending", None)}
    if outcome == Checkpoint.AFTER_DYNAMODB_PUT:
        return {("Pending", "Pending")}
    assert outcome == "store_error", outcome
    # The insert failed (perhaps after it went through), or the compensation's own retries
    # ran out after it went through (then the row is compensated or gone).
    return {(None, None), ("Pending", None)}


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    plans=st.lists(schedules, min_size=6, max_size=14),
    compensation=st.sampled_from(["soft", "delete"]),
    commit_marks=st.sampled_from(["sequential", "concurrent"]),
)
def test_no_committed_record_is_ever_compensated_and_every_state_is_classified(
    settings: Settings, plans: list[Schedule], compensation: Any, commit_marks: Any
) -> None:
    example = next(_examples)
    base = datetime(2026, 3, 1, tzinfo=UTC) + timedelta(hours=example)
    rows = records(len(plans), first_key=1 + 1000 * example, at=base)
    injector = Injector({row["log_id"]: plan for row, plan in zip(rows, plans, strict=True)})

    def crash(point: Checkpoint, row: Any) -> None:
        if injector.schedules[row["log_id"]].crash is point:
            raise WriterCrashed(point)

    async def go() -> tuple[dict[Any, object], dict[Any, tuple[str | None, str | None]], Any]:
        mapping = settings.table_mapping()

        def key_of_sk(sk: str) -> int:
            return int((mapping.sort_template.match(sk) or {})["log_id"])

        outcomes: dict[Any, object] = {}
        async with open_rig(
            settings,
            crash=crash,
            compensation=compensation,
            sql=lambda pg: ScheduledSql(pg, injector),
            dynamo_wrapper=lambda d: ScheduledDynamo(d, injector, key_of_sk),
        ) as rig:
            rig.writer.commit_marks = commit_marks

            async def one(row: dict[str, Any]) -> None:
                try:
                    outcomes[row["log_id"]] = await rig.writer.write(row)
                except WriterCrashed as exc:
                    outcomes[row["log_id"]] = exc.checkpoint
                except StoreUnavailable:
                    outcomes[row["log_id"]] = "store_error"

            async with anyio.create_task_group() as group:
                for row in rows:
                    group.start_soon(one, row)
            states = {
                row["log_id"]: (await rig.sql_status(row["log_id"]), await rig.item_status(row))
                for row in rows
            }
        request = CheckRequest(
            now=base + timedelta(hours=1), since=base, until=base + timedelta(minutes=1)
        )
        async with open_context(settings) as context:
            reports = [await run_check(name, context, request) for name in ("orphans", "counts")]
        return outcomes, states, reports

    outcomes, states, reports = anyio.run(go)
    reported: dict[Any, set[str]] = {}
    for report in reports:
        for finding in report.findings:
            reported.setdefault(finding.key, set()).add(str(finding.kind))

    for key, (sql, dynamo) in states.items():
        if key in injector.committed["sql"] and key in injector.committed["dynamo"]:
            assert (sql, dynamo) == ("Committed", "Committed"), (key, injector.schedules[key])
        assert (sql, dynamo) in allowed(outcomes[key], compensation, commit_marks), (
            key,
            outcomes[key],
            (sql, dynamo),
            injector.schedules[key],
        )
        expected = classify(sql, dynamo)
        assert reported.get(key, set()) == ({expected} if expected else set()), (
            key,
            (sql, dynamo),
        )
    assert set(reported) <= set(states)
