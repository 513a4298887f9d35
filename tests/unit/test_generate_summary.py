"""The generator's run summary as typed figures (monitor/writer/generate.py): the JSON of the
`generate` command and of the truth file's last line keeps its keys, order and values."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from monitor.core.stats import percentile
from monitor.writer.command import summary_lines
from monitor.writer.generate import GenerateFigures, Progress, WriteLatency


def progress(**values: object) -> Progress:
    run = Progress(started=100.0, finished=102.5)
    for name, value in values.items():
        setattr(run, name, value)
    return run


def test_the_summary_json_keeps_its_keys_order_and_values() -> None:
    run = progress(
        written=3,
        faults=Counter({"slow_write": 2, "crash_after_sql": 1}),
        results=Counter({"committed": 2, "crashed": 1}),
        errors=1,
        latencies=[0.02, 0.02, 0.02],
    )
    assert json.dumps(run.figures().to_summary()) == (
        '{"written": 3, "faults": {"crash_after_sql": 1, "slow_write": 2},'
        ' "results": {"committed": 2, "crashed": 1}, "errors": 1, "seconds": 2.5,'
        ' "achieved_rate": 1.2, "latency_ms": {"p50": 20.0, "p99": 20.0}}'
    )


def test_a_run_that_wrote_nothing_has_no_latency() -> None:
    summary = progress().figures().to_summary()
    assert summary["latency_ms"] == {"p50": None, "p99": None}
    assert summary["achieved_rate"] == 0.0 and summary["faults"] == {}


def _by_hand(run: Progress) -> dict[str, object]:
    """The summary as it was written before it was typed: the reference."""

    def latency(q: float) -> float | None:
        return round(percentile(sorted(run.latencies), q) * 1000, 2) if run.latencies else None

    return {
        "written": run.written,
        "faults": dict(sorted(run.faults.items())),
        "results": dict(sorted(run.results.items())),
        "errors": run.errors,
        "seconds": round(run.elapsed, 3),
        "achieved_rate": round(run.achieved_rate, 2),
        "latency_ms": {"p50": latency(0.5), "p99": latency(0.99)},
    }


_counts = st.dictionaries(st.sampled_from(["a", "b", "crash_after_sql", "z"]), st.integers(0, 50))


@given(
    written=st.integers(0, 10_000),
    faults=_counts,
    results=_counts,
    errors=st.integers(0, 10),
    latencies=st.lists(st.floats(0.0001, 10.0), max_size=20),
)
def test_the_typed_summary_is_the_one_built_by_hand(
    written: int,
    faults: dict[str, int],
    results: dict[str, int],
    errors: int,
    latencies: list[float],
) -> None:
    run = progress(
        written=written,
        faults=Counter(faults),
        results=Counter(results),
        errors=errors,
        latencies=latencies,
    )
    summary = run.figures().to_summary()
    assert json.dumps(summary) == json.dumps(_by_hand(run))
    assert GenerateFigures.from_summary(json.loads(json.dumps(summary))) == run.figures()


def test_the_text_output_reads_the_figures() -> None:
    figures = GenerateFigures(
        written=40,
        faults={"crash_after_sql": 1},
        results={"committed": 39, "crashed": 1},
        errors=2,
        seconds=2.0,
        achieved_rate=20.0,
        latency_ms=WriteLatency(p50=4.5, p99=None),
    )
    assert summary_lines(figures, 25.0) == [
        "written 40 records in 2.0 s (20.0/s asked 25.0/s); writer latency p50 4.5 ms, p99 None ms",
        "  crash_after_sql          1",
        "  2 writes failed on a store error (see the log)",
    ]
    assert summary_lines(replace(figures, errors=0), 25.0)[-1] == ("  crash_after_sql          1")
