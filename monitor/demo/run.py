"""The demo's run: local servers, traffic and the daemon at once, the final checks, the repair."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, Literal

import anyio

from monitor.alerts.sink import alerts_sink
from monitor.checks.registry import REGISTRY, CheckRequest, run_check
from monitor.checks.sampling import SampleCache
from monitor.config import Settings
from monitor.demo.outcome import Repaired, findings_by_key, score, summary_text
from monitor.demo.settings import CHECK_INTERVAL, demo_settings
from monitor.demo.view import View
from monitor.errors import UsageError
from monitor.local import LocalDynamo, LocalPostgres, free_port, local_aws_env
from monitor.model import CheckReport
from monitor.repair.run import RepairRequest, repair_in
from monitor.report import dumps
from monitor.runtime import open_context
from monitor.setup import run_setup
from monitor.writer.generate import GenerateOptions, Progress, open_generator


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
