"""The sampler's draw (see `monitor.checks.sampling` for how it works): a uniform sample of a
window, in three statements on one connection."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from monitor.core.mapping import TableMapping
from monitor.core.sampling import SqlSample, keep_probability, pick_rows
from monitor.stores.postgres.driver import quote_ident, translate_errors
from monitor.stores.postgres.table import SqlTable


@dataclass(frozen=True, slots=True)
class SampleQueries:
    """The sampler's statements (see `monitor.checks.sampling` for how the draw works)."""

    #: $1 start, $2 end -> count
    count: str
    #: $1 start, $2 end, $3 keep-probability -> the kept records' timestamps
    draw: str
    #: $1 timestamps, $2 start, $3 end -> rows at those timestamps
    at: str
    #: $1 start, $2 end -> every row of the window (only used when it is small)
    every: str


def sample_queries(mapping: TableMapping, columns: Sequence[str]) -> SampleQueries:
    """The sampler's statements: identifiers quoted, every value a bound parameter."""
    table = quote_ident(mapping.sql_table)
    ts = quote_ident(mapping.timestamp_column)
    select = ", ".join(quote_ident(c) for c in dict.fromkeys(columns))
    window = f"{ts} >= $1 AND {ts} < $2"
    return SampleQueries(
        count=f"SELECT count(*) FROM {table} WHERE {window}",
        # random() is volatile: evaluated once per row of the index range, never sorted on.
        draw=f"SELECT {ts} FROM {table} WHERE {window} AND random() < $3",
        at=(
            f"SELECT {select} FROM {table}"
            f" WHERE {ts} = ANY($1::timestamptz[]) AND {ts} >= $2 AND {ts} < $3"
        ),
        every=f"SELECT {select} FROM {table} WHERE {window}",
    )


def _rows(records: Sequence[Any]) -> list[Mapping[str, Any]]:
    # asyncpg's Record reads like a Mapping (`row[name]`, `.get`).
    return cast(list[Mapping[str, Any]], list(records))


class SampleReads(SqlTable):
    """`sample_window`, the `SourceStore` port's sample."""

    async def sample_window(
        self,
        start: datetime,
        end: datetime,
        size: int,
        columns: Sequence[str],
        *,
        rng: random.Random,
        seed: float | None = None,
    ) -> SqlSample:
        """A uniform sample of the window: count, Bernoulli draw of timestamps, rows by timestamp.

        One connection for the whole draw, so `setseed` applies to the `random()` that follows.
        """
        queries = sample_queries(self.mapping, columns)
        async with translate_errors("sampling the window"), self.pool.acquire() as conn:
            population = int(await conn.fetchval(queries.count, start, end) or 0)
            if population <= size:
                rows = _rows(await conn.fetch(queries.every, start, end))
                if len(rows) > size:  # records arrived since the count
                    rows = rng.sample(rows, size)
                return SqlSample(rows, population, "all", 1.0)
            rate = keep_probability(population, size)
            if seed is not None:
                await conn.execute("SELECT setseed($1)", seed)
            kept = sorted(row[0] for row in await conn.fetch(queries.draw, start, end, rate))
            chosen = Counter(rng.sample(kept, min(size, len(kept))))
            rows = _rows(await conn.fetch(queries.at, sorted(chosen), start, end)) if chosen else []
        m = self.mapping
        picked = pick_rows(rows, chosen, m.timestamp_column, m.key_column, rng)
        return SqlSample(picked, population, "bernoulli", rate)
