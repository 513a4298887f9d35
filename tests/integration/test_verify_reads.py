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
