"""The repair plan as a pure function of findings and the phase (CONTRACT §8)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from monitor.core.mapping import StatusValues
from monitor.core.phases import ORDER, Phase
from monitor.core.plan import Action, plan_repairs, summarize
from monitor.model import Finding, FindingKind

S = StatusValues()
P, C, F, X = S.pending, S.committed, S.failed, S.compensated


def one(finding: Finding, phase: Phase = Phase.DUAL_WRITE, **kw: object) -> tuple[Action, str]:
    (action,) = plan_repairs([finding], phase, S, **kw)  # type: ignore[arg-type]
    return action.action, action.reason


def test_each_finding_kind_gets_its_action() -> None:
    missing = Finding(FindingKind.MISSING_IN_DYNAMODB, 1, sql_status=P)
    assert one(missing) == (Action.PUT_FROM_SQL, "pending in SQL past grace, no item")
    lost = Finding(FindingKind.MISSING_IN_DYNAMODB, 1, sql_status=C)
    assert one(lost)[0] is Action.PUT_FROM_SQL
    assert one(Finding(FindingKind.STUCK_PENDING, 2, sql_status=P, dynamodb_status=P))[0] is (
        Action.COMPLETE_COMMIT
    )
    orphan = Finding(FindingKind.MISSING_IN_SQL, 3, dynamodb_status=C)
    assert one(orphan)[0] is Action.COMPENSATE_ITEM
    assert one(orphan, dynamodb_only="delete")[0] is Action.DELETE_ITEM
    mismatch = Finding(FindingKind.FIELD_MISMATCH, 4, field="LogType")
    assert one(mismatch)[0] is Action.REWRITE_FROM_SQL
    invalid = Finding(FindingKind.INVALID_DATA, 5, field="RequestData")
    action, reason = one(invalid)
    assert action is Action.LEAVE and "not repairable here" in reason


def test_status_divergence_finishes_the_pending_side_or_follows_the_authority() -> None:
    marked = Finding(FindingKind.STATUS_DIVERGENCE, 1, sql_status=C, dynamodb_status=P)
    (a,) = plan_repairs([marked], Phase.DUAL_WRITE, S)
    assert (a.action, a.side, a.target_status) == (Action.ALIGN_STATUS, "dynamodb", C)
    reverse = Finding(FindingKind.STATUS_DIVERGENCE, 1, sql_status=P, dynamodb_status=C)
    (a,) = plan_repairs([reverse], Phase.DUAL_WRITE, S)
    assert (a.side, a.target_status) == ("sql", C)
    finals = Finding(FindingKind.STATUS_DIVERGENCE, 1, sql_status=F, dynamodb_status=C)
    (a,) = plan_repairs([finals], Phase.DYNAMO_READS, S)
    assert (a.side, a.target_status) == ("dynamodb", F)
    (a,) = plan_repairs([finals], Phase.DYNAMO_ONLY, S)
    assert a.action is Action.LEAVE  # DynamoDB is authoritative and SQL is no longer written


def test_dynamo_only_never_writes_sql_and_sql_only_never_writes_dynamodb() -> None:
    assert one(Finding(FindingKind.MISSING_IN_SQL, 1, dynamodb_status=C), Phase.DYNAMO_ONLY)[0] is (
        Action.LEAVE
    )
    assert one(Finding(FindingKind.FIELD_MISMATCH, 1, field="x"), Phase.DYNAMO_ONLY)[0] is (
        Action.LEAVE
    )
    assert one(Finding(FindingKind.MISSING_IN_DYNAMODB, 1, sql_status=C), Phase.SQL_ONLY)[0] is (
        Action.LEAVE
    )


def test_one_repair_per_key_the_strongest_wins_and_leaves_stay() -> None:
    findings = [
        Finding(FindingKind.STATUS_DIVERGENCE, 7, sql_status=C, dynamodb_status=P),
        Finding(FindingKind.FIELD_MISMATCH, 7, field="LogType"),
        Finding(FindingKind.FIELD_MISMATCH, 7, field="StatusCode"),
        Finding(FindingKind.INVALID_DATA, 7, field="RequestData"),
    ]
    actions = plan_repairs(findings, Phase.DUAL_WRITE, S)
    assert [a.action for a in actions] == [Action.LEAVE, Action.REWRITE_FROM_SQL]


kinds = st.sampled_from(list(FindingKind))
statuses = st.sampled_from([P, C, F, X, None])
findings_strategy = st.lists(
    st.builds(
        Finding,
        kind=kinds,
        key=st.one_of(st.integers(-(2**63), 2**63), st.text(max_size=5)),
        sql_status=statuses,
        dynamodb_status=statuses,
        field=st.none() | st.just("LogType"),
    ),
    max_size=30,
)


@given(findings_strategy, st.sampled_from(ORDER))
def test_plan_properties(findings: list[Finding], phase: Phase) -> None:
    plan = plan_repairs(findings, phase, S)
    repairing = [a for a in plan if a.action is not Action.LEAVE]
    assert len({a.key for a in repairing}) == len(repairing)  # at most one repair per key
    assert {a.key for a in plan} == {f.key for f in findings}  # every finding is answered
    assert plan == plan_repairs(list(reversed(findings)), phase, S)  # order does not matter
    for a in plan:
        if phase is Phase.DYNAMO_ONLY:
            assert a.action not in (Action.PUT_FROM_SQL, Action.REWRITE_FROM_SQL) or (
                a.finding is FindingKind.MISSING_IN_DYNAMODB
            )
            assert a.action is not Action.COMPLETE_COMMIT
            assert a.side != "sql"
        if phase is Phase.SQL_ONLY:
            assert a.action not in (Action.PUT_FROM_SQL,)
        if a.action is Action.LEAVE:
            assert a.reason


def test_summary_counts_results() -> None:
    assert summarize(["planned", "applied", "applied", "skipped_changed", "failed", "left"]) == {
        "planned": 1,
        "applied": 2,
        "skipped": 1,
        "failed": 1,
        "left": 1,
    }


def test_the_rollback_gap_is_copied_back_never_compensated() -> None:
    orphan = Finding(FindingKind.MISSING_IN_SQL, 3, dynamodb_status=C)
    gap = frozenset({3})
    assert one(orphan, Phase.DYNAMO_READS, sql_gap=gap)[0] is Action.COPY_TO_SQL
    assert one(orphan, Phase.DUAL_WRITE, sql_gap=gap, dynamodb_only="delete")[0] is (
        Action.COPY_TO_SQL
    )
    action, reason = one(orphan, Phase.DYNAMO_READS, sql_gap=gap, copy_back=False)
    assert action is Action.LEAVE and "default data model" in reason
    assert one(orphan, Phase.DYNAMO_ONLY, sql_gap=gap)[0] is Action.LEAVE  # SQL not written
    assert one(orphan, Phase.DYNAMO_READS)[0] is Action.COMPENSATE_ITEM  # outside the gap
