"""What one verified window found, and its exact JSON form for the checkpoint (pure).

A window read back from the checkpoint equals the one written: keys keep their type (a bigint
stays an exact integer, a text key stays text), so a resumed run names the same findings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from monitor.model import Finding, FindingKind, Window

_OPTIONAL = ("pk", "sk", "sql_status", "dynamodb_status", "field", "rule", "detail")


@dataclass(frozen=True, slots=True)
class WindowResult:
    window: Window
    sql: int
    dynamodb: int
    matched: int
    agreed_absent: int
    slices: int
    read_units: float
    findings: tuple[Finding, ...] = ()
    #: Slices found equal by count and checksum, whose SQL keys were never read.
    slices_equal: int = 0
    #: The window's field sample (`[verify] sample_fraction`): records compared, bad ones, and
    #: bad records per attribute.
    sampled: int = 0
    sample_bad: int = 0
    sample_by_field: Mapping[str, int] = field(default_factory=dict)

    def tally_json(self) -> dict[str, Any]:
        return {
            "sql": self.sql,
            "dynamodb": self.dynamodb,
            "matched": self.matched,
            "agreed_absent": self.agreed_absent,
            "slices": self.slices,
            "read_units": self.read_units,
            "slices_equal": self.slices_equal,
            "sampled": self.sampled,
            "sample_bad": self.sample_bad,
            "sample_by_field": dict(self.sample_by_field),
        }

    @classmethod
    def from_json(
        cls, window: Window, tally: Mapping[str, Any], findings: Iterable[Mapping[str, Any]]
    ) -> WindowResult:
        return cls(
            window,
            sql=int(tally["sql"]),
            dynamodb=int(tally["dynamodb"]),
            matched=int(tally["matched"]),
            agreed_absent=int(tally["agreed_absent"]),
            slices=int(tally["slices"]),
            read_units=float(tally["read_units"]),
            findings=tuple(finding_from_json(f) for f in findings),
            slices_equal=int(tally.get("slices_equal", 0)),
            sampled=int(tally.get("sampled", 0)),
            sample_bad=int(tally.get("sample_bad", 0)),
            sample_by_field={
                str(k): int(v) for k, v in dict(tally.get("sample_by_field", {})).items()
            },
        )


def finding_to_json(finding: Finding) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": str(finding.kind), "key": finding.key}
    for name in _OPTIONAL:
        value = getattr(finding, name)
        if value is not None:
            out[name] = value
    return out


def finding_from_json(data: Mapping[str, Any]) -> Finding:
    key = data["key"]
    if not isinstance(key, int | str) or isinstance(key, bool):
        raise ValueError(f"a checkpointed finding has an unreadable key: {type(key).__name__}")
    return Finding(
        FindingKind(data["kind"]), key, **{n: data[n] for n in _OPTIONAL if data.get(n) is not None}
    )
