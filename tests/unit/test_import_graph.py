"""No import circles among mythos's modules.

The graph is read from the source with ``ast``: every ``import`` and ``from ... import``, those
under ``if TYPE_CHECKING:`` and inside functions included, because a circle that only a lazy
or type-checking import hides still ties the two modules together. An edge goes to a module
of the package (``from mythos.world import World`` is an edge to ``mythos.world``).
"""

from __future__ import annotations

import ast
from itertools import permutations
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[2]

# Circles whose owner is breaking them in a separate change. Each entry must still be a circle
# (the last test says so), so the exemption is removed in the commit that breaks it.
KNOWN_PENDING: frozenset[frozenset[str]] = frozenset()


def _modules(package_dir: Path) -> dict[str, Path]:
    base = package_dir.parent
    out = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(base).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def import_graph(package_dir: Path) -> nx.DiGraph:
    """Module -> module it imports, for every module under ``package_dir``."""
    modules = _modules(package_dir)
    graph: nx.DiGraph = nx.DiGraph()
    for name, path in modules.items():
        graph.add_node(name)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
            for target in targets:
                if target in modules and target != name:
                    graph.add_edge(name, target)
    return graph


def _without_pending(graph: nx.DiGraph) -> nx.DiGraph:
    pruned = graph.copy()
    for pair in KNOWN_PENDING:
        a, b = sorted(pair)
        for edge in ((a, b), (b, a)):
            if pruned.has_edge(*edge):
                pruned.remove_edge(*edge)
    return pruned


def test_the_checker_finds_a_circle(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg.sub import b\n")
    (pkg / "sub" / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..a import X\n")
    (pkg / "c.py").write_text("def f():\n    import pkg.a\n")
    graph = import_graph(pkg)
    assert graph.has_edge("pkg.a", "pkg.sub.b") and graph.has_edge("pkg.sub.b", "pkg.a")
    assert graph.has_edge("pkg.c", "pkg.a")
    assert not nx.is_directed_acyclic_graph(graph)


def test_mythos_has_no_import_circle() -> None:
    graph = _without_pending(import_graph(ROOT / "mythos"))
    cycles = sorted(sorted(c) for c in nx.simple_cycles(graph))
    assert cycles == [], f"import circles: {cycles}"


def test_the_commands_package_has_no_import_circle() -> None:
    graph = import_graph(ROOT / "mythos")
    commands = graph.subgraph(n for n in graph if n.startswith("mythos.commands"))
    assert len(commands) > 10
    assert nx.is_directed_acyclic_graph(commands), sorted(sorted(c) for c in nx.simple_cycles(commands))


def test_each_pending_exemption_is_still_needed() -> None:
    # One test over the set (not one per pair), so an empty set is not a skipped test.
    graph = import_graph(ROOT / "mythos")
    broken = [sorted(p) for p in KNOWN_PENDING if not all(graph.has_edge(a, b) for a, b in permutations(p))]
    assert broken == [], f"these circles are broken: remove them from KNOWN_PENDING: {broken}"
