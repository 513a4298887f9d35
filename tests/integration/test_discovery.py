"""Discovery of DynamoDB-only partitions: the first pass runs whole, later passes are spread over
runs with a read budget each, resuming from cursors kept in the monitor's schema."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import anyio
import pytest

from monitor.checks import partitions
from monitor.checks.context import open_context
from monitor.checks.partitions import discover_partitions
from monitor.config import Settings
from monitor.writer.bulk import put_items
from monitor.writer.items import default_item
from tests.conftest import make_settings
from tests.integration.scenario import dynamo_client, make_rows

NOW = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)


def rows_for(service: str, count: int, first_key: int) -> list[dict[str, object]]:
    rows = make_rows(count, first_key=first_key)
    for row in rows:
        row["service_name"] = service
    return rows


async def put(settings: Settings, rows: list[dict[str, object]]) -> None:
    mapping = settings.table_mapping()
    async with dynamo_client(settings) as client:
        await put_items(client, settings.dynamodb.table, [default_item(r, mapping) for r in rows])


def test_passes_resume_across_runs_and_find_new_partitions(
    database: str, dynamo_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(
        database,
        dynamo_endpoint,
        dynamodb={"discovery_interval": "1h", "discovery_read_units_per_run": 0.5},
    )
    monkeypatch.setattr(partitions, "PAGE_LIMIT", 5)

    async def scenario() -> None:
        from monitor.setup import run_setup

        await run_setup(settings)
        await put(settings, [r for i in range(6) for r in rows_for(f"Svc{i}", 8, 1000 * i)])
        async with open_context(settings) as ctx:
            mapping = ctx.sql.mapping
            first = await discover_partitions(ctx.dynamo, ctx.state, mapping, NOW)
            # The first pass ever is not budgeted: it completes inline.
            assert first.values == {(f"Svc{i}",) for i in range(6)}
            assert first.last_run == NOW and first.progress is None

            # Not due yet: nothing is scanned.
            requests = ctx.dynamo.requests
            again = await discover_partitions(
                ctx.dynamo, ctx.state, mapping, NOW + timedelta(minutes=5)
            )
            assert ctx.dynamo.requests == requests and again.last_run == NOW

            await put(settings, rows_for("Retired", 3, 90_000))
            moment = NOW + timedelta(hours=1)
            seen_progress = []
            for _ in range(200):
                result = await discover_partitions(ctx.dynamo, ctx.state, mapping, moment)
                if result.progress is None:
                    break
                seen_progress.append(result.progress)
                # A pass in progress reports the previous complete pass.
                assert result.last_run == NOW
                moment += timedelta(minutes=5)
            else:
                pytest.fail("the discovery pass never completed")
            assert len(seen_progress) >= 2, "a budgeted pass should take several runs"
            assert seen_progress == sorted(seen_progress)
            assert ("Retired",) in result.values
            assert result.last_run == moment

    anyio.run(scenario)
