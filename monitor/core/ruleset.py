"""The rules of CONTRACT §6: their names, the figures they read, and how `[alerts.thresholds]`
becomes them. How one rule goes from an observation to a notification is `monitor.core.rules`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Final

from monitor.core.rules import Direction, RuleSpec

STORE_UNREACHABLE: Final = "store_unreachable"
COUNT_VARIANCE: Final = "count_variance"
CHECK_FAILED_PREFIX: Final = "check_failed:"


def runbook_link(template: str, rule: str) -> str:
    """The runbook URL for `rule` (`{rule}` becomes its name, the runbook's anchor for it)."""
    return template.replace("{rule}", rule)


#: `[alerts.thresholds]` key -> the figure its rule reads (the CONTRACT §5 instrument).
THRESHOLD_METRICS: Final[Mapping[str, str]] = {
    "data_consistency": "dualwrite.consistency",
    "write_success_rate": "dualwrite.write_success",
    "orphaned_records": "dualwrite.orphan_ratio",
    "field_accuracy": "dualwrite.field_accuracy",
    "transaction_completion": "dualwrite.transaction_completion",
}
COUNT_VARIANCE_METRIC: Final = "dualwrite.count_variance"
#: Not instruments: figures the daemon derives (failed runs in a row; 1 while a store is down).
CHECK_FAILURES_METRIC: Final = "dualwrite.check.consecutive_failures"
STORE_UNREACHABLE_METRIC: Final = "dualwrite.store_unreachable"

#: Only field accuracy is estimated from a sample; consistency comes from exact counts.
_SAMPLED: Final = frozenset({"field_accuracy"})


def rules_from_thresholds(
    thresholds: Mapping[str, Mapping[str, float]],
    *,
    count_threshold_percent: float,
    failure_runs: int,
    checks: Sequence[str],
    hold_runs: int = 1,
) -> list[RuleSpec]:
    """The rules of CONTRACT §6, `store_unreachable` first (it decides who is inhibited).

    `thresholds` is `[alerts.thresholds]`: each entry `{target, alert_below}` or `{target,
    alert_above}` in percent, turned into ratios here. Then `count_variance` (above
    `count_threshold_percent` / 100) and one `check_failed:<check>` per check, whose figure is
    the number of failed runs in a row: it fires at `failure_runs`. `hold_runs` applies to the
    data rules and to `store_unreachable` (one transient failure must not page); the
    `check_failed` rules count runs themselves. Every rule but `store_unreachable` depends on
    the stores: while it fires, a failing check is its symptom, not news.
    """
    if failure_runs < 1:
        raise ValueError(f"failure_runs must be at least 1, not {failure_runs}")
    _check_percent("checks.counts.threshold_percent", count_threshold_percent)
    rules = [
        RuleSpec(
            name=STORE_UNREACHABLE,
            metric=STORE_UNREACHABLE_METRIC,
            direction="above",
            threshold=0.5,
            hold_runs=hold_runs,
        )
    ]
    for name in thresholds:
        if name not in THRESHOLD_METRICS:
            known = ", ".join(THRESHOLD_METRICS)
            raise ValueError(f"alerts.thresholds.{name}: unknown rule (known: {known})")
    # The contract's order, not the file's, so rule order is stable across configs.
    for name, metric in THRESHOLD_METRICS.items():
        if name in thresholds:
            direction, threshold, target = _parse_threshold(name, thresholds[name])
            rules.append(
                RuleSpec(
                    name=name,
                    metric=metric,
                    direction=direction,
                    threshold=threshold,
                    target=target,
                    hold_runs=hold_runs,
                    sampled=name in _SAMPLED,
                    depends_on_store=True,
                )
            )
    rules.append(
        RuleSpec(
            name=COUNT_VARIANCE,
            metric=COUNT_VARIANCE_METRIC,
            direction="above",
            threshold=count_threshold_percent / 100,
            hold_runs=hold_runs,
            depends_on_store=True,
        )
    )
    # dict.fromkeys: a check listed twice would give two rules sharing one name and one state.
    rules.extend(
        RuleSpec(
            name=f"{CHECK_FAILED_PREFIX}{check}",
            metric=CHECK_FAILURES_METRIC,
            direction="above",
            # Failure counts are integers: strictly above N - 0.5 means at N failures.
            threshold=failure_runs - 0.5,
            depends_on_store=True,
        )
        for check in dict.fromkeys(checks)
    )
    return rules


def _check_percent(key: str, value: float) -> None:
    if not (math.isfinite(value) and 0 <= value <= 100):
        raise ValueError(f"{key}: must be a percentage between 0 and 100, not {value!r}")


def _parse_threshold(
    name: str, entry: Mapping[str, float]
) -> tuple[Direction, float, float | None]:
    key = f"alerts.thresholds.{name}"
    extra = set(entry) - {"target", "alert_below", "alert_above"}
    if extra:
        raise ValueError(f"{key}: unknown key {sorted(extra)[0]!r}")
    sides = [side for side in ("alert_below", "alert_above") if side in entry]
    if len(sides) != 1:
        raise ValueError(f"{key}: needs exactly one of alert_below or alert_above")
    side = sides[0]
    _check_percent(f"{key}.{side}", entry[side])
    target = entry.get("target")
    if target is not None:
        _check_percent(f"{key}.target", target)
    direction: Direction = "below" if side == "alert_below" else "above"
    return direction, entry[side] / 100, None if target is None else target / 100
