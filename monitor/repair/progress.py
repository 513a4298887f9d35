"""Repair's line on a terminal (stderr, TTY only): which check is planning, then how far the
apply is, with its results so far."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import TextIO

from monitor.report import TerminalLine


class RepairProgress(TerminalLine):
    def __init__(self, stream: TextIO | None = None, *, enabled: bool | None = None) -> None:
        super().__init__(stream, enabled=enabled)
        self.check = ""

    def planning(self, done: int, total: int, records: int) -> None:
        """A check's own progress while findings are collected (`checks.spec.Progress`)."""
        self.draw(f"repair: planning, {self.check} {done}/{total} slices, {records:,} records")

    def applying(self, done: int, total: int, results: Iterable[str]) -> None:
        tally = Counter(results)
        counts = ", ".join(f"{n} {r}" for r, n in sorted(tally.items()))
        self.draw(f"repair: {done}/{total} actions" + (f" ({counts})" if counts else ""))
