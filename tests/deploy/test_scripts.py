"""The scripts around the package: installs only when something changed; a clean build."""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def fake_checkout(tmp_path: Path) -> Path:
    """A checkout whose .venv python records pip and uv calls instead of installing anything."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(REPO / "scripts" / "install-package", tmp_path / "scripts")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    python = bin_dir / "python"
    python.write_text(
        '#!/bin/sh\nif [ "$1" = "-c" ]; then echo 3.11.2; exit 0; fi\n'
        'echo "$*" >> "$(dirname "$0")/../pip-calls"\n'
    )
    python.chmod(0o755)
    (bin_dir / "dualwrite-monitor").write_text("#!/bin/sh\n")
    (bin_dir / "dualwrite-monitor").chmod(0o755)
    return tmp_path


def install(checkout: Path) -> str:
    result = subprocess.run(
        [str(checkout / "scripts" / "install-package"), "local"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return result.stdout


def pip_calls(checkout: Path) -> list[str]:
    calls = checkout / ".venv" / "pip-calls"
    return calls.read_text().splitlines() if calls.exists() else []


def test_the_package_is_installed_again_only_when_pyproject_changes(tmp_path: Path) -> None:
    checkout = fake_checkout(tmp_path)
    install(checkout)
    assert pip_calls(checkout)[-1] == (
        "-m uv pip install --quiet --system-certs --compile-bytecode --python .venv/bin/python"
        " -e .[local]"
    )
    first = len(pip_calls(checkout))

    assert "up to date" in install(checkout)
    assert len(pip_calls(checkout)) == first  # nothing changed: no installer is run at all

    (checkout / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "2"\n')
    install(checkout)
    assert len(pip_calls(checkout)) > first


def test_demo_and_test_scripts_use_it() -> None:
    for script in ("demo", "test"):
        text = (REPO / "scripts" / script).read_text()
        assert "./scripts/install-package" in text and "pip install" not in text, script


def test_the_license_is_an_spdx_string() -> None:
    # A TOML table is deprecated by setuptools: ~55 lines of warnings on every install.
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert project["project"]["license"] == "Apache-2.0"
