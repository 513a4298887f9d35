"""Offline checks of the deployment artefacts (systemd unit, Kubernetes, Grafana, Prometheus).

`scripts/validate-deploy` runs every check (`python -m deploy.validation`) and fails on any
problem; tests/deploy runs each one as a test. A check whose tool is not installed
(systemd-analyze, kubernetes-validate, promtool) raises `Skip` with the reason instead of
passing silently. One module per artefact; this one holds what they share.
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "systemd" / "dualwrite-monitor.service"
KUBERNETES = ROOT / "deploy" / "kubernetes"
DASHBOARD = ROOT / "deploy" / "grafana" / "dualwrite-monitor.json"
PROMETHEUS = ROOT / "deploy" / "prometheus"
CONFIG = ROOT / "config.toml"

#: The daemon's default [daemon] drain_timeout, used until monitor.config defines it.
DEFAULT_DRAIN_TIMEOUT = timedelta(seconds=20)


class Skip(Exception):
    """A tool this check needs is not installed here; the message says which."""


@dataclass
class Outcome:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def drain_timeout() -> timedelta:
    """The daemon's default drain deadline, from monitor.config once it defines [daemon]."""
    try:
        from monitor.config import Settings
    except ImportError:
        return DEFAULT_DRAIN_TIMEOUT
    daemon = getattr(Settings(), "daemon", None)
    value = getattr(daemon, "drain_timeout", None)
    return value if isinstance(value, timedelta) else DEFAULT_DRAIN_TIMEOUT


def tool(name: str) -> str:
    """A command from the venv next to this interpreter, else from PATH; Skip when absent."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise Skip(f"{name} is not installed")
    return found


def yaml_module() -> Any:
    try:
        return importlib.import_module("yaml")
    except ImportError:
        raise Skip("PyYAML is not installed (pip install -e '.[test]')") from None


def run(argv: list[str], *, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)
