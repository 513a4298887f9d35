"""The collector's pace (`monitor.collector`): set once per process, cycles still collected."""

from __future__ import annotations

import subprocess
import sys


def test_the_cli_paces_the_collector_and_cycles_are_still_collected() -> None:
    # A new interpreter: the pace is process-wide and set once.
    code = """
import gc, weakref
from monitor.cli import main
from monitor.collector import YOUNG_COLLECTION_EVERY, pace_collector
before = gc.get_threshold()[0]
main(["--config", "/nonexistent/config.toml", "check", "counts"])  # fails at once: exit 2
assert gc.get_threshold()[0] == YOUNG_COLLECTION_EVERY != before, gc.get_threshold()
assert gc.get_freeze_count() > 0
class Node: pass
a, b = Node(), Node()
a.other, b.other = b, a
gone = weakref.ref(a)
del a, b
gc.collect()
assert gone() is None
frozen = gc.get_freeze_count()
pace_collector()  # a second call changes nothing
assert gc.get_freeze_count() == frozen
"""
    subprocess.run([sys.executable, "-c", code], check=True)
