"""store/ is the only package that touches the database (issue 10).

Outside store/, no module imports peewee or store.models, and the row classes that
store/rows.py hands out for type hints are never called on (`Ticket.select()`,
`Client.get_by_id()`): every query and write is a named function of store/.
tests/ and bench/ are not checked: they read the store to verify it.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHECKED = ("daemon", "parsers", "templates")
FORBIDDEN = ("peewee", "playhouse", "store.models", "store.prepared")
ROWS = "store.rows"
# Not yet moved; each entry must still break the rule, so it is removed once fixed.
# Modules allowed to touch the database for a while, with the reason; empty now.
PENDING: dict[str, str] = {}


def _forbidden(name: str) -> bool:
    return any(name == f or name.startswith(f + ".") for f in FORBIDDEN)


def violations(source: str) -> list[str]:
    """(line: what) for each database access a module outside store/ makes itself."""
    tree = ast.parse(source)
    found: list[str] = []
    row_names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _forbidden(alias.name):
                    found.append(f"{node.lineno}: imports {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [f"{node.module}.{a.name}" for a in node.names]
            if _forbidden(node.module) or any(_forbidden(n) for n in names):
                found.append(f"{node.lineno}: imports from {node.module}")
            if node.module == ROWS:
                row_names.update(a.asname or a.name for a in node.names)
    for node in ast.walk(tree):
        # A row class used for anything but a type hint: Ticket.select(), Client.create(...).
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and isinstance(node.func.value, ast.Name) and node.func.value.id in row_names:
            found.append(f"{node.lineno}: calls {node.func.value.id}.{node.func.attr}()")
        # Writing a row the store handed out: store/ has a named function for it.
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in ("save", "delete_instance"):
            found.append(f"{node.lineno}: calls .{node.func.attr}()")
    return sorted(found)


def _modules() -> dict[str, str]:
    return {str(p.relative_to(ROOT)): p.read_text(encoding="utf-8")
            for package in CHECKED for p in sorted((ROOT / package).rglob("*.py"))}


def test_only_store_touches_the_database():
    bad = {path: v for path, source in _modules().items() if path not in PENDING
           for v in [violations(source)] if v}
    assert not bad, "database access outside store/:\n" + "\n".join(
        f"{path} {line}" for path, lines in bad.items() for line in lines)


def test_every_pending_module_still_needs_its_exemption():
    # An exemption that outlived its reason would hide a new query in that module.
    sources = _modules()
    done = [path for path in PENDING if path not in sources or not violations(sources[path])]
    assert not done, f"remove from PENDING, they no longer touch the database: {done}"


def test_the_check_catches_a_planted_import_and_a_planted_query():
    assert violations("from store.models import Ticket\n") == ["1: imports from store.models"]
    assert violations("import peewee\n") == ["1: imports peewee"]
    assert violations("from store import models\n") == ["1: imports from store"]
    assert violations("def f():\n    from store.prepared import execute\n") == ["2: imports from store.prepared"]
    assert violations("from store.rows import Ticket as T\n\ndef f(t: T) -> int:\n    return T.select().count()\n") \
        == ["4: calls T.select()"]
    assert violations("def f(row):\n    row.save()\n") == ["2: calls .save()"]
    # What the runners do: named store functions, row classes only in type hints.
    clean = ("from store import spool\nfrom store.rows import Ticket\n\n"
             "def f(t: Ticket) -> str:\n    spool.mark_duplicate(t.id, None)\n    return t.key\n")
    assert violations(clean) == []


def test_the_tree_check_fails_on_a_planted_import(tmp_path, monkeypatch):
    (tmp_path / "daemon" / "runners").mkdir(parents=True)
    (tmp_path / "daemon" / "runners" / "fetch.py").write_text(
        "from store.models import SpoolEntry\n\ndef n():\n    return SpoolEntry.select().count()\n")
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    monkeypatch.setitem(globals(), "PENDING", {})
    try:
        test_only_store_touches_the_database()
    except AssertionError as exc:
        assert "daemon/runners/fetch.py 1: imports from store.models" in str(exc)
    else:
        raise AssertionError("the planted import passed the check")
