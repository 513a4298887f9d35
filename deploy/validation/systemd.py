"""The systemd unit: what it must say, `systemd-analyze verify` and `security --offline`."""

from __future__ import annotations

import re
import shutil
import tempfile
from datetime import timedelta
from pathlib import Path

from deploy.validation import UNIT, Outcome, Skip, drain_timeout, run, tool

#: systemd-analyze security rates exposure 0.0-10.0 and takes the threshold x10. The unit rates
#: 1.1; anything above 1.2 means a hardening line was lost.
SECURITY_THRESHOLD = 12
#: Read by the AWS SDK (AWS_SHARED_CREDENTIALS_FILE), not by monitor.config.
AWS_CREDENTIAL = "aws-credentials"


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """A unit file as section -> key -> values (keys may repeat; comments dropped)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
        elif "=" in line and current is not None:
            key, _, value = line.partition("=")
            current.setdefault(key.strip(), []).append(value.strip())
    return sections


_SPAN_UNITS = "msec|ms|seconds|second|sec|s|minutes|minute|min|m|hours|hour|hr|h"
_SPAN = re.compile(rf"(\d+(?:\.\d+)?)\s*({_SPAN_UNITS})?")
_SPAN_UNIT = {"ms": 0.001, "msec": 0.001, "m": 60, "min": 60, "minute": 60, "minutes": 60}
_SPAN_UNIT |= {"h": 3600, "hr": 3600, "hour": 3600, "hours": 3600}


def parse_timespan(value: str) -> timedelta:
    """systemd time spans as used here: "30s", "5min", "1min 30s", "90" (seconds)."""
    parts = _SPAN.findall(value)
    if not parts or re.sub(r"\s+", "", value) != "".join(n + u for n, u in parts):
        raise ValueError(f"{value!r} is not a time span this check understands")
    return timedelta(seconds=sum(float(n) * _SPAN_UNIT.get(u, 1) for n, u in parts))


def check_unit_contents(text: str | None = None) -> Outcome:
    """What the unit must say: notify, watchdog, dynamic user, credentials, stop deadline."""
    unit = parse_unit(UNIT.read_text() if text is None else text)
    service = unit.get("Service", {})
    out = Outcome()

    def one(key: str) -> str | None:
        values = service.get(key)
        if not values:
            out.problems.append(f"[Service] {key}= is missing")
            return None
        return values[-1]

    for key, expected in {
        "Type": "notify",
        "NotifyAccess": "main",
        "DynamicUser": "yes",
        "Restart": "on-failure",
        "StateDirectory": "dualwrite-monitor",
        "ConfigurationDirectory": "dualwrite-monitor",
    }.items():
        value = one(key)
        if value is not None and value != expected:
            out.problems.append(f"[Service] {key}={value}, expected {expected}")
    if (watchdog := one("WatchdogSec")) is not None and parse_timespan(watchdog) <= timedelta(0):
        out.problems.append("[Service] WatchdogSec= must be positive")
    stop = one("TimeoutStopSec")
    drain = drain_timeout()
    if stop is not None and parse_timespan(stop) <= drain:
        out.problems.append(
            f"[Service] TimeoutStopSec={stop} must exceed the drain deadline ({drain.seconds}s)"
        )
    exec_start = one("ExecStart")
    if exec_start is not None and " run " not in f"{exec_start} ":
        out.problems.append("[Service] ExecStart= must run `dualwrite-monitor run`")
    out.problems += _credential_problems(
        service.get("LoadCredential", []), service.get("Environment", [])
    )
    return out


def _credential_problems(lines: list[str], environment: list[str]) -> list[str]:
    """The monitor's own credentials (monitor.config.CREDENTIALS) plus the AWS SDK's file."""
    from monitor.config import CREDENTIALS

    names = sorted(line.partition(":")[0] for line in lines)
    expected = sorted([*CREDENTIALS, AWS_CREDENTIAL])
    problems = []
    if names != expected:
        problems.append(f"LoadCredential= names {names} differ from {expected}")
    if f"AWS_SHARED_CREDENTIALS_FILE=%d/{AWS_CREDENTIAL}" not in environment:
        problems.append(f"Environment=AWS_SHARED_CREDENTIALS_FILE=%d/{AWS_CREDENTIAL} is missing")
    return problems


def _exec_binary(unit_text: str) -> str:
    exec_start = parse_unit(unit_text)["Service"]["ExecStart"][-1]
    return exec_start.split()[0].lstrip("-@:+!")


def _systemd_root(unit: Path, workdir: Path) -> Path:
    """A throwaway root for `systemd-analyze --root`: the unit, the distribution's units, and an
    executable stub at the ExecStart path (verify fails on a binary that is not installed)."""
    root = workdir / "root"
    candidates = (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system"))
    units = next((p for p in candidates if p.is_dir()), None)
    if units is None:
        raise Skip("no /usr/lib/systemd/system to verify dependencies against")
    shutil.copytree(units, root / "usr/lib/systemd/system", symlinks=True)
    (root / "etc/systemd/system").mkdir(parents=True)
    shutil.copy(unit, root / "etc/systemd/system" / unit.name)
    binary = root / _exec_binary(unit.read_text()).lstrip("/")
    binary.parent.mkdir(parents=True, exist_ok=True)
    binary.write_text("#!/bin/sh\nexit 0\n")
    binary.chmod(0o755)
    return root


def check_systemd_verify(unit: Path = UNIT) -> Outcome:
    """`systemd-analyze verify`: any output at all is a failure (typos only warn, rc 0)."""
    analyze = tool("systemd-analyze")
    with tempfile.TemporaryDirectory() as tmp:
        root = _systemd_root(unit, Path(tmp))
        result = run([analyze, "verify", f"--root={root}", f"/etc/systemd/system/{unit.name}"])
    out = Outcome()
    text = (result.stdout + result.stderr).strip()
    if result.returncode != 0 or text:
        out.problems.append(f"systemd-analyze verify (rc {result.returncode}): {text}")
    return out


def check_systemd_security(unit: Path = UNIT, threshold: int = SECURITY_THRESHOLD) -> Outcome:
    """`systemd-analyze security --offline`: exposure at most threshold/10, no warnings."""
    analyze = tool("systemd-analyze")
    with tempfile.TemporaryDirectory() as tmp:
        root = _systemd_root(unit, Path(tmp))
        result = run(
            [
                analyze,
                "security",
                "--offline=true",
                f"--root={root}",
                f"--threshold={threshold}",
                "--no-pager",
                f"/etc/systemd/system/{unit.name}",
            ]
        )
    out = Outcome()
    level = re.search(r"Overall exposure level for \S+: (\d+\.\d+) (\w+)", result.stdout)
    if level:
        out.notes.append(f"exposure {level.group(1)} {level.group(2)}")
    if result.returncode != 0:
        found = level.group(1) if level else "unknown"
        out.problems.append(
            f"systemd-analyze security: exposure {found} is above {threshold / 10:.1f} "
            f"(rc {result.returncode}) {result.stderr.strip()}".strip()
        )
    elif result.stderr.strip():
        out.problems.append(f"systemd-analyze security warned: {result.stderr.strip()}")
    return out
