"""Field accuracy of a random sample: one verdict per sampled record, tallied per record.

Record-level (SEED-REVIEW #9): a record with three bad fields is one bad record, with each of
the three fields counted in `mismatches_by_field`. A sampled record missing in DynamoDB is bad
(SEED-REVIEW #8), never skipped. A value that cannot be read as its kind (bad JSON, a timestamp
without an offset) is an `invalid_data` finding; it makes the record bad unless both stores hold
the very same text — then the copy is faithful and the problem is the source's, which `quality`
reports (SEED-REVIEW #11: never a lenient string compare).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from monitor.core.compare import FieldSpec, compare_field
from monitor.core.item import Item
from monitor.core.mapping import MappingError, Record, TableMapping
from monitor.core.stats import Interval, interval_or_none
from monitor.core.thresholds import within_thresholds
from monitor.model import Finding, FindingKind, KeyValue

__all__ = [
    "Accurate",
    "AccuracyTally",
    "Verdict",
    "accuracy_ok",
    "interval_json",
    "judge_pair",
    "judge_unmappable",
    "rounded",
]


@dataclass(frozen=True, slots=True)
class Verdict:
    """What one sampled record contributes to the figures."""

    findings: tuple[Finding, ...] = ()
    bad: bool = False
    missing: bool = False
    #: Attributes that differ or cannot be read (each counted once for this record).
    bad_fields: tuple[str, ...] = ()


def _faithful(sql_value: object, dynamodb_value: object) -> bool:
    """Both stores hold the very same text or bytes (however invalid it is)."""
    return (
        isinstance(sql_value, str | bytes)
        and type(sql_value) is type(dynamodb_value)
        and sql_value == dynamodb_value
    )


def judge_unmappable(key: KeyValue, reason: str, *, attribute: str | None = None) -> Verdict:
    """A sampled SQL row that has no DynamoDB key at all (e.g. a NULL key-template column)."""
    finding = Finding(FindingKind.INVALID_DATA, key, field=attribute, detail=reason)
    return Verdict((finding,), bad=True)


def judge_pair(
    mapping: TableMapping,
    specs: Sequence[FieldSpec],
    record: Record,
    item: Item | None,
) -> Verdict:
    """Compare one sampled SQL record with its DynamoDB item (None: there is none)."""
    base = {"pk": record.pk, "sk": record.sk, "sql_status": record.status}
    if item is None:
        return Verdict(
            (Finding(FindingKind.MISSING_IN_DYNAMODB, record.key, **base),),
            bad=True,
            missing=True,
        )
    try:
        other = mapping.record_from_item(item)
    except MappingError as exc:
        finding = Finding(
            FindingKind.INVALID_DATA,
            record.key,
            field=mapping.key_attribute,
            detail=f"the item cannot be read: {exc}",
            **base,
        )
        return Verdict((finding,), bad=True)
    status = {"dynamodb_status": other.status}
    findings: list[Finding] = []
    bad_fields: list[str] = []
    bad = False
    if str(other.key) != str(record.key):
        bad = True
        findings.append(
            Finding(
                FindingKind.INVALID_DATA,
                record.key,
                field=mapping.key_attribute,
                detail=f"the item at this key holds another {mapping.key_attribute}",
                **base,
                **status,
            )
        )
    for spec in specs:
        sql_value = record.values.get(spec.column)
        dynamodb_value = other.values.get(spec.column)
        result = compare_field(spec, sql_value, dynamodb_value)
        if result.status == "equal":
            continue
        kind = (
            FindingKind.FIELD_MISMATCH if result.status == "mismatch" else FindingKind.INVALID_DATA
        )
        findings.append(
            Finding(kind, record.key, field=spec.attribute, detail=result.detail, **base, **status)
        )
        if kind is FindingKind.INVALID_DATA and _faithful(sql_value, dynamodb_value):
            continue
        bad = True
        bad_fields.append(spec.attribute)
    return Verdict(tuple(findings), bad=bad, bad_fields=tuple(bad_fields))


@dataclass(slots=True)
class AccuracyTally:
    """Running figures of a sample; `add` one verdict per sampled record."""

    fields: tuple[str, ...]
    sampled: int = 0
    bad: int = 0
    missing: int = 0
    invalid_records: int = 0
    by_field: dict[str, int] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    def __post_init__(self) -> None:
        # Every compared field is listed, zeros included, so dashboards see a stable set.
        self.by_field = dict.fromkeys(self.fields, 0) | self.by_field

    def add(self, verdict: Verdict) -> None:
        self.sampled += 1
        self.bad += verdict.bad
        self.missing += verdict.missing
        self.invalid_records += any(f.kind is FindingKind.INVALID_DATA for f in verdict.findings)
        for attribute in verdict.bad_fields:
            self.by_field[attribute] = self.by_field.get(attribute, 0) + 1
        self.findings.extend(verdict.findings)

    @property
    def good(self) -> int:
        return self.sampled - self.bad

    def interval(self) -> Interval | None:
        """Wilson 95 % interval of the share of good records; None for an empty sample."""
        return interval_or_none(self.good, self.sampled)


@runtime_checkable
class Accurate(Protocol):
    """Figures carrying a field accuracy (`sample`'s, and the stream's over changed records)."""

    @property
    def accuracy(self) -> Interval | None: ...


def rounded(interval: Interval | None, digits: int = 6) -> Interval | None:
    """The interval as a report carries it: each bound to `digits` places."""
    if interval is None:
        return None
    return Interval(
        round(interval.point, digits), round(interval.lower, digits), round(interval.upper, digits)
    )


def interval_json(interval: Interval | None, digits: int = 6) -> dict[str, float] | None:
    shown = rounded(interval, digits)
    if shown is None:
        return None
    return {"point": shown.point, "lower": shown.lower, "upper": shown.upper}


def accuracy_ok(
    interval: Interval | None, *, alert_below: float | None, alert_above: float | None = None
) -> bool:
    """False only when the data supports it: the whole 95 % interval is past the threshold.

    Thresholds are ratios (0.999). An empty sample proves nothing either way: ok.
    """
    if interval is None:
        return True
    return within_thresholds(
        interval.lower, interval.upper, alert_below=alert_below, alert_above=alert_above
    )
