"""No module of the monitor imports another that imports it back (directly or in a ring).

Import-linter's contracts keep the layers apart; this finds rings inside a layer too, with the
same import graph (grimp, which import-linter is built on).
"""

from __future__ import annotations

import grimp

#: Rings that exist today and are being removed; a ring that is gone must leave this list.
KNOWN_RINGS: list[frozenset[str]] = [
    # CheckContext holds the sampler's SampleCache; the sampler names CheckContext for its spec.
    frozenset({"monitor.checks.context", "monitor.checks.sampling", "monitor.checks.spec"}),
]


def import_rings(graph: grimp.ImportGraph) -> list[frozenset[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    rings: list[frozenset[str]] = []
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            module, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append(
                        (child, iter(sorted(graph.find_modules_directly_imported_by(child))))
                    )
                elif child in on_stack:
                    low[module] = min(low[module], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[module])
            if low[module] == index[module]:
                ring = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    ring.add(member)
                    if member == module:
                        break
                if len(ring) > 1:
                    rings.append(frozenset(ring))
    return rings


def test_no_new_import_rings() -> None:
    rings = import_rings(grimp.build_graph("monitor"))
    assert [sorted(r) for r in rings if r not in KNOWN_RINGS] == []
    assert [sorted(r) for r in KNOWN_RINGS if r not in rings] == [], "remove it from KNOWN_RINGS"


def test_a_ring_is_found() -> None:
    class Graph:
        modules = {"a", "b", "c", "d"}
        edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}

        def find_modules_directly_imported_by(self, module: str) -> set[str]:
            return self.edges[module]

    assert import_rings(Graph()) == [frozenset({"a", "b", "c"})]  # type: ignore[arg-type]
