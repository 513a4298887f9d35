"""What the demo found, scored against the generator's ground truth, and its closing summary
(pure, but for the repair report it reads)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from monitor.core.plan import RepairFigures, repair_figures
from monitor.model import CheckReport
from monitor.repair.run import RepairReport
from monitor.writer.generate import TruthEntry


def findings_by_key(reports: Iterable[CheckReport]) -> dict[Any, set[str]]:
    found: dict[Any, set[str]] = {}
    for report in reports:
        for finding in report.findings:
            found.setdefault(finding.key, set()).add(str(finding.kind))
    return found


def score(
    entries: Sequence[TruthEntry], found: Mapping[Any, set[str]], key_column: str
) -> dict[str, Any]:
    """Per fault kind injected vs found; every missed fault and every false finding, by key.

    A fault whose `expect` is null is found when nothing is reported for its key (its final
    states agree). A false finding is a reported key that is not in the truth file, or a fault
    whose states agree but was reported anyway.
    """
    injected: Counter[str] = Counter()
    hits: Counter[str] = Counter()
    missed: list[dict[str, Any]] = []
    false: list[dict[str, Any]] = []
    truth_keys = set()
    for entry in entries:
        truth_keys.add(entry.key)
        kind = str(entry.fault)
        injected[kind] += 1
        reported = found.get(entry.key, set())
        if entry.expect is None:
            if reported:
                false.append(
                    {"key": {key_column: entry.key}, "kinds": sorted(reported), "fault": kind}
                )
            else:
                hits[kind] += 1
        elif entry.expect in reported:
            hits[kind] += 1
        else:
            missed.append({"key": {key_column: entry.key}, "fault": kind, "expect": entry.expect})
    for key in sorted(set(found) - truth_keys, key=str):
        false.append({"key": {key_column: key}, "kinds": sorted(found[key]), "fault": None})
    return {
        "injected": dict(sorted(injected.items())),
        "found": {kind: hits[kind] for kind in sorted(injected)},
        "missed": missed,
        "false_findings": false,
    }


@dataclass
class Repaired:
    """The demo's ending: the repair of what the checks found, and every check after it."""

    report: RepairReport
    checks: list[CheckReport]

    @property
    def figures(self) -> RepairFigures:
        """What the repair did: its actions by result."""
        return repair_figures([r.result for r in self.report.results])

    @property
    def applied_by_action(self) -> dict[str, int]:
        """The applied actions by kind, in name order."""
        applied = (r.entry.action.action for r in self.report.results if r.result == "applied")
        return dict(sorted(Counter(str(a) for a in applied).items()))

    def summary(self) -> dict[str, Any]:
        """`repaired` (what the repair did, by action) for the demo's summary."""
        return self.figures.to_summary() | {"by_action": self.applied_by_action}

    def remaining(self) -> dict[Any, set[str]]:
        """Findings after the repair on records the repair did not leave as they are."""
        left = {r.entry.action.key for r in self.report.results if r.result == "left"}
        return {k: v for k, v in findings_by_key(self.checks).items() if k not in left}

    @property
    def agreement(self) -> bool:
        """Every check agrees after the repair, but on records it leaves as written (invalid
        data, identical in both stores)."""
        return self.report.ok and not self.remaining()


def summary_text(result: Mapping[str, Any], passed: bool, repaired: Repaired | None) -> str:
    lines = [f"\n{result['written']} records written through the dual writer.", ""]
    lines.append(f"{'fault':<24} {'injected':>8} {'found':>6}")
    for kind, count in result["injected"].items():
        lines.append(f"{kind:<24} {count:>8} {result['found'][kind]:>6}")
    for miss in result["missed"]:
        lines.append(f"MISSED {miss['fault']} {miss['key']} (expected {miss['expect']})")
    for false in result["false_findings"]:
        lines.append(f"FALSE FINDING {false['key']}: {', '.join(false['kinds'])}")
    alerts = result["alerts"]
    lines.append(
        f"alerts fired: {', '.join(alerts['fired']) or 'none'};"
        f" resolved: {', '.join(alerts['resolved']) or 'none'}"
    )
    if repaired is not None:
        figures = repaired.figures
        done = ", ".join(f"{n} {a}" for a, n in repaired.applied_by_action.items()) or "nothing"
        lines.append(
            f"repair applied {figures.applied} actions ({done}); left {figures.left}"
            " as written (invalid data, identical in both stores)"
        )
        lines.append(
            "after the repair every check agrees."
            if result["agreement_after_repair"]
            else "after the repair the checks still DISAGREE: "
            + "; ".join(
                f"{f['key']}: {', '.join(f['kinds'])}"
                for f in result.get("after_repair_findings", [])
            )
        )
    lines.append(
        "every injected fault was found, and nothing else; repaired to full agreement."
        if passed
        else "the checks did NOT find exactly the injected faults, or the repair did not end"
        " in agreement."
    )
    return "\n".join(lines)
