"""Traffic from `generate` on the real stores, then every check over it: what the generator's
acceptance test and repair's heavy-traffic test share."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio

from monitor.checks.registry import REGISTRY, CheckRequest, run_check
from monitor.checks.sampling import SampleCache
from monitor.config import Settings
from monitor.model import CheckReport
from monitor.runtime import open_context
from monitor.setup import run_setup
from monitor.writer.faults import FaultProfile
from monitor.writer.generate import GenerateOptions, open_generator
from tests.conftest import make_settings


def settings_for(database: str, endpoint: str) -> Settings:
    return make_settings(
        database,
        endpoint,
        # Whole-window reads of large items on a loaded machine: no 3 s request cut-off here.
        dynamodb={"request_timeout": "30s"},
        checks={"sampling": {"sample_size": 5000}},
        writer={"retry_delay": "1ms", "concurrency": 32},
    )


def traffic(profile: str, seconds: int, seed: int) -> GenerateOptions:
    """100 records a second for `seconds`, every one written, faults of `profile`; a slow write
    is held back half a second (the checks judge the run once it is over, so its length does
    not matter, only that it is in flight while others are written)."""
    return GenerateOptions(
        rate=100,
        duration=timedelta(seconds=seconds),
        profile=FaultProfile.named(profile),
        seed=seed,
        every_record=True,
        slow_write=0.5,
    )


#: Heavy faults whose seed injects every kind of fault.
HEAVY = traffic("heavy", 2, 41)


async def generate(settings: Settings, options: GenerateOptions, truth: Path) -> dict[str, Any]:
    """Tables by `setup`, the generator's run (its truth file at `truth`); then the request
    fields (`now`, `since`, `until`) of a window that covers the run, judged once grace and
    settle have passed."""
    await run_setup(settings)
    started = datetime.now(UTC)
    with truth.open("w") as stream:
        async with open_generator(settings, options, stream) as generator:
            await generator.run(anyio.Event())
    ended = datetime.now(UTC)
    return {
        "now": ended + timedelta(minutes=5),
        "since": started - timedelta(seconds=1),
        "until": ended + timedelta(seconds=1),
    }


async def check_all(settings: Settings, request: CheckRequest) -> list[CheckReport]:
    """Every check once over `request`'s window (sample and quality share their sample)."""
    async with open_context(settings) as context:
        context.samples = SampleCache()
        return [await run_check(name, context, request) for name in REGISTRY]


def found_by_key(reports: list[CheckReport]) -> dict[Any, set[str]]:
    found: dict[Any, set[str]] = {}
    for report in reports:
        for finding in report.findings:
            found.setdefault(finding.key, set()).add(str(finding.kind))
    return found
