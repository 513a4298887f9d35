"""`check all`: one report per check, and `quality` and `sample` share one sample's reads."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import pytest

from monitor.checks.registry import REGISTRY, CheckRequest, run_check
from monitor.checks.sampling import SampleCache
from monitor.cli import main
from monitor.config import Settings
from monitor.runtime import open_context
from tests.integration.scenario import make_rows, seed, write_config

WINDOW = ["--since", "2026-01-01T09:00:00Z", "--until", "2026-01-01T11:00:00Z"]


class CountingClient:
    """Forwards to the real client, counting the BatchGetItem calls it answered.

    A call that timed out and was retried is the same read, not another one: counting attempts
    made this test fail whenever the local server was slow.
    """

    def __init__(self, real: Any) -> None:
        self.real = real
        self.batch_gets = 0

    async def batch_get_item(self, **params: Any) -> Any:
        response = await self.real.batch_get_item(**params)
        self.batch_gets += 1
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def test_quality_and_sample_share_one_read(settings: Settings) -> None:
    # 120 keys: two BatchGetItem calls per sample (100 + 20), each a second or more of moto CPU.
    seed(settings, make_rows(120), drop_from_dynamodb={7})
    request = CheckRequest(
        now=datetime.now(UTC),
        since=datetime(2026, 1, 1, 9, tzinfo=UTC),
        until=datetime(2026, 1, 1, 11, tzinfo=UTC),
    )

    async def scenario(shared: bool) -> tuple[int, dict[str, Any]]:
        async with open_context(settings) as ctx:
            client = CountingClient(ctx.dynamo.client)
            ctx.dynamo.client = client
            ctx.samples = SampleCache() if shared else None
            reports = {name: await run_check(name, ctx, request) for name in ("quality", "sample")}
            if shared:
                assert ctx.samples is not None and ctx.samples.hits == 1
            return client.batch_gets, {n: r.summary for n, r in reports.items()}

    alone, alone_summaries = anyio.run(scenario, False)
    together, together_summaries = anyio.run(scenario, True)
    assert alone == 2 * together == 4  # one sample read once instead of twice
    # The shared read gives the same figures (the window holds fewer records than sample_size).
    assert (
        together_summaries["sample"]["bad_records"] == alone_summaries["sample"]["bad_records"] == 1
    )
    assert together_summaries["sample"]["sampled"] == 120


def test_check_all_prints_one_report_per_check(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(settings, make_rows(120))
    config = write_config(tmp_path / "c.toml", settings)
    code = main(["check", "all", "--config", str(config), "--format", "json", *WINDOW])
    document = json.loads(capsys.readouterr().out)
    assert [r["check"] for r in document["checks"]] == list(REGISTRY)
    assert document["ok"] is all(r["ok"] for r in document["checks"])
    assert code == (0 if document["ok"] else 1)
