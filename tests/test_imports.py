"""No import cycle among codeself's modules, counting imports inside functions.

A function-level import hides a cycle from Python (it only runs later) but not from the design:
the data layer that imports the sandbox, or generation that imports training, is a knot a reader
has to untie. This test parses every module under ``codeself/`` (nothing is imported), takes every
``import``/``from … import`` anywhere in it — module level, functions, methods, ``try`` blocks —
builds the graph of imports between codeself modules and fails on any cycle, naming each edge by
file and line.

An edge goes to the module a statement names: ``from codeself.sandbox import run`` is an edge to the
``codeself.sandbox`` package (its ``__init__``), ``from codeself import stats`` one to
``codeself.stats``. Importing a submodule also runs its parent packages' ``__init__``; those
implicit edges are not counted (every package would otherwise be a cycle with its own modules).
The lazy name map of ``codeself/__init__.py`` (``importlib`` on first attribute access) is not an
import statement and is not counted either.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "codeself"

#: Edges left out of the cycle check, each with the reason and what removes it. A waiver that is no
#: longer needed (the edge is gone, or no longer closes a cycle) fails ``test_waivers_are_still_needed``.
WAIVED: dict[tuple[str, str], str] = {}

#: Modules at the bottom of the flow and the only codeself modules each may import: the data layer
#: never imports the sandbox (or anything that runs code), and the prompt templates stay a leaf.
LEAVES: dict[str, set[str]] = {
    "codeself.io": set(),
    "codeself.judges": set(),
    "codeself.tasks": {"codeself.io", "codeself.judges"},
    "codeself.prompts": {"codeself.tasks"},
}


def modules() -> dict[str, tuple[Path, bool]]:
    """Dotted name → (file, is_package) for every module under codeself/."""
    out = {}
    for p in sorted(PKG.rglob("*.py")):
        parts = list(p.relative_to(ROOT).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        if is_pkg:
            parts = parts[:-1]
        out[".".join(parts)] = (p, is_pkg)
    return out


def _known(name: str, mods: dict) -> str | None:
    """The longest prefix of ``name`` that is a codeself module (``codeself.x.Name`` → ``codeself.x``)."""
    while name and name not in mods:
        name = name.rpartition(".")[0]
    return name or None


def import_edges(mods: dict[str, tuple[Path, bool]]) -> dict[str, dict[str, list[int]]]:
    """Module → {imported codeself module → line numbers}, from every import statement in its AST."""
    graph: dict[str, dict[str, list[int]]] = {}
    for name, (path, is_pkg) in mods.items():
        edges: dict[str, list[int]] = {}
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative: resolved against this module's package
                    base = name.split(".") if is_pkg else name.split(".")[:-1]
                    base = base[: len(base) - node.level + 1]
                    mod = ".".join(base + ([node.module] if node.module else []))
                else:
                    mod = node.module or ""
                # `from pkg import sub` imports the submodule `pkg.sub`; `from mod import name`, mod itself
                targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in mods else mod for a in node.names]
            for t in targets:
                if t == "codeself" or t.startswith("codeself."):
                    target = _known(t, mods)
                    if target and target != name:
                        edges.setdefault(target, []).append(node.lineno)
        graph[name] = edges
    return graph


def find_cycles(graph: dict[str, dict[str, list[int]]], skip: set[tuple[str, str]]) -> list[list[str]]:
    """One cycle (as a closed path of modules) per strongly connected component that has one."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    sccs: list[list[str]] = []

    def succ(v: str) -> list[str]:
        return sorted(w for w in graph.get(v, {}) if (v, w) not in skip and w in graph)

    def strongconnect(v: str) -> None:  # Tarjan; the package is small enough for recursion
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in succ(v):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)

    cycles = []
    for comp in sccs:  # a shortest path back to the component's first module, through the component
        start, members = comp[0], set(comp)
        prev: dict[str, str] = {}
        frontier, seen = [start], {start}
        while frontier and start not in prev:
            nxt = []
            for v in frontier:
                for w in succ(v):
                    if w not in members:
                        continue
                    if w == start and start not in prev:
                        prev[start] = v
                    elif w not in seen:
                        seen.add(w)
                        prev[w] = v
                        nxt.append(w)
            frontier = nxt
        path, v = [start], prev[start]
        while v != start:
            path.append(v)
            v = prev[v]
        path.append(start)
        cycles.append(path[::-1])
    return cycles


def describe(cycle: list[str], graph: dict[str, dict[str, list[int]]], mods: dict) -> str:
    steps = []
    for a, b in zip(cycle, cycle[1:], strict=False):
        where = mods[a][0].relative_to(ROOT)
        steps.append(f"  {where}:{','.join(map(str, graph[a][b]))}  {a} -> {b}")
    return "\n".join(steps)


def test_walker_sees_function_level_and_relative_imports(tmp_path, monkeypatch):
    pkg = tmp_path / "codeself"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from codeself.b import g\n    return g\n")
    (pkg / "b.py").write_text("import os\n\ntry:\n    from . import a\nexcept ImportError:\n    a = None\n")
    (pkg / "sub" / "__init__.py").write_text("from .c import x\n")
    (pkg / "sub" / "c.py").write_text("from ..a import f\nfrom codeself import sub\nx = 1\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    monkeypatch.setattr(sys.modules[__name__], "PKG", pkg)
    mods = modules()
    graph = import_edges(mods)
    assert graph["codeself.a"] == {"codeself.b": [2]}
    assert graph["codeself.b"] == {"codeself.a": [4]}
    assert graph["codeself.sub"] == {"codeself.sub.c": [1]}
    assert graph["codeself.sub.c"] == {"codeself.a": [1], "codeself.sub": [2]}
    cycles = find_cycles(graph, set())
    assert sorted(map(tuple, cycles)) == [("codeself.a", "codeself.b", "codeself.a"),
                                         ("codeself.sub", "codeself.sub.c", "codeself.sub")]
    assert "codeself/a.py:2  codeself.a -> codeself.b" in describe(cycles[0], graph, mods)
    assert find_cycles(graph, {("codeself.a", "codeself.b"), ("codeself.sub.c", "codeself.sub")}) == []


def test_no_import_cycle():
    mods = modules()
    graph = import_edges(mods)
    cycles = find_cycles(graph, set(WAIVED))
    assert not cycles, "import cycle(s) among codeself modules:\n" + "\n\n".join(
        describe(c, graph, mods) for c in cycles)


def test_waivers_are_still_needed():
    graph = import_edges(modules())
    for (a, b), reason in WAIVED.items():
        assert b in graph.get(a, {}), f"waived edge {a} -> {b} no longer exists: remove it from WAIVED"
        rest = set(WAIVED) - {(a, b)}
        assert find_cycles(graph, rest), f"waived edge {a} -> {b} closes no cycle any more ({reason})"


def test_the_data_layer_and_prompts_import_nothing_above_them():
    graph = import_edges(modules())
    for mod, allowed in LEAVES.items():
        extra = sorted(set(graph[mod]) - allowed)
        assert not extra, f"{mod} imports {extra}; it may import only {sorted(allowed) or 'no codeself module'}"


#: layers that must never import a higher one (module prefix → forbidden prefixes), as the flow says:
#: the sandbox runs code for everything above it and imports nothing above the data layer;
#: generation never imports training (codeself.models resolves "nano", above both)
NEVER_UP: dict[str, tuple[str, ...]] = {
    "codeself.sandbox": ("codeself.generation", "codeself.training", "codeself.rollouts", "codeself.agent",
                         "codeself.audit", "codeself.views", "codeself.reports", "codeself.cli", "codeself.datasets"),
    "codeself.generation": ("codeself.training", "codeself.rollouts", "codeself.agent", "codeself.views",
                            "codeself.reports", "codeself.cli", "codeself.models"),
}


def test_imports_never_point_up_the_flow():
    graph = import_edges(modules())
    bad = []
    for mod, targets in graph.items():
        for layer, forbidden in NEVER_UP.items():
            if mod == layer or mod.startswith(layer + "."):
                bad += [f"{mod} -> {t} (lines {lines})" for t, lines in targets.items()
                        if any(t == f or t.startswith(f + ".") for f in forbidden)]
    assert not bad, bad
