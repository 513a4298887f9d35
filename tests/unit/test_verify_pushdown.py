"""Planning a window from its fine-bucket counts and checksums (pure parts of the push-down)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.config import Settings
from monitor.core.checksum import checksum, key_status_hash
from monitor.model import KeyStatus
from monitor.verify.pushdown import WindowPlanner, fine_edges

T0 = datetime(2026, 1, 1, tzinfo=UTC)
MS = timedelta(milliseconds=1)


@given(
    minutes=st.integers(min_value=1, max_value=5000),
    count=st.integers(min_value=1, max_value=300),
)
def test_fine_edges_start_the_range_and_stay_inside_it_aligned(minutes: int, count: int) -> None:
    end = T0 + timedelta(minutes=minutes)
    edges = fine_edges(T0, end, count, MS)
    assert edges[0] == T0 and edges == sorted(set(edges))
    assert all(T0 <= e < end for e in edges)
    assert all((e - T0) % MS == timedelta(0) for e in edges)
    assert len(edges) <= count


def planner(slice_records: int) -> WindowPlanner:
    mapping = Settings().table_mapping()
    return WindowPlanner(SimpleNamespace(mapping=mapping), slice_records)  # type: ignore[arg-type]


@given(
    counts=st.lists(st.integers(min_value=0, max_value=400), min_size=1, max_size=40),
    slice_records=st.integers(min_value=100, max_value=600),
)
def test_merged_slices_tile_the_range_and_keep_every_count_and_checksum(
    counts: list[int], slice_records: int
) -> None:
    hi = T0 + timedelta(hours=1)
    starts = [*fine_edges(T0, hi, len(counts), MS), hi]
    buckets = {i: (counts[i], 7 * i) for i in range(len(starts) - 1)}
    slices = planner(slice_records)._merge(("S",), "LOG#S#2026-01-01", starts, buckets)
    assert slices[0].slice.start == T0 and slices[-1].slice.end == hi
    assert all(a.slice.end == b.slice.start for a, b in zip(slices, slices[1:], strict=False))
    assert sum(s.rows for s in slices) == sum(n for n, _ in buckets.values())
    assert sum(s.checksum for s in slices) == sum(c for _, c in buckets.values())
    # Every slice but the last reached the target; none carries more than one bucket past it.
    assert all(s.rows >= slice_records for s in slices[:-1])


def test_a_known_partition_without_sql_rows_still_gets_a_slice_per_day() -> None:
    plan = planner(500)
    lo, hi = T0 + timedelta(hours=20), T0 + timedelta(hours=28)
    pieces = list(plan.mapping.buckets(lo, hi))
    edges = [fine_edges(a, b, 4, MS) for a, b in pieces]
    rows: list[Any] = [(("A",), 1, 10, 99)]
    slices = plan._slices(pieces, edges, rows, frozenset({("A",), ("B",)}))
    by_pk = {(s.slice.pk, s.slice.start, s.slice.end): s.rows for s in slices}
    assert by_pk == {
        ("LOG#A#2026-01-01", lo, T0 + timedelta(days=1)): 10,
        ("LOG#B#2026-01-01", lo, T0 + timedelta(days=1)): 0,
        ("LOG#A#2026-01-02", T0 + timedelta(days=1), hi): 0,
        ("LOG#B#2026-01-02", T0 + timedelta(days=1), hi): 0,
    }


def test_the_hash_keeps_key_and_status_apart() -> None:
    assert key_status_hash("a|", "b") != key_status_hash("a", "|b")
    assert key_status_hash(12, "Committed") == key_status_hash("12", "Committed")
    assert checksum([KeyStatus(1, "x"), KeyStatus(2, None)]) == key_status_hash(
        1, "x"
    ) + key_status_hash(2, "")


@given(
    drop_sql=st.sets(st.integers(min_value=1, max_value=240), max_size=8),
    drop_dynamo=st.sets(st.integers(min_value=1, max_value=240), max_size=8),
    diverged=st.sets(st.integers(min_value=1, max_value=240), max_size=4),
    slice_records=st.integers(min_value=100, max_value=300),
)
@settings(max_examples=25, deadline=None)
def test_the_pushdown_finds_what_the_key_diff_of_every_slice_finds(
    drop_sql: set[int], drop_dynamo: set[int], diverged: set[int], slice_records: int
) -> None:
    """Over the in-memory ports: checksums only ever spare reads, never change the answer."""
    import anyio

    from monitor.checks.slices import Tally, plan_slices, reconcile_slices
    from monitor.runtime import open_memory_context
    from monitor.stores.memory import MemoryWorld
    from monitor.stores.wire import decode_item
    from monitor.verify.pushdown import PushdownStats, verify_slices
    from tests.integration.scenario import make_rows
    from tests.wire_items import wire_item

    # The answers are the subject, not the read budget: lifted, it never waits real time.
    config = Settings.model_validate({"dynamodb": {"max_read_units_per_second": 1e9}})
    mapping = config.table_mapping()
    rows = make_rows(240, start=T0 + timedelta(hours=20), step=timedelta(minutes=1))
    world = MemoryWorld(rows=[r for r in rows if r["log_id"] not in drop_sql])
    for row in rows:
        if row["log_id"] in drop_dynamo:
            continue
        item = wire_item(row, mapping)
        if row["log_id"] in diverged:
            item["WriteStatus"] = {"S": "Pending"}
        world.put_item(mapping, decode_item(item))
    window_ = (T0 + timedelta(hours=19), T0 + timedelta(hours=25))  # across midnight

    async def both() -> tuple[Tally, Tally, PushdownStats]:
        from monitor.model import Window

        window = Window(*window_)
        async with open_memory_context(config, world) as context:
            partitions = frozenset({(s,) for s in {r["service_name"] for r in rows}})
            plain, pushed = Tally(), Tally()
            limiter = anyio.CapacityLimiter(4)
            slices = await plan_slices(context.sql, mapping, window, partitions, slice_records)
            await reconcile_slices(context.sql, context.dynamo, slices, plain, limiter)
            planner = WindowPlanner(context.sql, slice_records)
            stats = PushdownStats()
            planned = await planner.plan(window, partitions)
            await verify_slices(context.sql, context.dynamo, planned, pushed, limiter, stats)
            return plain, pushed, stats

    plain, pushed, stats = anyio.run(both)

    def named(tally: Tally) -> set[tuple[str, Any, str | None]]:
        return {(str(f.kind), f.key, f.sk) for f in tally.findings}

    assert named(pushed) == named(plain)
    assert (pushed.sql, pushed.dynamodb, pushed.matched) == (
        plain.sql,
        plain.dynamodb,
        plain.matched,
    )
    if not (drop_sql or drop_dynamo or diverged):
        assert stats.diffed == 0
