"""The phase gates (CONTRACT §4b): each gate's checks, from real runs, with their evidence.

- `dual-write`: the phase is `sql_only` and preflight passes.
- `read-switch`: the phase is `dual_write`; over the settled `[gates] window`, `counts` and
  `orphans` within their thresholds, the sampled field accuracy's *lower* 95 % bound at or above
  the `field_accuracy` target, canary reads of every read pattern identical in both stores, and
  the canaries' DynamoDB p99 within `[gates] canary_latency_budget` (against the same reads on
  SQL, in the evidence).
- `write-switch`: the phase is `dynamo_reads`; everything `read-switch` judges, plus the seed's
  phase-4 items (`monitor.migration.writeswitch`).

`--apply` records the step only when every check passed; the evidence goes into the history.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime

from monitor.checks.registry import CheckRequest, run_check
from monitor.checks.reporting import figures_of
from monitor.checks.sampling import SampleFigures
from monitor.core.accuracy import interval_json
from monitor.core.phases import Phase, gate_move
from monitor.core.preflight import passed, percentile
from monitor.core.windows import settled_window
from monitor.migration.canary import run_canaries
from monitor.migration.gatecheck import GateCheck
from monitor.migration.phase import current_phase
from monitor.migration.preflight import run_preflight
from monitor.migration.writeswitch import write_switch_checks
from monitor.model import Window
from monitor.runtime import StoreContext


@dataclass
class GateResult:
    gate: str
    move: tuple[Phase, Phase] | None
    checks: list[GateCheck]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)


async def evaluate_gate(
    context: StoreContext,
    gate: str,
    now: datetime,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    rng: random.Random | None = None,
) -> GateResult:
    phase = await current_phase(context.sql.pool, context.settings.postgres.state_schema)
    move = gate_move(gate, phase)
    checks = [
        GateCheck("phase", False, move)
        if isinstance(move, str)
        else GateCheck("phase", True, f"{move[0]} -> {move[1]}")
    ]
    if gate == "dual-write":
        checks.append(await _preflight(context))
    else:
        gates = context.settings.gates
        window = settled_window(
            now, gates.window, context.settings.checks.counts.settle, since=since, until=until
        )
        checks += await _settled_checks(context, now, window)
        canary_window = Window(max(window.start, window.end - gates.canary_window), window.end)
        checks += await _canaries(context, canary_window, rng or random.Random())
        if gate == "write-switch":
            checks += await write_switch_checks(context, now, until)
    return GateResult(gate, None if isinstance(move, str) else move, checks)


async def _preflight(context: StoreContext) -> GateCheck:
    items = await run_preflight(context)
    failed = [i.name for i in items if i.required and not i.passed]
    return GateCheck(
        "preflight",
        passed(items),
        "every required item passed" if not failed else "failed: " + ", ".join(failed),
        {"items": [i.as_json() for i in items]},
    )


async def _settled_checks(context: StoreContext, now: datetime, window: Window) -> list[GateCheck]:
    request = CheckRequest(now=now, since=window.start, until=window.end)
    out = []
    for name in ("counts", "orphans"):
        report = await run_check(name, context, request)
        figures = {k: v for k, v in report.summary.items() if isinstance(v, int | float)}
        detail = "within thresholds" if report.ok else "over a threshold"
        out.append(
            GateCheck(
                name,
                report.ok,
                f"{detail} over {window.start.isoformat()} .. {window.end.isoformat()}"
                f" ({len(report.findings)} findings)",
                figures,
            )
        )
    sample = figures_of(await run_check("sample", context, request), SampleFigures)
    lower = None if sample.accuracy is None else sample.accuracy.lower
    target = context.settings.alerts.thresholds.field_accuracy.target / 100
    ok = lower is not None and lower >= target
    needed = sample.samples_needed
    out.append(
        GateCheck(
            "field_accuracy",
            ok,
            f"lower 95 % bound {lower} {'>=' if ok else '<'} target {target}"
            + ("" if ok or needed is None else f" (about {needed} samples needed)"),
            {"accuracy": interval_json(sample.accuracy) or {}, "sampled": sample.sampled},
        )
    )
    return out


async def _canaries(context: StoreContext, window: Window, rng: random.Random) -> list[GateCheck]:
    gates = context.settings.gates
    result = await run_canaries(context, window, gates.canary_reads, rng)
    failing = [p.pattern for p in result.patterns if not p.passed]
    canary = GateCheck(
        "canary_reads",
        result.passed,
        "every pattern returned the same records from both stores"
        if result.passed
        else (
            "no record to read in the window"
            if not result.patterns
            else "differ: " + ", ".join(failing)
        ),
        {"patterns": [p.as_json() for p in result.patterns]},
    )
    if not result.dynamodb_seconds:
        return [canary, GateCheck("canary_latency", False, "no canary read ran")]
    figures = {
        "dynamodb_p50_ms": _ms(percentile(result.dynamodb_seconds, 0.5)),
        "dynamodb_p99_ms": _ms(percentile(result.dynamodb_seconds, 0.99)),
        "sql_p50_ms": _ms(percentile(result.sql_seconds, 0.5)),
        "sql_p99_ms": _ms(percentile(result.sql_seconds, 0.99)),
        "reads": len(result.dynamodb_seconds),
    }
    budget = gates.canary_latency_budget.total_seconds() * 1000
    ok = figures["dynamodb_p99_ms"] <= budget
    ratio = figures["dynamodb_p99_ms"] / max(figures["sql_p99_ms"], 1e-3)
    figures["p99_ratio_dynamodb_to_sql"] = round(ratio, 3)
    latency = GateCheck(
        "canary_latency",
        ok,
        f"DynamoDB p99 {figures['dynamodb_p99_ms']} ms {'<=' if ok else '>'} budget {budget:g} ms"
        f" (SQL p99 {figures['sql_p99_ms']} ms)",
        figures,
    )
    return [canary, latency]


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)
