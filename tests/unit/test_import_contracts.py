"""The driver contract names its source modules one by one (import-linter has no "everything
but"), so a new package would be outside it silently. Every module of `monitor` is either listed
there or is one of the few allowed to import a driver."""

from __future__ import annotations

import ast
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


WIRE_CONTRACT = "DynamoDB's wire format stays in the stores (and the local tooling)"
#: DynamoDB's attribute type tags: a dict keyed by one is a wire-format value.
WIRE_TAGS = frozenset({"S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"})
#: Modules outside monitor.stores that read the wire format, and why.
WIRE_READERS = {
    # A Spark job reads the S3 export's files (DynamoDB JSON) where it runs, without the monitor.
    "monitor/verify/spark_job.py",
}


def _wire_uses(tree: ast.AST) -> list[int]:
    """Lines that build or take apart a wire-format value: `{"S": ...}`, `x["S"]`, `x.get("S")`."""

    def tag(node: ast.AST | None) -> bool:
        return isinstance(node, ast.Constant) and node.value in WIRE_TAGS

    lines = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Dict)
            and any(tag(k) for k in node.keys)
            or isinstance(node, ast.Subscript)
            and tag(node.slice)
            or (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "get"
                and node.args
                and tag(node.args[0])
            )
        ):
            lines.append(node.lineno)
    return lines


def test_no_module_outside_the_stores_builds_or_parses_wire_format() -> None:
    root = Path(monitor.__file__).parent
    found = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root.parent).as_posix()
        if relative.startswith("monitor/stores/") or relative in {"monitor/local.py"}:
            continue
        if relative in WIRE_READERS:
            continue
        found += [f"{relative}:{line}" for line in _wire_uses(ast.parse(path.read_text()))]
    assert not found, f"DynamoDB wire format outside monitor/stores (go through a port): {found}"


def test_the_wire_check_sees_each_form() -> None:
    source = 'a = {"S": "x"}\nb = item["N"]\nc = item.get("M")\nd = {"AttributeType": "S"}\n'
    assert _wire_uses(ast.parse(source)) == [1, 2, 3]


def test_every_module_outside_the_stores_is_under_the_wire_contract() -> None:
    contracts = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]["contracts"]
    (contract,) = [c for c in contracts if c["name"] == WIRE_CONTRACT]
    sources = list(contract["source_modules"])
    modules = [
        info.name
        for info in pkgutil.walk_packages(monitor.__path__, prefix="monitor.")
        if not _covered(info.name, ["monitor.stores", "monitor.local", "monitor.__main__"])
    ]
    outside = [m for m in modules if not _covered(m, sources)]
    assert modules and not outside, f"add these to {WIRE_CONTRACT!r} in pyproject.toml: {outside}"
