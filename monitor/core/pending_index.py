"""The pending index (CONTRACT §5): whether the table's index can serve the orphan check, and
the index partitions that cover a window, one Query each. Pure: the check hands in what
DescribeTable said."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from monitor.core.mapping import IndexMap, TableMapping
from monitor.core.timefmt import finest_granularity, next_bucket, truncate
from monitor.model import IndexInfo

#: Buckets a pending index's partition key may change by: one Query per bucket of the window.
_INDEX_BUCKETS = frozenset({"year", "month", "day", "hour", "minute"})


def index_problem(mapping: TableMapping, indexes: Sequence[IndexInfo]) -> str | None:
    """Why the pending index cannot be used with the table's indexes as described, or None."""
    index = mapping.pending_index
    if index is None:
        return (
            "no pending index is configured ([mapping] pending_index = false, or omitted for a"
            " table other than the default one)"
        )
    gsi = next((g for g in indexes if g.name == index.name), None)
    if gsi is None:
        return f"the pending index {index.name!r} does not exist on the table"
    if gsi.status != "ACTIVE":
        return f"the pending index {index.name!r} is {gsi.status}, not ACTIVE"
    schema = gsi.key_schema
    if schema != {"HASH": index.partition_key, "RANGE": index.sort_key}:
        return (
            f"the pending index {index.name!r} is keyed on {schema.get('HASH')}/"
            f"{schema.get('RANGE')}, not {index.partition_key}/{index.sort_key} as configured"
        )
    problem = _template_problem(index, mapping.timestamp_column)
    if problem is not None:
        return problem
    if gsi.projection_type != "ALL":
        projected = set(gsi.non_key_attributes) | {
            mapping.partition_key,
            mapping.sort_key,
            index.partition_key,
            index.sort_key,
        }
        lacking = sorted({mapping.key_attribute, mapping.status_attribute} - projected)
        if lacking:
            return f"the pending index {index.name!r} does not project {', '.join(lacking)}"
    return None


def _template_problem(index: IndexMap, timestamp_column: str) -> str | None:
    template = index.partition_template
    if template.columns != (timestamp_column,):
        return (
            f"the pending index's partition template {template.source!r} may use only"
            f" {{{timestamp_column}:...}}, so that its partitions can be enumerated by time"
        )
    if _finest_bucket(template.time_format) is None:
        return (
            f"the pending index's partition template {template.source!r} changes more often"
            " than every minute; use a date or an hour"
        )
    return None


def _finest_bucket(time_format: str | None) -> str | None:
    granularity = finest_granularity(time_format)
    return granularity if granularity in _INDEX_BUCKETS else None


def index_partitions(
    index: IndexMap, timestamp_column: str, start: datetime, end: datetime
) -> list[tuple[str, datetime, datetime]]:
    """(index partition value, bucket start, bucket end) covering `[start, end)`.

    With `PENDING#{ts:%Y-%m-%d}` that is one partition per day of the window. The caller
    checked the template with `index_problem`.
    """
    granularity = _finest_bucket(index.partition_template.time_format)
    if granularity is None:
        raise ValueError(f"unusable pending index template {index.partition_template.source!r}")
    out: list[tuple[str, datetime, datetime]] = []
    bucket = truncate(start, granularity)
    while bucket < end:
        following = next_bucket(bucket, granularity)
        low, high = max(bucket, start), min(following, end)
        if low < high:
            pk = index.partition_template.render({timestamp_column: low})
            out.append((pk, low, high))
        bucket = following
    return out
