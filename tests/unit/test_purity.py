"""Pure layers stay pure (docs/style.md rule 1): no I/O libraries, no `os`, no reading the clock.

Scans every module under parsers/ and daemon/core/ that exists, so modules added later
are checked without touching this file.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PURE_DIRS = ("parsers", "daemon/core")
FORBIDDEN_MODULES = {"imapclient", "aiosmtplib", "peewee", "schedule", "os", "socket", "sqlite3"}
# (object, attribute) pairs whose call reads the real clock.
CLOCK_CALLS = {
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
    ("time", "time"),
    ("time", "time_ns"),
}
SOURCES = sorted(p for d in PURE_DIRS for p in (ROOT / d).rglob("*.py"))


def _imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def _clock_calls(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        # `from time import time` would hide the call behind a bare name.
        if isinstance(node, ast.ImportFrom) and node.module == "time":
            found += [
                (node.lineno, f"time.{a.name}") for a in node.names if a.name in ("time", "time_ns")
            ]
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", None)
            if (name, node.func.attr) in CLOCK_CALLS:
                found.append((node.lineno, f"{name}.{node.func.attr}()"))
    return found


def test_there_is_something_to_check():
    assert any(p.parent.name == "parsers" for p in SOURCES)


@pytest.mark.parametrize("path", SOURCES, ids=[str(p.relative_to(ROOT)) for p in SOURCES])
def test_no_forbidden_imports(path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    bad = [
        f"line {n}: {m}" for n, m in _imported_modules(tree) if m.split(".")[0] in FORBIDDEN_MODULES
    ]
    assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


@pytest.mark.parametrize("path", SOURCES, ids=[str(p.relative_to(ROOT)) for p in SOURCES])
def test_no_clock_reads(path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    bad = [f"line {n}: {c}" for n, c in _clock_calls(tree)]
    assert not bad, f"{path.relative_to(ROOT)} reads the clock: {bad}; take `now` as an argument"


def test_the_scanner_catches_what_it_forbids():
    sample = (
        "import os.path\nfrom socket import socket\nimport datetime as dt\n"
        "from datetime import datetime\nx = datetime.now()\ny = dt.datetime.utcnow()\nimport time\nz = time.time()\n"
        "from time import time_ns\n"
    )
    tree = ast.parse(sample)
    assert [m for _, m in _imported_modules(tree) if m.split(".")[0] in FORBIDDEN_MODULES] == [
        "os.path",
        "socket",
    ]
    assert sorted(c for _, c in _clock_calls(tree)) == [
        "datetime.now()",
        "datetime.utcnow()",
        "time.time()",
        "time.time_ns",
    ]
