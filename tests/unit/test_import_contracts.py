"""The driver contract names its source modules one by one (import-linter has no "everything
but"), so a new package would be outside it silently. Every module of `monitor` is either listed
there or is one of the few allowed to import a driver."""

from __future__ import annotations

import pkgutil
import tomllib
from pathlib import Path

import monitor

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
DRIVER_CONTRACT = "Only the adapters (and the local servers, bulk loading) import a database driver"
#: The adapters, the local servers and bulk loading: the modules that may import a driver.
ALLOWED = ("monitor.stores", "monitor.local", "monitor.writer.bulk", "monitor.__main__")
#: Packages that hold an allowed module: listing one would cover that module too, so the
#: contract lists their other modules instead (and this file checks the package's own).
SPLIT_PACKAGES = {"monitor.writer": Path(monitor.__file__).parent / "writer" / "__init__.py"}
DRIVERS = ("asyncpg", "aiobotocore", "botocore")


def _contract() -> dict[str, object]:
    contracts = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]["contracts"]
    (contract,) = [c for c in contracts if c["name"] == DRIVER_CONTRACT]
    return dict(contract)


def _covered(module: str, sources: list[str]) -> bool:
    return any(module == s or module.startswith(s + ".") for s in sources)


def test_every_module_is_under_the_driver_contract_or_allowed() -> None:
    sources = list(_contract()["source_modules"])  # type: ignore[call-overload]
    modules = [
        info.name
        for info in pkgutil.walk_packages(monitor.__path__, prefix="monitor.")
        if not _covered(info.name, list(ALLOWED)) and info.name not in SPLIT_PACKAGES
    ]
    outside = [m for m in modules if not _covered(m, sources)]
    assert modules and not outside, (
        f"add these to the contract {DRIVER_CONTRACT!r} in pyproject.toml (or, for a new "
        f"adapter, put it in monitor.stores): {outside}"
    )


def test_a_split_package_itself_imports_no_driver() -> None:
    for name, path in SPLIT_PACKAGES.items():
        imports = [
            line
            for line in path.read_text().splitlines()
            if line.startswith(("import ", "from ")) and any(d in line for d in DRIVERS)
        ]
        assert not imports, f"{name} imports a driver: {imports}"
