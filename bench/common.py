"""What the benchmarks share: their knobs, the meter of wall time, CPU and memory, and the
tables they print (`counts.py` and `verify.py`; each script measures its own program).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import pstats
import statistics
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from monitor.config import CountsSettings, DynamoSettings

# --- knobs ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Knobs:
    slice_records: int
    concurrency: int
    #: `[verify] windows_in_flight` (0: not a knob of the program measured).
    windows: int = 0

    def __str__(self) -> str:
        text = f"slices of ~{self.slice_records:,}, {self.concurrency} in flight"
        return f"{text}, {self.windows} windows" if self.windows else text


DEFAULT_KNOBS = Knobs(CountsSettings().slice_records, DynamoSettings().max_concurrency)


# --- memory and CPU --------------------------------------------------------------------------------


def postgres_children(postmaster: psutil.Process) -> set[int]:
    """The pids of PostgreSQL's processes now: auxiliary ones, backends, and unreaped exits."""
    with contextlib.suppress(psutil.Error):
        return {child.pid for child in postmaster.children()}
    return set()


def postgres_cpu(
    postmaster: psutil.Process, keep: Collection[int] | None = None, settle: float = 2.0
) -> float:
    """CPU seconds PostgreSQL has used so far: the postmaster, its live and its exited backends.

    An exited backend's CPU is in the postmaster's children times once it is reaped, and until
    then it is counted nowhere (or twice, if it is reaped between the two reads). So first wait
    (at most `settle` s) until every process but those in `keep` (PostgreSQL's processes when
    the measured block began) has exited and been reaped; None waits for none."""
    deadline = time.monotonic() + settle
    if keep is not None:
        while time.monotonic() < deadline and postgres_children(postmaster) - set(keep):
            time.sleep(0.02)
    times = postmaster.cpu_times()
    total = times.user + times.system + times.children_user + times.children_system
    for child in postmaster.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            times = child.cpu_times()
            total += times.user + times.system
    return total


def _cpu(processes: Sequence[psutil.Process]) -> float:
    total = 0.0
    for proc in processes:
        with contextlib.suppress(psutil.Error):  # a backend that just exited
            times = proc.cpu_times()
            total += times.user + times.system
    return total


def _system_busy() -> float:
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


@dataclass
class Sample:
    """One measured block: wall time, peak RSS and CPU seconds of each party."""

    wall: float = 0.0
    rss: dict[str, int] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def ours(self) -> float:
        return self.cpu["monitor"] + self.cpu["java"] + self.cpu["postgres"]


class Meter(threading.Thread):
    """Peak memory: RSS of this process and of java every 50 ms; PSS of all postgres processes
    summed every 0.5 s (PSS splits shared_buffers among the backends; summed RSS would count
    those pages once per backend and overstate PostgreSQL several times).

    `measure()` also takes the CPU seconds each of them used during the block, and the CPU
    used by everything else on the machine ("foreign": other people's tests share these cores).
    """

    def __init__(self, postmaster_pid: int, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.me = psutil.Process()
        self.postmaster = psutil.Process(postmaster_pid)
        self.java = [p for p in self.me.children(recursive=True) if p.name() == "java"]
        self.pg = self._postgres()
        self.keep: set[int] = set()
        self.lock = threading.Lock()
        self.peaks: dict[str, int] = {}
        self.stopped = threading.Event()

    def _postgres(self) -> list[psutil.Process]:
        try:
            return [self.postmaster, *self.postmaster.children(recursive=True)]
        except psutil.Error:
            return []

    @staticmethod
    def _rss(processes: Sequence[psutil.Process]) -> int:
        total = 0
        for proc in processes:
            with contextlib.suppress(psutil.Error):
                total += proc.memory_info().rss
        return total

    @staticmethod
    def _pss(processes: Sequence[psutil.Process]) -> int:
        total = 0
        for proc in processes:
            with contextlib.suppress(psutil.Error):
                total += proc.memory_full_info().pss
        return total

    def rss(self, postgres: bool = True) -> dict[str, int]:
        now = {"monitor": self.me.memory_info().rss, "java": self._rss(self.java)}
        if postgres:
            now["postgres"] = self._pss(self.pg)
        return now

    def run(self) -> None:
        tick = 0
        while not self.stopped.wait(self.interval):
            slow = tick % 10 == 0  # every 0.5 s: reading PSS (smaps_rollup) costs ~0.3 ms each
            if slow:
                self.pg = self._postgres()  # backends come and go
            tick += 1
            now = self.rss(postgres=slow)
            with self.lock:
                for name, value in now.items():
                    self.peaks[name] = max(self.peaks.get(name, 0), value)

    def cpu(self) -> dict[str, float]:
        return {
            "monitor": _cpu([self.me]),
            "java": _cpu(self.java),
            "postgres": postgres_cpu(self.postmaster, self.keep),
            "system": _system_busy(),
        }

    @contextmanager
    def measure(self) -> Iterator[Sample]:
        out = Sample()
        self.pg = self._postgres()
        self.keep = postgres_children(self.postmaster)  # before the block: not waited for
        with self.lock:
            self.peaks = self.rss()
        before = self.cpu()
        t0 = time.perf_counter()
        try:
            yield out
        finally:
            out.wall = time.perf_counter() - t0
            after = self.cpu()
            out.cpu = {k: after[k] - before[k] for k in before}
            out.cpu["foreign"] = max(0.0, out.cpu.pop("system") - out.ours)
            last = self.rss()
            with self.lock:
                out.rss = {k: max(v, last[k]) for k, v in self.peaks.items()}
            out.rss["servers"] = out.rss["java"] + out.rss["postgres"]


def mb(value: float) -> str:
    return f"{value / 2**20:,.0f} MB"


@dataclass
class Result:
    """A measured configuration: one or more timed runs."""

    knobs: Knobs
    runs: list[Sample] = field(default_factory=list)
    read_units: list[float] = field(default_factory=list)

    @property
    def wall(self) -> float:
        return statistics.median(s.wall for s in self.runs)

    @property
    def cpu(self) -> float:
        return statistics.median(s.ours for s in self.runs)

    @property
    def foreign(self) -> float:
        """CPU seconds everything else on the machine used meanwhile (median): what the wall
        time of a run on a shared machine depends on, whatever the program does."""
        return statistics.median(s.cpu["foreign"] for s in self.runs)

    def parties(self) -> str:
        """Median CPU seconds of monitor/java/postgres/foreign."""
        names = ("monitor", "java", "postgres", "foreign")
        return "/".join(f"{statistics.median(s.cpu[k] for s in self.runs):.1f}" for k in names)

    @property
    def peak_rss(self) -> int:
        return max(s.rss["monitor"] for s in self.runs)


# --- sweeps and their tables -----------------------------------------------------------------------


async def sweep_program(
    args: argparse.Namespace,
    run: Callable[[Knobs, Result], Awaitable[Any]],
    label: str,
) -> tuple[Result, list[Result]]:
    """The program once at every (`--program-slices`, `--program-concurrency`, and
    `--program-windows` where the program has that knob), then its fastest setting until it has
    `--repeat` runs: (that best, the whole grid)."""
    grid = []
    for size in args.program_slices:
        for concurrency in args.program_concurrency:
            for windows in getattr(args, "program_windows", [0]):
                result = Result(Knobs(size, concurrency, windows))
                await run(result.knobs, result)
                grid.append(result)
                print(f"  {label} {result.knobs}: {result.wall:6.2f}s", flush=True)
    best = min(grid, key=lambda r: r.wall)
    for _ in range(args.repeat - 1):
        await run(best.knobs, best)
    return best, grid


def print_floor_sweep(grid: Sequence[Result]) -> None:
    print(
        "floor sweep (bare reads: sliced Queries projecting LogId+WriteStatus || asyncpg key stream)"
    )
    sizes = sorted({r.knobs.slice_records for r in grid})
    concs = sorted({r.knobs.concurrency for r in grid})
    print("  slice \\ conc " + "".join(f"{c:>8}" for c in concs))
    for size in sizes:
        cells = {r.knobs.concurrency: r.runs[0].wall for r in grid if r.knobs.slice_records == size}
        print(f"  {size:>12,} " + "".join(f"{cells[c]:>7.2f}s" for c in concs))


def print_sweep(title: str, grid: Sequence[Result], floor: Result) -> None:
    """One line per setting of a sweep: its first run's wall time and ratio to the floor."""
    print(title)
    for result in grid:
        wall = result.runs[0].wall
        first = Result(result.knobs, result.runs[:1])
        print(
            f"  {str(result.knobs):>34} {wall:7.2f}s  ratio {wall / floor.wall:5.2f}"
            f"  cpu {first.cpu / floor.cpu:5.2f}  monitor/java/postgres/foreign {first.parties()}s"
        )


def add_sweep_arguments(
    parser: argparse.ArgumentParser,
    *,
    sweep_slices: list[int],
    sweep_concurrency: list[int],
    program_slices: list[int],
) -> None:
    """The options of a benchmark against the floor: repeats, the sweeps, the load."""
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--floor-botocore",
        action="store_true",
        help="the floor parses items through botocore (slower) instead of from the raw JSON",
    )
    parser.add_argument(
        "--floor-capacity",
        action="store_true",
        help="the floor's Queries ask for ReturnConsumedCapacity=TOTAL too, as the program's"
        " must for its read budget (what the server spends to count the units)",
    )
    parser.add_argument(
        "--divergence",
        type=float,
        default=0.1,
        help="percent of the keys left out of each side (0.1; a data set of its own)",
    )
    parser.add_argument("--sweep-slices", type=ints, default=sweep_slices)
    parser.add_argument("--sweep-concurrency", type=ints, default=sweep_concurrency)
    parser.add_argument("--program-slices", type=ints, default=program_slices)
    parser.add_argument("--program-concurrency", type=ints, default=[8, 16])
    parser.add_argument("--load-concurrency", type=int, default=12)
    parser.add_argument("--chunk", type=int, default=50_000, help="records generated at a time")
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="keep the loaded data set in this folder (PostgreSQL's cluster, DynamoDB Local's"
        " database file: -dbPath, not -inMemory) and reuse it when records, outside and seed match",
    )
    parser.add_argument(
        "--load-only",
        action="store_true",
        help="load the data set (into --data-dir) and stop: measure in a later invocation",
    )


def ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",")]


async def profiled(run: Callable[[], Awaitable[object]], lines: int = 30) -> None:
    """Await `run` under cProfile, then print this process's CPU by function (its own time)."""
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        await run()
    finally:
        profiler.disable()
    pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(lines)
