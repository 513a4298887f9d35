"""`read_units` is what one run read, even while other checks read through the same store."""

from __future__ import annotations

from datetime import UTC, datetime

import anyio

from monitor.checks.registry import REGISTRY, CheckRequest, run_check
from monitor.config import Settings
from monitor.runtime import open_context
from tests.conftest import make_settings
from tests.integration.scenario import make_rows, seed

REQUEST = CheckRequest(
    now=datetime.now(UTC),
    since=datetime(2026, 1, 1, 9, tzinfo=UTC),
    until=datetime(2026, 1, 1, 11, tzinfo=UTC),
)


def test_each_run_reports_its_own_reads_when_checks_overlap(
    database: str, dynamo_endpoint: str
) -> None:
    # A longer request timeout: four checks at once on a busy machine are slow, not down.
    settings: Settings = make_settings(
        database, dynamo_endpoint, dynamodb={"request_timeout": "30s"}
    )
    seed(settings, make_rows(150), drop_from_dynamodb={3, 99})

    async def alone() -> dict[str, float]:
        units = {}
        async with open_context(settings) as ctx:
            for name in REGISTRY:
                report = await run_check(name, ctx, REQUEST)
                units[name] = report.summary["read_units"]
        return units

    async def overlapping() -> tuple[dict[str, float], float]:
        units: dict[str, float] = {}
        async with open_context(settings) as ctx:
            before = ctx.dynamo.budget.consumed

            async def one(name: str) -> None:
                units[name] = (await run_check(name, ctx, REQUEST)).summary["read_units"]

            async with anyio.create_task_group() as group:
                for name in REGISTRY:
                    group.start_soon(one, name)
            return units, ctx.dynamo.budget.consumed - before

    solo = anyio.run(alone)
    together, total = anyio.run(overlapping)
    assert all(units > 0 for units in solo.values()), solo
    # Partition discovery runs once per process, so compare with the second, warmed-up pass.
    for name in REGISTRY:
        assert together[name] <= solo[name] + 1e-9, (name, together, solo)
    assert abs(sum(together.values()) - total) < 1e-6, (together, total)
