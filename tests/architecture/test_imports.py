"""The dependency rules of DESIGN.md ("Layout") hold for every package, and no module
imports another in a loop.

lint-imports checks the contracts written in pyproject.toml; these tests check that the
contracts cover every part (a new root package outside the layers would be checked by
nothing) and what the contracts cannot say: no cycle between files, including imports
made inside functions or only for type checking.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
ROOTS: list[str] = list(PYPROJECT["tool"]["yui"]["import-names"])
LINTER = PYPROJECT["tool"]["importlinter"]


def _layers_contract() -> list[str]:
    # The whole house's layers: the contract over root packages (a part may have its own
    # layers contract for its rooms, whose names are dotted).
    (contract,) = [
        c
        for c in LINTER["contracts"]
        if c["type"] == "layers" and not any("." in layer for layer in c["layers"])
    ]
    names: list[str] = []
    for layer in contract["layers"]:
        names += [part.strip() for part in layer.replace("|", ":").split(":")]
    return names


def test_every_root_package_is_in_the_layers_contract() -> None:
    assert sorted(LINTER["root_packages"]) == sorted(ROOTS)
    assert sorted(_layers_contract()) == sorted(ROOTS)


def test_the_composition_root_is_the_top_layer_and_the_kernel_the_bottom() -> None:
    layers = _layers_contract()
    assert layers[0] == "assembly"
    assert layers[-1] == "yui"


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan, iterative)."""
    edges = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            if i < len(edges[node]):
                work.append((node, i + 1))
                nxt = edges[node][i]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return groups


def test_no_module_imports_another_in_a_loop() -> None:
    graph = grimp.build_graph(*ROOTS, cache_dir=None)
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = grimp.ImportGraph()
    for name in ("a", "b", "c", "d"):
        graph.add_module(name)
    graph.add_import(importer="a", imported="b")
    graph.add_import(importer="b", imported="c")
    graph.add_import(importer="c", imported="a")
    graph.add_import(importer="c", imported="d")
    assert _cycles(graph) == [["a", "b", "c"]]
