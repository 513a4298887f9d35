"""The terminal line of a long verification: windows, records, rate and ETA (stderr, TTY only)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import timedelta
from typing import TextIO


def eta_text(seconds: float | None) -> str:
    if seconds is None:
        return "ETA unknown"
    return f"ETA {timedelta(seconds=round(seconds))}"


class Rates:
    """Records/s and the ETA of a walk, measured from the first update: windows taken from a
    checkpoint do not make the ETA look shorter than it is."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._first: tuple[float, int, int] | None = None

    def update(self, done: int, total: int, records: int) -> tuple[float, float | None]:
        now = self._clock()
        if self._first is None:
            self._first = (now, done, records)
        started, done0, records0 = self._first
        elapsed = now - started
        rate = (records - records0) / elapsed if elapsed > 0 else 0.0
        windows_rate = (done - done0) / elapsed if elapsed > 0 else 0.0
        eta = (total - done) / windows_rate if windows_rate > 0 else None
        return rate, 0.0 if done >= total else eta


class VerifyProgress:
    """The line on stderr; its rates are this process's own (`Rates`)."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        enabled: bool | None = None,
    ) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self._rates = Rates(clock)
        self._shown = False

    def line(self, done: int, total: int, records: int) -> str:
        rate, eta = self._rates.update(done, total, records)
        return (
            f"verify: {done}/{total} windows, {records:,} records, {rate:,.0f} records/s,"
            f" {eta_text(eta)}"
        )

    def __call__(self, done: int, total: int, records: int) -> None:
        text = self.line(done, total, records)
        if self.enabled:
            self.stream.write("\r\033[K" + text)
            self.stream.flush()
            self._shown = True

    def finish(self) -> None:
        if self._shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
