"""Field sampling per window (`[verify] sample_fraction`, `verify --sample-fraction F`).

The key diff proves every key and status; fields are compared on a random share of each
window's SQL records, drawn and judged exactly as `check sample` draws and judges its window
(`monitor.checks.sampling`): a Bernoulli draw on the window's index range, counterparts read by
`BatchGetItem` through the run's read budget, and the same comparators. Each window's sample
size is the fraction of its SQL rows (the push-down aggregate already counted them), rounded at
random so that over the whole history every record is compared with the same probability: the
pooled sample is a uniform sample of the history, and its accuracy carries a Wilson interval.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from monitor.checks.sampling import draw_sample, judge_sampled, with_counterparts
from monitor.config import Settings, field_specs
from monitor.model import Finding, Window
from monitor.stores.ports import SourceStore, TargetStore


@dataclass(frozen=True, slots=True)
class WindowSample:
    """What the field sample of one window found."""

    sampled: int = 0
    #: Sampled records missing, unreadable, or with any field not equal.
    bad: int = 0
    by_field: Mapping[str, int] = field(default_factory=dict)
    findings: tuple[Finding, ...] = ()


def sample_size(records: int, fraction: float, rng: random.Random) -> int:
    """`fraction` of `records`, rounded up or down at random (exact in expectation)."""
    exact = records * fraction
    whole = math.floor(exact)
    return min(records, whole + (rng.random() < exact - whole))


async def sample_window_fields(
    settings: Settings,
    sql: SourceStore,
    dynamo: TargetStore,
    window: Window,
    records: int,
    fraction: float,
    rng: random.Random,
) -> WindowSample:
    size = sample_size(records, fraction, rng)
    if size <= 0:
        return WindowSample()
    mapping = sql.mapping
    specs = field_specs(settings.mapping.fields, "mapping.fields")
    columns = (*mapping.row_columns, *(s.column for s in specs))
    projection = (mapping.key_attribute, mapping.status_attribute, *(s.attribute for s in specs))
    sample = await draw_sample(sql, window, size, columns, rng=rng)
    pairs = await with_counterparts(dynamo, mapping, sample.rows, projection)
    tally, _ = judge_sampled(mapping, specs, pairs)
    return WindowSample(tally.sampled, tally.bad, dict(tally.by_field), tuple(tally.findings))


def merged_findings(diffed: Iterable[Finding], sampled: Iterable[Finding]) -> list[Finding]:
    """The key diff's findings, then the sample's that say something new: a sampled record
    missing in DynamoDB is already named by the diff, once."""
    out = list(diffed)
    seen = {(f.kind, f.key, f.field) for f in out}
    for finding in sampled:
        if (finding.kind, finding.key, finding.field) not in seen:
            seen.add((finding.kind, finding.key, finding.field))
            out.append(finding)
    return out
