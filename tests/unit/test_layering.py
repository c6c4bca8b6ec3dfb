"""Every import runs downward, and no module imports itself back round a circle.

The layers, bottom first (a module may import its own layer and the ones below):

    0  parsers/      pure: bytes -> the parsed mail (parsers/mail.py), tags, WHEN, tokens
                     (templates/ is data with an empty __init__: anyone may import it)
    1  daemon/core/  pure domain: model, errors, settings values, decisions, money, SLA
    2  store/        persistence of the domain
    3  the rest of daemon/: runners, rendering, adapters, CLI, sandbox

Every module of the tree is parsed with `ast`; tests/ and bench/ are not part of it.
Imports inside functions count too: a lazy import still makes the module depend on the
one it imports (it only moves the failure to run time), so it may not climb a layer nor
close a circle. Imports under `if TYPE_CHECKING:` count as well: none are needed.
Importing `daemon.core.x` also runs daemon/__init__.py; that file is empty, so the
implicit parent packages are not counted as edges.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("parsers", "templates", "daemon", "store")
# Longest prefix first: daemon.core must win over daemon.
LAYERS = (("daemon.core", 1), ("parsers", 0), ("templates", 0), ("store", 2), ("daemon", 3))


def layer_of(module: str) -> int:
    for prefix, layer in LAYERS:
        if module == prefix or module.startswith(prefix + "."):
            return layer
    raise ValueError(f"{module} belongs to no layer: add its package to LAYERS")


def module_sources(root: Path) -> dict[str, str]:
    """Module name -> source text, for every .py file of the project packages under root."""
    found = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path.read_text(encoding="utf-8")
    return found


def _absolute(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports_of(module: str, source: str, known: Iterable[str], is_package: bool = False) -> list[tuple[int, str]]:
    """(line, project module) for every import in `source`, at any depth of the tree.

    `from pkg import name` counts as an import of pkg.name when that is a module.
    """
    known = set(known)
    found: list[tuple[int, str]] = []

    def add(line: int, name: str) -> None:
        # The longest project module that `name` starts with (`store.db.to_db` -> store.db).
        parts = name.split(".")
        for end in range(len(parts), 0, -1):
            candidate = ".".join(parts[:end])
            if candidate in known:
                found.append((line, candidate))
                return

    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(node.lineno, alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(module, is_package, node)
            for alias in node.names:
                if f"{base}.{alias.name}" in known:
                    add(node.lineno, f"{base}.{alias.name}")
                else:
                    add(node.lineno, base)
    return sorted(set(found))


def import_graph(sources: Mapping[str, str], packages: set[str] | None = None) -> dict[str, list[tuple[int, str]]]:
    packages = packages if packages is not None else set()
    return {m: imports_of(m, s, sources, m in packages) for m, s in sources.items()}


def upward_imports(graph: Mapping[str, list[tuple[int, str]]]) -> list[str]:
    return [
        f"{module} (layer {layer_of(module)}) line {line} imports {target} (layer {layer_of(target)})"
        for module, edges in sorted(graph.items())
        for line, target in edges
        if layer_of(target) > layer_of(module)
    ]


def import_circles(graph: Mapping[str, list[tuple[int, str]]]) -> list[list[str]]:
    """One circle (as a path that returns to its start) per strongly connected group."""
    edges = {m: sorted({t for _, t in e if t != m}) for m, e in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan; the tree is small, recursion depth is fine
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return [_circle_in(sorted(g), edges) for g in groups]


def _circle_in(group: list[str], edges: Mapping[str, list[str]]) -> list[str]:
    # Walk from the first module, staying inside the group, until a module repeats.
    members = set(group)
    path = [group[0]]
    while True:
        step = next(t for t in edges[path[-1]] if t in members)
        if step in path:
            return [*path[path.index(step):], step]
        path.append(step)


def _tree_graph() -> dict[str, list[tuple[int, str]]]:
    sources = module_sources(ROOT)
    packages = {m for m in sources if (ROOT / m.replace(".", "/") / "__init__.py").exists()}
    return import_graph(sources, packages)


def test_the_tree_has_every_layer():
    layers = {layer_of(m) for m in module_sources(ROOT)}
    assert layers == {0, 1, 2, 3}


def test_every_import_runs_downward():
    bad = upward_imports(_tree_graph())
    assert not bad, "imports that climb a layer:\n" + "\n".join(bad)


def test_no_import_circle():
    circles = import_circles(_tree_graph())
    assert not circles, "import circles:\n" + "\n".join(" -> ".join(c) for c in circles)


# -- the checker catches what it forbids -------------------------------------------------

SYNTHETIC = {
    "parsers": "",
    "parsers.mail": "from dataclasses import dataclass\n",
    "parsers.mime": "from parsers.mail import InboundMail\n",
    "daemon": "",
    "daemon.core": "",
    "daemon.core.model": "from parsers import mail\n",
    # A lazy import inside a function is still an import.
    "daemon.core.routing": "def route():\n    from store.queries import route_view\n",
    "store": "",
    "store.db": "from daemon.core.model import Decision\nfrom . import migrations\n",
    "store.migrations": "import store.models\n",
    "store.models": "from .db import database\n",
    "store.queries": "",
    "daemon.cli": "from daemon import views\n",
    "daemon.views": "from daemon.core.model import Notice\nfrom parsers.mime import parse\n",
}


def test_the_checker_catches_an_upward_import_and_a_circle():
    graph = import_graph(SYNTHETIC, packages={"parsers", "daemon", "daemon.core", "store"})
    # The lazy import in daemon.core.routing climbs a layer; relative imports are resolved.
    assert upward_imports(graph) == [
        "daemon.core.routing (layer 1) line 2 imports store.queries (layer 2)"
    ]
    assert import_circles(graph) == [["store.db", "store.migrations", "store.models", "store.db"]]


def test_the_checker_reads_a_real_tree_and_a_deliberately_wrong_import(tmp_path):
    for name, text in {
        "parsers/__init__.py": "",
        "parsers/mime.py": "import daemon.core.model\n",  # the bottom layer reaching up
        "templates/__init__.py": "",
        "daemon/__init__.py": "",
        "daemon/core/__init__.py": "",
        "daemon/core/model.py": "from parsers.mime import parse\n",
        "store/__init__.py": "",
    }.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    sources = module_sources(tmp_path)
    graph = import_graph(sources, {"parsers", "templates", "daemon", "daemon.core", "store"})
    assert upward_imports(graph) == ["parsers.mime (layer 0) line 1 imports daemon.core.model (layer 1)"]
    assert import_circles(graph) == [["daemon.core.model", "parsers.mime", "daemon.core.model"]]


def test_a_module_outside_every_layer_is_refused():
    with pytest.raises(ValueError, match="no layer"):
        layer_of("bench.ingest")
