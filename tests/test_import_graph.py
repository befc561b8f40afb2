"""The ``snnkd`` package's import graph has no cycle (issue 11, item 6).

Every module under ``src/snnkd`` and the built-in plugins (``methods/``, installed as
``snnkd.methods_builtin``) is parsed with :mod:`ast`; every ``import`` and
``from ... import`` of an ``snnkd`` module is an edge, wherever it stands: at
module level, inside a function (a lazy import) or inside a class. Importing
``snnkd.a.b`` also runs ``snnkd/a/__init__.py``, so ancestor packages are edges
too (except the importer's own packages, which are already running).
``from snnkd.a import b`` names the submodule ``snnkd.a.b`` when that file exists,
otherwise an attribute of ``snnkd.a``. Plugins found at run time by
:func:`snnkd.methods.discover` (by package name, after ``snnkd.methods`` is loaded)
are no static import and no edge.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
ROOT = "snnkd"
#: setup.py maps the top-level methods/ folder (the built-in plugins) into the package
MAPPED = {"snnkd.methods_builtin": REPO / "methods"}


def module_names(src: Path = SRC, mapped: dict[str, Path] | None = None) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file of the package (and mapped folders)."""
    folders = {ROOT: src / ROOT, **(MAPPED if mapped is None else mapped)}
    names = {}
    for package, folder in folders.items():
        for path in sorted(folder.rglob("*.py")):
            parts = [*package.split("."), *path.relative_to(folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            names[".".join(parts)] = path
    return names


def _ancestors(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def imported_modules(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The ``snnkd`` modules that importing (or calling into) ``module`` may import."""
    is_package = path.name == "__init__.py"
    package = module if is_package else module.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            targets.add(base)
            targets.update(f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in known)
    edges = set()
    for target in targets:
        if target != ROOT and not target.startswith(ROOT + "."):
            continue
        while target and target not in known:  # `import snnkd.a.b.attr`-style names
            target = target.rpartition(".")[0]
        for name in [*_ancestors(target), target]:
            if name != ROOT and name != module and name not in _ancestors(module):
                edges.add(name)
    return edges


def import_graph(src: Path = SRC, mapped: dict[str, Path] | None = None) -> nx.DiGraph:
    """Directed graph: an edge ``a -> b`` when module ``a`` imports ``snnkd`` module ``b``."""
    known = module_names(src, mapped)
    graph = nx.DiGraph()
    graph.add_nodes_from(known)
    for module, path in known.items():
        graph.add_edges_from((module, target) for target in imported_modules(module, path, known))
    return graph


def test_graph_sees_lazy_and_relative_imports(tmp_path):
    """The parser finds function-level, relative and ``from package import submodule`` imports."""
    pkg = tmp_path / ROOT
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("import os\n\ndef f():\n    from snnkd.sub import b\n    return b\n")
    (pkg / "sub" / "b.py").write_text("from . import c\n")
    (pkg / "sub" / "c.py").write_text("def g():\n    from ..a import f\n    return f\n")
    graph = import_graph(tmp_path, mapped={})
    assert set(graph.edges) == {
        ("snnkd.a", "snnkd.sub"),
        ("snnkd.a", "snnkd.sub.b"),
        ("snnkd.sub.b", "snnkd.sub.c"),
        ("snnkd.sub.c", "snnkd.a"),
    }
    assert [sorted(c) for c in nx.simple_cycles(graph)] == [["snnkd.a", "snnkd.sub.b", "snnkd.sub.c"]]


def test_no_import_cycles():
    graph = import_graph()
    assert graph.number_of_nodes() > 40 and graph.has_edge("snnkd.cli.main", "snnkd.tune.command")
    assert graph.has_edge("snnkd.methods_builtin.kd", "snnkd.methods")
    cycles = [c for c in nx.strongly_connected_components(graph) if len(c) > 1]
    cycles += [{n} for n in graph.nodes if graph.has_edge(n, n)]
    examples = [" -> ".join([*cycle, cycle[0]]) for cycle in list(nx.simple_cycles(graph))[:10]]
    assert not cycles, "import cycles:\n" + "\n".join(examples)


def test_tracking_never_reaches_the_suite():
    """Tracking a run must not import the suite (nor anything that imports it)."""
    graph = import_graph()
    reachable = set().union(
        *(nx.descendants(graph, f"snnkd.tracking.{m}") for m in ("log", "provenance", "store"))
    )
    assert "snnkd.pipeline.suite" not in reachable and "snnkd.pipeline.plan" not in reachable


def test_commands_never_import_the_cli():
    graph = import_graph()
    assert not nx.ancestors(graph, "snnkd.cli.main") - {"snnkd.__main__"}
