"""The package's import graph: every arrow points down a fixed order of layers, and no cycle.

A module may import modules of its own layer or of layers below it, never above. Within a layer
the graph must be acyclic: two modules that need each other are one module, or the shared part
belongs a floor lower. Imports inside functions count too (a lazy import is still an arrow);
imports under `if TYPE_CHECKING:` do not (annotations only, never run). `from package import
name` counts as an import of the submodule when `name` is one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import fd_pipeline

PACKAGE = Path(fd_pipeline.__file__).parent

# A domain folder (the package of a `domain.py`): in the sync layer, its assets (`definitions.py`) above.
DOMAIN_FOLDERS = tuple(sorted(path.parent.name for path in PACKAGE.glob("*/domain.py")))

# Lowest first. A module belongs to the layer of its longest entry that is it or a package above it.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("ground", ("settings", "signals", "tls", "documents", "dagster_internals", "dagster_sqlite", "dagster_storage")),
    ("services", ("freshdesk", "embedding", "vectorstore", "sync_log", "migrations", "emulator")),
    ("sync", ("sync", "search", "catalog", "partitions", "pools", "domain", "domains", *DOMAIN_FOLDERS)),
    ("resources", ("resources",)),
    ("steps", ("run_scope", "run_metadata", "steps", "hourly_asset", *(f"{d}.definitions" for d in DOMAIN_FOLDERS))),
    ("code location", ("checks", "jobs", "schedules", "sensors", "freshness", "alerts", "watchdog", "definitions")),
    ("commands", ("commands", "cli")),
]


def _module_name(path: Path) -> str:
    parts = ["fd_pipeline", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(name: str, path: Path) -> set[str]:
    """The project modules `name` imports, anywhere in its file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            submodules = {f"{base}.{a.name}" for a in node.names} & MODULES.keys()
            found.update(submodules)
            if len(submodules) < len(node.names):  # some names come from the module itself
                found.add(base)
    return {m for m in found if m in MODULES and m != name and m != "fd_pipeline"}


def _runtime_nodes(tree: ast.AST):
    """Every node of `tree` outside `if TYPE_CHECKING:` blocks."""
    pending = [tree]
    while pending:
        node = pending.pop()
        yield node
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            pending.extend(node.orelse)
            continue
        pending.extend(ast.iter_child_nodes(node))


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def layer_of(module: str) -> int:
    name = module.removeprefix("fd_pipeline.")
    found = [(len(entry), index) for index, (_, entries) in enumerate(LAYERS) for entry in entries
             if name == entry or name.startswith(entry + ".")]
    if not found:
        raise AssertionError(f"{module} is in no layer of {__name__}.LAYERS: add it where it belongs")
    return max(found)[1]


def test_the_domain_folders_are_found() -> None:
    assert DOMAIN_FOLDERS == ("knowledge_base", "tickets")


def test_every_module_has_a_layer() -> None:
    for module in MODULES:
        if module != "fd_pipeline":
            layer_of(module)


def test_no_module_imports_a_higher_layer() -> None:
    upward = [
        f"{m} ({LAYERS[layer_of(m)][0]}) imports {d} ({LAYERS[layer_of(d)][0]})"
        for m, deps in sorted(GRAPH.items()) if m != "fd_pipeline"
        for d in sorted(deps) if layer_of(d) > layer_of(m)
    ]
    assert not upward, "arrows pointing up:\n" + "\n".join(upward)


def _cycle() -> list[str] | None:
    """One import cycle among the package's modules, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for dep in sorted(GRAPH[node]):
            if state.get(dep) == 1:
                return path[path.index(dep):] + [dep]
            if dep not in state and (found := visit(dep)):
                return found
        path.pop()
        state[node] = 2
        return None

    for module in sorted(GRAPH):
        if module not in state and (found := visit(module)):
            return found
    return None


def test_no_import_cycle() -> None:
    cycle = _cycle()
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_checker_sees_arrows_it_must_refuse(monkeypatch) -> None:
    """The graph is read from the real files: an upward arrow and a cycle added to it are reported."""
    assert "fd_pipeline.embedding.embedder" in GRAPH["fd_pipeline.embedding.backends"]
    assert "fd_pipeline.settings" in GRAPH["fd_pipeline.definitions"]  # `from fd_pipeline import settings`
    monkeypatch.setitem(GRAPH, "fd_pipeline.documents", {"fd_pipeline.resources"})
    try:
        test_no_module_imports_a_higher_layer()
    except AssertionError as exc:
        assert "fd_pipeline.documents (ground) imports fd_pipeline.resources (resources)" in str(exc)
    else:
        raise AssertionError("an upward arrow went unreported")
    monkeypatch.setitem(GRAPH, "fd_pipeline.documents", set())
    monkeypatch.setitem(GRAPH, "fd_pipeline.embedding.embedder", GRAPH["fd_pipeline.embedding.embedder"] | {"fd_pipeline.embedding.backends"})
    assert _cycle() is not None
