"""The rollback's gap: the dynamo_only periods of a phase history, and the findings in them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.config import Settings
from monitor.core.phases import Phase
from monitor.migration.phase import PhaseChange
from monitor.model import Finding, FindingKind, Window
from monitor.repair.gap import dynamo_only_periods, keys_in_gap

T = datetime(2026, 1, 1, 10, tzinfo=UTC)
CACHE = timedelta(seconds=5)


def change(source: Phase | None, target: Phase, minutes: int) -> PhaseChange:
    return PhaseChange(source, target, T + timedelta(minutes=minutes), "t", {})


def test_each_dynamo_only_span_widened_by_the_phase_cache_and_the_open_one_up_to_now() -> None:
    history = [
        change(None, Phase.SQL_ONLY, 0),
        change(Phase.SQL_ONLY, Phase.DUAL_WRITE, 1),
        change(Phase.DUAL_WRITE, Phase.DYNAMO_READS, 2),
        change(Phase.DYNAMO_READS, Phase.DYNAMO_ONLY, 3),
        change(Phase.DYNAMO_ONLY, Phase.DYNAMO_READS, 4),
        change(Phase.DYNAMO_READS, Phase.DYNAMO_ONLY, 6),
    ]
    now = T + timedelta(minutes=9)
    assert dynamo_only_periods(history, CACHE, now) == [
        Window(T + timedelta(minutes=3), T + timedelta(minutes=4) + CACHE),
        Window(T + timedelta(minutes=6), now),
    ]
    assert dynamo_only_periods(history[:3], CACHE, now) == []


def test_only_missing_in_sql_findings_whose_sort_key_is_in_a_period() -> None:
    mapping = Settings().table_mapping()
    period = Window(T + timedelta(minutes=3), T + timedelta(minutes=4))

    def finding(key: int, minute: float, kind: FindingKind = FindingKind.MISSING_IN_SQL) -> Finding:
        moment = T + timedelta(minutes=minute)
        sk = f"{moment:%Y-%m-%dT%H:%M:%S.%fZ}#{key}"
        return Finding(kind, key, sk=sk)

    found = [
        finding(1, 2.9),
        finding(2, 3.0),
        finding(3, 3.5),
        finding(4, 4.0),
        finding(5, 3.5, FindingKind.MISSING_IN_DYNAMODB),
    ]
    assert keys_in_gap(found, mapping, [period]) == {2, 3}
