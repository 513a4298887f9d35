"""The `generate` command: options in, a run of the generator, the summary out.

SIGINT/SIGTERM stop scheduling new records; writes in flight finish and the truth file gets its
summary line, so it is complete for what was written. On a terminal a progress line refreshes
in place on stderr.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import IO

import anyio

from monitor.config import Settings, parse_duration
from monitor.errors import UsageError
from monitor.report import dumps
from monitor.writer.faults import load_profile
from monitor.writer.generate import GenerateFigures, GenerateOptions, Progress, open_generator


def options_from_args(
    rate: float, duration: str, faults: str, seed: int, truth: Path | None, first_key: int | None
) -> GenerateOptions:
    if not rate > 0:
        raise UsageError("--rate must be a positive number of records per second")
    try:
        length = parse_duration(duration)
    except ValueError as exc:
        raise UsageError(f"--duration: {exc}") from None
    if first_key is not None and first_key < 1:
        raise UsageError("--first-key must be positive")
    return GenerateOptions(
        rate=rate,
        duration=length,
        profile=load_profile(faults),
        seed=seed,
        truth=truth,
        first_key=first_key,
    )


def progress_line(progress: Progress, total: int) -> str:
    p50 = progress.latency_ms(0.5)
    p99 = progress.latency_ms(0.99)
    faults = sum(progress.faults.values())
    return (
        f"written {progress.written}/{total}  {progress.achieved_rate:.0f}/s"
        f"  p50 {p50 or 0:.1f} ms  p99 {p99 or 0:.1f} ms  faults {faults}"
        f"  errors {progress.errors}"
    )


async def _run(settings: Settings, options: GenerateOptions, truth: IO[str] | None) -> Progress:
    total = int(options.rate * options.duration.total_seconds())
    stop = anyio.Event()
    terminal = sys.stderr.isatty()
    async with open_generator(settings, options, truth) as generator:

        async def on_signal() -> None:
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for _ in signals:
                    stop.set()
                    return

        async def show() -> None:
            while True:
                await anyio.sleep(0.5)
                sys.stderr.write("\r" + progress_line(generator.progress, total) + "\033[K")
                sys.stderr.flush()

        async with anyio.create_task_group() as group:
            group.start_soon(on_signal)
            if terminal:
                group.start_soon(show)
            progress = await generator.run(stop)
            group.cancel_scope.cancel()
        if terminal:
            sys.stderr.write("\n")
        return progress


def run_generate(settings: Settings, options: GenerateOptions, output_format: str) -> int:
    if options.truth is None:
        progress = anyio.run(_run, settings, options, None)
    else:
        try:
            stream = options.truth.open("w")
        except OSError as exc:
            raise UsageError(f"--truth {options.truth}: {exc.strerror or exc}") from None
        with stream:
            progress = anyio.run(_run, settings, options, stream)
    figures = progress.figures()
    if output_format == "json":
        print(dumps(figures.to_summary()))  # noqa: T201
    else:
        print("\n".join(summary_lines(figures, options.rate)))  # noqa: T201
    return 0 if progress.errors == 0 else 3


def summary_lines(figures: GenerateFigures, asked_rate: float) -> list[str]:
    """The text output of a run: its rate and latency, the faults injected, the errors."""
    latency = figures.latency_ms
    lines = [
        f"written {figures.written} records in {figures.seconds} s"
        f" ({figures.achieved_rate}/s asked {asked_rate}/s);"
        f" writer latency p50 {latency.p50} ms, p99 {latency.p99} ms"
    ]
    lines += [f"  {kind:<24} {count}" for kind, count in figures.faults.items()]
    if figures.errors:
        lines.append(f"  {figures.errors} writes failed on a store error (see the log)")
    return lines
