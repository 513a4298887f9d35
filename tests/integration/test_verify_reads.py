"""What `verify` asks DynamoDB for, counted on the real stores.

A (partition value, window) where PostgreSQL has no row is still read: one Query, never more.
It cannot be skipped safely: discovery knows which partition *values* exist in DynamoDB, not
on which days, so an item written only to DynamoDB on a day its partition has no SQL row (a
`missing_in_sql` of old history) is found by that Query alone.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import anyio

from monitor.config import Settings
from monitor.report import report_json
from monitor.runtime import open_context
from monitor.verify.online import VerifyRequest, verify_online
from tests.backends import make_settings
from tests.integration.scenario import SERVICES, make_rows, seed
from tests.integration.test_orphans import CountingClient
from tests.integration.test_verify import STEP, keys_of

FROM = datetime(2026, 1, 1, 8, tzinfo=UTC)
UNTIL = datetime(2026, 1, 3, 8, tzinfo=UTC)
WINDOWS = 24  # of 2 hours, each within one day (one partition key per value)
RARE = "RareService"


def test_a_partition_without_sql_rows_in_a_window_costs_one_query_and_finds_what_only_dynamodb_has(
    verify_settings: Settings,
) -> None:
    rows = make_rows(300, step=STEP)
    # One SQL row of a rare service on day 1; on day 2 an item of it only DynamoDB holds.
    rows[5]["service_name"] = RARE
    rows[200]["service_name"] = RARE
    only_dynamodb = rows[200]["log_id"]
    seed(verify_settings, rows, drop_from_sql={only_dynamodb})
    sql_pairs = {
        (int((r["log_timestamp"] - FROM).total_seconds() // 7200), r["service_name"])
        for r in rows
        if r["log_id"] != only_dynamodb
    }

    async def run() -> tuple[dict[str, Any], Counter[str]]:
        async with open_context(verify_settings) as context:
            counting = CountingClient(context.dynamo.client)
            context.dynamo.client = counting
            request = VerifyRequest(now=datetime.now(UTC), start=FROM, until=UNTIL)
            return report_json(await verify_online(context, request)), counting.calls

    report, calls = anyio.run(run)

    assert keys_of(report, "missing_in_sql") == {only_dynamodb}
    partitions = len(SERVICES) + 1
    # Every known partition value is read once per window, whether SQL has rows there or not:
    # no slice of an empty (partition, window) is split, and none is left out.
    assert calls["query"] == WINDOWS * partitions == report["summary"]["slices"]
    empty = WINDOWS * partitions - len(sql_pairs)
    assert empty > WINDOWS  # most of the rare service's windows, and the first hours of all
    assert calls["get_item"] == 0


def test_a_slice_reading_its_sql_keys_holds_no_dynamodb_slot(
    database: str, dynamo_endpoint: str
) -> None:
    """While PostgreSQL makes a differing slice's SQL read wait (its table locked), the other
    slices' DynamoDB Queries still run through a limiter of one slot: the slot is DynamoDB's."""
    import asyncpg

    # The blocked read must outlast the wait below on a loaded machine.
    verify_settings = make_settings(
        database, dynamo_endpoint, postgres={"statement_timeout": "90s"}
    )

    from monitor.checks.slices import Tally
    from monitor.model import Window
    from monitor.stores.postgres import quote_ident
    from monitor.verify.pushdown import PushdownStats, WindowPlanner, verify_slices
    from tests.integration.test_stream import wait_for

    rows = make_rows(300, step=STEP)
    dropped = rows[0]
    seed(verify_settings, rows, drop_from_dynamodb={dropped["log_id"]})
    window = Window(datetime(2026, 1, 1, 10, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC))
    table = quote_ident(verify_settings.table_mapping().sql_table)
    dsn = verify_settings.postgres.dsn.get_secret_value()

    async def waiting_on_the_lock(conn: asyncpg.Connection) -> int:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND datname = current_database()"
            )
        )

    async def run() -> tuple[Tally, int]:
        async with open_context(verify_settings) as context:
            counting = CountingClient(context.dynamo.client)
            context.dynamo.client = counting
            planner = WindowPlanner(context.sql, 10)
            planned = await planner.plan(window, frozenset((s,) for s in SERVICES))
            # The slice that differs (its item dropped from DynamoDB) goes first.
            planned.sort(
                key=lambda p: (
                    not (
                        p.slice.partition == (dropped["service_name"],)
                        and p.slice.start <= dropped["log_timestamp"] < p.slice.end
                    )
                )
            )
            assert len(planned) > 5
            limiter, tally = anyio.CapacityLimiter(1), Tally()
            locker, watcher = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
            try:
                await locker.execute("BEGIN")
                await locker.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
                async with anyio.create_task_group() as group:
                    group.start_soon(
                        verify_slices,
                        context.sql,
                        context.dynamo,
                        planned,
                        tally,
                        limiter,
                        PushdownStats(),
                    )
                    # Every slice's Query ran, every slot is free, the differing one still waits.
                    await wait_for(
                        lambda: (
                            counting.calls["query"] >= len(planned)
                            and limiter.borrowed_tokens == 0
                            and tally.slices_done == len(planned) - 1
                        ),
                        deadline=45,
                    )
                    assert await waiting_on_the_lock(watcher) == 1
                    await locker.execute("COMMIT")
            finally:
                await locker.close()
                await watcher.close()
            return tally, len(planned)

    tally, slices = anyio.run(run)

    assert tally.slices_done == slices
    assert {(str(f.kind), f.key) for f in tally.findings} == {
        ("missing_in_dynamodb", dropped["log_id"])
    }
