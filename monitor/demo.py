"""`dualwrite-monitor demo`: the whole product on one machine, with nothing to set up.

1. starts a throwaway PostgreSQL and a local DynamoDB-API server (`monitor.local`), runs `setup`;
2. runs the traffic generator (heavy faults by default) through the dual writer and, at the same
   time, the daemon in-process with intervals of a few seconds, its endpoints on a free local port
   and its alerts on the console;
3. shows a live view on a terminal (plain lines otherwise);
4. waits until the last records are older than grace and settle, runs every check once more over
   the whole run, and compares what the checks found with the generator's ground truth;
5. repairs what the checks found (`repair --apply`: conditional, audited) and runs every check
   again: they agree, but on the records repair leaves as written (invalid data).

Exit 0 only when every injected fault was found with its expected kind, no other key was
reported, and every check agrees after the repair. Ctrl-C (or SIGTERM) stops it early; everything it started is stopped and removed.
"""

from __future__ import annotations

import logging
import os
import sys
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, Literal

import anyio

from monitor.alerts.engine import counter_state
from monitor.alerts.sink import alerts_sink
from monitor.checks.counts import CountsFigures
from monitor.checks.quality import QualityFigures
from monitor.checks.registry import REGISTRY, CheckRequest, run_check
from monitor.checks.sampling import SampleCache, SampleFigures
from monitor.config import Settings, settings_from_dict
from monitor.core.plan import RepairFigures, repair_figures
from monitor.core.rules import Notification
from monitor.errors import UsageError
from monitor.local import LocalDynamo, LocalPostgres, free_port, local_aws_env
from monitor.model import CheckReport
from monitor.repair.run import RepairReport, RepairRequest, repair_in
from monitor.report import dumps
from monitor.runtime import open_context
from monitor.setup import run_setup
from monitor.writer.generate import GenerateOptions, Progress, TruthEntry, open_generator

#: How often the in-process daemon runs each check, and how young a record may be and still be
#: in flight: short, so that a one-minute demo sees findings, alerts and recoveries.
CHECK_INTERVAL = "5s"
GRACE = "5s"
#: Each of the demo's checks compares every record of its run (the acceptance of CONTRACT §7).
SAMPLE_SIZE = 20_000


def demo_settings(dsn: str, endpoint: str, port: int) -> Settings:
    window = "30m"
    return settings_from_dict(
        {
            "postgres": {"dsn": dsn, "pool_size": 16},
            # A loaded laptop: local servers may answer slowly while the writer is busy.
            "dynamodb": {"endpoint_url": endpoint, "request_timeout": "30s", "max_concurrency": 16},
            "checks": {
                "orphans": {"interval": CHECK_INTERVAL, "window": window, "grace": GRACE},
                "counts": {"interval": CHECK_INTERVAL, "window": window, "settle": GRACE},
                "sampling": {
                    "interval": "10s",
                    "window": window,
                    "settle": GRACE,
                    "sample_size": SAMPLE_SIZE,
                },
            },
            "alerts": {"hold_runs": 1, "repeat_interval": "1h"},
            "telemetry": {"listen": f"127.0.0.1:{port}"},
            "daemon": {"check_timeout": "60s", "drain_timeout": "5s"},
        }
    )


# --- scoring: what the checks found against the ground truth (pure) ---------------------------


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


# --- the live view ------------------------------------------------------------------------------


@dataclass
class View:
    """What the demo shows while it runs: checks' last outcomes, the writer, the alerts."""

    stream: IO[str]
    live: bool
    port: int
    progress: Progress | None = None
    last: dict[str, str] = field(default_factory=dict)
    fired: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    reports: list[CheckReport] = field(default_factory=list)
    _drawn: int = 0

    def say(self, line: str) -> None:
        if self.live:
            self._clear()
        self.stream.write(line + "\n")
        self.stream.flush()
        if self.live:
            self.draw()

    async def on_report(
        self, check: str, report: CheckReport | None, error: BaseException | None
    ) -> None:
        if report is None:
            self.last[check] = f"error: {type(error).__name__ if error else 'skipped'}"
        else:
            self.reports.append(report)
            self.last[check] = f"{report.outcome}: {figures(report)}"
        if not self.live:
            self.say(f"check {check:<8} {self.last[check]}")

    def on_alert(self, note: Notification) -> None:
        state = counter_state(note)
        if state == "firing":
            self.fired.append(note.rule)
        elif state == "resolved":
            self.resolved.append(note.rule)
        if state is not None:
            self.say(f"alert {state:<8} {note.rule}")

    def lines(self) -> list[str]:
        out = [f"daemon: http://127.0.0.1:{self.port}/metrics  /status  /healthz"]
        progress = self.progress
        if progress is not None:
            faults = sum(progress.faults.values())
            out.append(
                f"writer: {progress.written} written  {progress.achieved_rate:.1f}/s"
                f"  p50 {progress.latency_ms(0.5) or 0:.0f} ms  p99"
                f" {progress.latency_ms(0.99) or 0:.0f} ms  faults injected {faults}"
            )
        for check in REGISTRY:
            out.append(f"  {check:<8} {self.last.get(check, 'waiting for its first run')}")
        firing = sorted(set(self.fired) - set(self.resolved))
        out.append(f"alerts: firing {', '.join(firing) or 'none'}; resolved {len(self.resolved)}")
        return out

    def draw(self) -> None:
        self._clear()
        lines = self.lines()
        self.stream.write("\n".join(lines) + "\n")
        self.stream.flush()
        self._drawn = len(lines)

    def _clear(self) -> None:
        if self._drawn:
            self.stream.write(f"\033[{self._drawn}F\033[J")
            self._drawn = 0


def figures(report: CheckReport) -> str:
    shown = report.figures
    if isinstance(shown, CountsFigures):
        s = shown.tally
        return (
            f"sql {s.sql_count} dynamodb {s.dynamodb_count}"
            f" missing {s.missing_in_dynamodb}/{s.missing_in_sql}"
            f" divergent {s.status_divergence}"
        )
    if isinstance(shown, SampleFigures):
        point = "n/a" if shown.accuracy is None else shown.accuracy.point
        return f"sampled {shown.sampled} accuracy {point}"
    if isinstance(shown, QualityFigures):
        return f"grade {shown.grade} findings {len(report.findings)}"
    return f"{len(report.findings)} findings"


# --- the run ------------------------------------------------------------------------------------


@asynccontextmanager
async def _view_sink(view: View) -> AsyncIterator[Any]:
    yield view.on_report


async def _demo(
    settings: Settings, options: GenerateOptions, view: View, truth: IO[str] | None
) -> DemoRun:
    from monitor.daemon import Daemon

    await run_setup(settings)
    started = datetime.now(UTC)
    daemon = Daemon(
        settings,
        sinks=[lambda d: alerts_sink(d, [view.on_alert]), lambda d: _view_sink(view)],
        environ={},
    )
    stop = anyio.Event()
    interrupted = False
    async with open_generator(settings, options, truth) as generator:
        view.progress = generator.progress

        async def daemon_then_stop() -> None:
            nonlocal interrupted
            await daemon.run()  # returns on SIGINT/SIGTERM, or when asked to stop
            if not stop.is_set():
                interrupted = True
                stop.set()

        finished = anyio.Event()

        async def refresh() -> None:
            while not finished.is_set():
                view.draw()
                with anyio.move_on_after(1):
                    await finished.wait()

        async with anyio.create_task_group() as group:
            group.start_soon(daemon_then_stop)
            if view.live:
                group.start_soon(refresh)
            await generator.run(stop)
            if not interrupted:
                # Judge the last records too: wait until they are older than grace and settle.
                view.say("traffic done; waiting for the last records to settle ...")
                with anyio.move_on_after(settings.checks.counts.settle.total_seconds() + 2):
                    await stop.wait()
            stop.set()
            finished.set()
            daemon.request_stop()
    reports: list[CheckReport] = []
    after: Repaired | None = None
    if not interrupted:
        view.say("final check over the whole run ...")
        now, since = datetime.now(UTC), started - timedelta(seconds=1)
        request = CheckRequest(now=now, since=since)
        async with open_context(settings) as context:
            context.samples = SampleCache()
            reports = [await run_check(name, context, request) for name in REGISTRY]
            view.say("repairing what the checks found (conditional, audited) ...")
            repair = await repair_in(
                context, RepairRequest(now=now, since=since, apply=True, by="demo")
            )
            view.say("final check after the repair ...")
            context.samples = SampleCache()
            again = [await run_check(name, context, request) for name in REGISTRY]
        after = Repaired(repair, again)
    return DemoRun(generator.progress, [*view.reports, *reports], interrupted, after)


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


@dataclass
class DemoRun:
    progress: Progress
    reports: list[CheckReport]
    interrupted: bool
    repaired: Repaired | None


def run_demo(
    *,
    duration: str = "40s",
    rate: float = 20.0,
    faults: str = "heavy",
    seed: int = 1,
    truth: Path | None = None,
    config: Path | None = None,
    dynamodb_backend: Literal["auto", "moto", "ddblocal"] = "auto",
    output_format: str = "text",
) -> int:
    from monitor.writer.command import options_from_args

    if config is not None:
        raise UsageError(
            "demo runs its own local PostgreSQL and DynamoDB and ignores config files; to watch"
            " your stores use `generate` and `run` with --config"
        )
    options = options_from_args(rate, duration, faults, seed, None, None)
    # The view and the summary say what happened; store retries and compensations are expected.
    logging.getLogger("monitor").setLevel(logging.CRITICAL)
    os.environ.update({k: v for k, v in local_aws_env().items() if k not in os.environ})
    view = View(sys.stderr, live=sys.stderr.isatty() and output_format == "text", port=free_port())
    view.say("starting a local PostgreSQL and a local DynamoDB-API server ...")
    stream = None if truth is None else truth.open("w")
    try:
        with LocalPostgres() as pg, LocalDynamo(dynamodb_backend) as dynamo:
            settings = demo_settings(pg.dsn, dynamo.endpoint_url, view.port)
            view.say(
                f"  PostgreSQL at {pg.dsn}; DynamoDB ({dynamo.backend}) at {dynamo.endpoint_url}"
            )
            view.say(
                f"writing {rate:g}/s for {duration} with {faults} faults; the daemon checks every"
                f" {CHECK_INTERVAL} (metrics at http://127.0.0.1:{view.port}/metrics)"
            )
            run = anyio.run(_demo, settings, options, view, stream)
    finally:
        if stream is not None:
            stream.close()
    interrupted = run.interrupted
    key_column = settings.mapping.key_column
    result = score(run.progress.entries, findings_by_key(run.reports), key_column)
    result["alerts"] = {"fired": sorted(set(view.fired)), "resolved": sorted(set(view.resolved))}
    result["written"] = run.progress.written
    result["interrupted"] = interrupted
    repaired = run.repaired
    result["repaired"] = None if repaired is None else repaired.summary()
    result["agreement_after_repair"] = repaired is not None and repaired.agreement
    if repaired is not None and not repaired.agreement:
        result["after_repair_findings"] = [
            {"key": {key_column: k}, "kinds": sorted(v)}
            for k, v in sorted(repaired.remaining().items(), key=lambda kv: str(kv[0]))
        ]
    passed = (
        not interrupted
        and not result["missed"]
        and not result["false_findings"]
        and result["agreement_after_repair"]
    )
    if output_format == "json":
        print(dumps(result))  # noqa: T201
    else:
        print(summary_text(result, passed, repaired))  # noqa: T201
    return 130 if interrupted else 0 if passed else 1


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
