"""Long windows: a `check` refuses a window beyond `[checks] max_window` (pointing to `verify`),
and whatever the window, orphans holds its pending records a batch at a time."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest

import monitor.checks.orphans as orphans_module
from monitor.checks.orphans import run_orphans
from monitor.cli import main
from monitor.config import Settings
from monitor.model import FindingKind, Window
from monitor.runtime import open_context
from tests.integration.scenario import BASE_TIME, make_rows, write_config
from tests.integration.test_orphans import store
from tests.wire_items import wire_item

BATCH = 40


@pytest.mark.parametrize("check", ["orphans", "counts", "sample", "quality", "all"])
def test_a_window_beyond_max_window_is_refused_pointing_to_verify(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str], check: str
) -> None:
    config = write_config(tmp_path / "c.toml", settings)
    code = main(["check", check, "--config", str(config), "--since", "0001-01-01T00:00:00Z"])
    err = capsys.readouterr().err
    assert code == 2
    assert "max_window" in err and "verify" in err and "unexpected" not in err


def test_orphans_holds_pending_records_a_batch_at_a_time(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(orphans_module, "PENDING_BATCH", BATCH)
    rows = make_rows(300, step=timedelta(seconds=1), status="Pending")
    mapping = settings.table_mapping()
    items = []
    for row in rows:
        item = wire_item(row, mapping)
        if row["log_id"] % 10 == 0:
            continue  # missing in DynamoDB
        if row["log_id"] % 10 == 1:
            item["WriteStatus"] = {"S": "Committed"}  # divergent; not in the pending index
            for attribute in ("GSI3PK", "GSI3SK"):
                item.pop(attribute, None)
        items.append(item)
    # DynamoDB-only pending items: judged by the DynamoDB direction.
    extra = make_rows(120, step=timedelta(seconds=1), first_key=10_000, status="Pending")
    items += [wire_item(row, mapping) for row in extra]
    store(settings, rows, items)

    held: list[int] = []

    def counted_batches(real: Any) -> Any:
        async def batches(
            start: datetime, end: datetime, size: int
        ) -> AsyncIterator[Sequence[Mapping[str, Any]]]:
            async for batch in real(start, end, size):
                held.append(len(batch))
                yield batch

        return batches

    async def go() -> Any:
        async with open_context(settings) as ctx:
            ctx.sql.pending_batches = counted_batches(ctx.sql.pending_batches)  # type: ignore[method-assign]
            window = Window(BASE_TIME - timedelta(hours=1), BASE_TIME + timedelta(hours=1))
            return await run_orphans(
                settings, ctx.sql, ctx.dynamo, ctx.state, window, datetime.now(UTC)
            )

    report = anyio.run(go)
    assert max(held) == BATCH and sum(held) == 300  # never more than a batch of rows at once
    kinds: dict[Any, set[int]] = {}
    for finding in report.findings:
        kinds.setdefault(finding.kind, set()).add(finding.key)
    assert kinds[FindingKind.MISSING_IN_DYNAMODB] == {
        r["log_id"] for r in rows if r["log_id"] % 10 == 0
    }
    assert kinds[FindingKind.STATUS_DIVERGENCE] == {
        r["log_id"] for r in rows if r["log_id"] % 10 == 1
    }
    expected_stuck = {r["log_id"] for r in rows if r["log_id"] % 10 not in (0, 1)}
    assert kinds[FindingKind.STUCK_PENDING] == expected_stuck
    assert kinds[FindingKind.MISSING_IN_SQL] == {r["log_id"] for r in extra}
    assert len(report.findings) == 300 + 120  # each record exactly once
