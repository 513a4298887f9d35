"""The decisions around a phase switch: which checks stop, and the verdict on the traffic."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from monitor.checks.registry import REGISTRY
from monitor.core.phases import Phase
from monitor.core.switch import Traffic, after_switch, stop_reason


def test_only_dynamo_only_stops_checks_that_need_sql_writes() -> None:
    for phase in Phase:
        stopped = {n for n, s in REGISTRY.items() if stop_reason(phase, s.needs_sql_writes)}
        assert stopped == ({"counts", "sample", "quality"} if phase is Phase.DYNAMO_ONLY else set())
    assert stop_reason(Phase.DYNAMO_ONLY, "") is None


def test_the_verdicts() -> None:
    assert after_switch(Phase.DYNAMO_ONLY, Traffic(0, 20, 20), 10)[0] == "passed"
    assert after_switch(Phase.DYNAMO_ONLY, Traffic(0, 9, 9), 10)[0] == "wait"
    verdict, detail = after_switch(Phase.DYNAMO_ONLY, Traffic(1, 50, 49), 10)
    assert verdict == "failed" and "a writer still writes SQL" in detail
    assert after_switch(Phase.DYNAMO_READS, Traffic(20, 20, 0), 10)[0] == "passed"
    assert after_switch(Phase.DYNAMO_READS, Traffic(20, 19, 1), 10)[0] == "failed"
    assert after_switch(Phase.DUAL_WRITE, Traffic(3, 3, 0), 10)[0] == "wait"
    assert after_switch(Phase.SQL_ONLY, Traffic(5, 1, 1), 1)[0] == "failed"


counts = st.integers(min_value=0, max_value=10_000)


@given(st.sampled_from(list(Phase)), counts, counts, counts, st.integers(1, 10_000))
def test_a_verdict_never_passes_on_writes_to_a_store_the_phase_does_not_write(
    phase: Phase, sql: int, dynamo: int, findings: int, wanted: int
) -> None:
    verdict, _ = after_switch(phase, Traffic(sql, dynamo, findings), wanted)
    if verdict == "passed":
        assert phase.writes_sql or sql == 0
        assert phase.writes_dynamodb or dynamo == 0
        assert max(sql, dynamo) >= wanted
        if phase.writes_sql and phase.writes_dynamodb:
            assert findings == 0
