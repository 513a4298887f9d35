"""The sampler's arithmetic: how likely each record is kept, and how the kept ones are picked.

The stores draw the sample (`SourceStore.sample_window`); the choice of probability and the
final uniform pick among the drawn rows are here, pure, so every store samples alike.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class SqlSample:
    rows: list[Mapping[str, Any]]
    #: Records in the window (the count the probability was computed from).
    window_records: int
    #: "all" (the window was small) or "bernoulli".
    method: str
    #: The keep-probability used (1.0 for "all").
    rate: float


def keep_probability(population: int, wanted: int) -> float:
    """Per-record probability that leaves at least `wanted` of `population` with near certainty.

    The kept count is Binomial(N, p); asking for n + 4·√n + 10 on average puts a shortfall more
    than four standard deviations away (then the sample is merely a little smaller, and says so).
    """
    if population <= 0 or wanted <= 0:
        return 0.0
    return min(1.0, (wanted + 4.0 * math.sqrt(wanted) + 10.0) / population)


def key_order(key: object) -> tuple[str, str]:
    """A total order over keys of mixed types (int and text keys never compare directly)."""
    return (type(key).__name__, str(key).zfill(40))


def pick_rows(
    rows: Sequence[Mapping[str, Any]],
    wanted: Mapping[datetime, int],
    timestamp_column: str,
    key_column: str,
    rng: random.Random,
) -> list[Mapping[str, Any]]:
    """From the rows at the chosen timestamps, as many per timestamp as were chosen there.

    Rows that share a timestamp are interchangeable to the Bernoulli draw, so picking among
    them at random keeps the sample uniform.
    """
    by_time: defaultdict[datetime, list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        by_time[row[timestamp_column]].append(row)
    picked: list[Mapping[str, Any]] = []
    for moment in sorted(wanted):
        group = sorted(by_time.get(moment, ()), key=lambda r: key_order(r[key_column]))
        picked += rng.sample(group, min(wanted[moment], len(group)))
    return picked
