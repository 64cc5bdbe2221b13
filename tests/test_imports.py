"""No import cycle in src/spoofguard: a module-level import graph, walked with ``ast`` (nothing is imported).

Two graphs: the modules (``spoofguard.inference.detector`` -> ``spoofguard.inference.video``), and the
packages they live in (``spoofguard.data`` -> ``spoofguard.modalities``), so that two layers importing
each other through different modules count too. Imports inside functions are left out: they run
late, on purpose (torch-free paths, optional packages).
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

# Edges left out for now, each a (module prefix, imported module prefix) pair, with why. Remove an entry
# once its files are changed; the test then guards it too.
NOT_YET = [
    # data/importers/ is being edited elsewhere: each importer imports ImportResult and register_importer
    # from the package, whose __init__ imports every importer (to register it) at its end
    ("spoofguard.data.importers.", "spoofguard.data.importers"),
]


def _modules() -> dict[str, tuple[Path, bool]]:
    out = {}
    for path in sorted((SRC / "spoofguard").rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        package = parts[-1] == "__init__"
        out[".".join(parts[:-1] if package else parts)] = (path, package)
    return out


def _module_level(tree: ast.Module) -> list[ast.stmt]:
    """The statements that run at import: the module's own, and those under its if / try blocks."""
    todo, out = list(tree.body), []
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.If, ast.Try)):
            todo += node.body + node.orelse + getattr(node, "finalbody", []) + [s for h in getattr(node, "handlers", []) for s in h.body]
        else:
            out.append(node)
    return out


def import_graph() -> dict[str, set[str]]:
    """module -> the spoofguard modules it imports at module level (``from pkg import sub`` is pkg.sub)."""
    modules = _modules()
    graph = {}
    for name, (path, package) in modules.items():
        here = name if package else name.rpartition(".")[0]
        edges = set()
        for node in _module_level(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                edges |= {a.name for a in node.names if a.name in modules}
            elif isinstance(node, ast.ImportFrom):
                base = here.split(".")[: len(here.split(".")) - node.level + 1] if node.level else []
                target = ".".join(base + ([node.module] if node.module else [])) if node.level else node.module
                for a in node.names:
                    edges.add(f"{target}.{a.name}" if f"{target}.{a.name}" in modules else target)
        graph[name] = {m for m in edges if m in modules and m != name and not _not_yet(name, m)}
    return graph


def _not_yet(source: str, target: str) -> bool:
    return any(source.startswith(a) and (target == b or target.startswith(b + ".")) for a, b in NOT_YET)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one member (Tarjan), each sorted."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The same edges between the packages of spoofguard (``spoofguard.data``, ``spoofguard.inference``, ...;
    top-level modules such as ``spoofguard.cli`` stand for themselves)."""
    def package(m: str) -> str:
        return ".".join(m.split(".")[:2])

    out: dict[str, set[str]] = {}
    for a, targets in graph.items():
        for b in targets:
            if package(a) != package(b) and "spoofguard" not in (a, b):
                out.setdefault(package(a), set()).add(package(b))
    return out


def test_no_module_imports_itself_through_others():
    graph = import_graph()
    assert len(graph) > 80  # every module was read
    found = cycles(graph)
    assert not found, "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


def test_no_two_packages_import_each_other():
    found = cycles(package_graph(import_graph()))
    assert not found, "packages importing each other: " + "; ".join(" <-> ".join(c) for c in found)


def test_the_walk_finds_a_cycle_when_there_is_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
    graph = import_graph()
    assert "spoofguard.inference.runners" in graph["spoofguard.inference.detector"]  # ``from x import y`` edges are seen
