"""The phase order, gates and rollback steps as pure values."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from monitor.core.phases import GATES, ORDER, Phase, gate_move


def test_the_four_phases_in_order() -> None:
    assert [str(p) for p in ORDER] == ["sql_only", "dual_write", "dynamo_reads", "dynamo_only"]
    assert Phase.SQL_ONLY.previous is None
    assert Phase.DYNAMO_ONLY.following is None


@given(st.sampled_from(ORDER))
def test_previous_and_following_are_inverse(phase: Phase) -> None:
    if phase.following is not None:
        assert phase.following.previous is phase
    if phase.previous is not None:
        assert phase.previous.following is phase


@given(st.sampled_from(sorted(GATES)), st.sampled_from(ORDER))
def test_a_gate_moves_exactly_one_step_into_its_phase(gate: str, current: Phase) -> None:
    move = gate_move(gate, current)
    if current.following is GATES[gate]:
        assert move == (current, GATES[gate])
    else:
        assert isinstance(move, str)
        assert str(current) in move


def test_writes_and_reads_follow_the_phase() -> None:
    assert (Phase.SQL_ONLY.writes_sql, Phase.SQL_ONLY.writes_dynamodb) == (True, False)
    assert (Phase.DUAL_WRITE.writes_sql, Phase.DUAL_WRITE.writes_dynamodb) == (True, True)
    assert Phase.DYNAMO_READS.reads_dynamodb and not Phase.DUAL_WRITE.reads_dynamodb
    assert (Phase.DYNAMO_ONLY.writes_sql, Phase.DYNAMO_ONLY.writes_dynamodb) == (False, True)
    assert [p.sql_is_authoritative for p in ORDER] == [True, True, True, False]
