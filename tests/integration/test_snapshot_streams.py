"""The snapshot's COPY streams split the table by its pages: together they read every row of
the range once, however many streams, whatever the key's type."""

from __future__ import annotations

import csv
from datetime import timedelta
from pathlib import Path

import anyio
import asyncpg
import pytest

from monitor.config import Settings
from monitor.stores.pg_snapshot import export_snapshot, table_pages
from tests.bulk_history import BASE, NOT_IN_SQL, STEP_MS, load_sql

ROWS = 3_000  # ~300-byte rows: well over a hundred pages, so every stream has pages of its own


@pytest.mark.parametrize("streams", [1, 2, 3, 7])
def test_the_streams_read_every_row_of_the_range_once(
    settings: Settings, tmp_path: Path, streams: int
) -> None:
    anyio.run(load_sql, settings, ROWS)
    start = BASE + timedelta(milliseconds=STEP_MS * 100)  # rows 100 .. 2,899: a range, not all
    end = BASE + timedelta(milliseconds=STEP_MS * 2_900)
    mapping = settings.table_mapping()

    async def pages() -> int:
        conn = await asyncpg.connect(settings.postgres.dsn.get_secret_value())
        try:
            return await table_pages(conn, "integration_logs")
        finally:
            await conn.close()

    assert anyio.run(pages) > 2 * 7
    snapshot = anyio.run(
        lambda: export_snapshot(
            settings.postgres,
            mapping,
            tmp_path / "sql",
            start=start,
            end=end,
            streams=streams,
            render_keys=False,
        )
    )
    assert len(snapshot.files) == streams
    keys: list[int] = []
    for path in snapshot.files:
        with path.open(newline="") as stream:
            keys += [int(row[0]) for row in csv.reader(stream)]
        assert path.stat().st_size > 0  # each stream read rows of its own
    want = [i for i in range(100, 2_900) if i % NOT_IN_SQL]
    assert sorted(keys) == want
