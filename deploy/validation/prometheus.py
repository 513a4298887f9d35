"""The example Prometheus configuration and alert rules, checked and unit-tested by promtool."""

from __future__ import annotations

from pathlib import Path

from deploy.validation import PROMETHEUS, Outcome, run, tool


def check_prometheus(directory: Path = PROMETHEUS) -> Outcome:
    """promtool: the example scrape config, the rules, and the rules' unit tests."""
    promtool = tool("promtool")
    out = Outcome()
    for argv in (
        ["check", "config", "prometheus.yml"],
        ["check", "rules", "rules.yml"],
        ["test", "rules", "rules.test.yml"],
    ):
        result = run([promtool, *argv], cwd=directory)
        if result.returncode != 0:
            text = (result.stdout + result.stderr).strip()
            out.problems.append(f"promtool {' '.join(argv)}: {text}")
    return out
