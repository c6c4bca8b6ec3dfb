"""The CLI's modules stay small and at the edge (issue 10).

- They read no clock of their own: main() makes the one Clock and hands it down. Every
  module of daemon/cli/, the sandbox's commands and daemon/output.py are scanned with the
  scanner of test_purity.py; constructing SystemClock is allowed only in main().
- They query nothing: store rows are read and written by named functions in store/.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.unit.test_purity import _clock_calls

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted([*(ROOT / "daemon" / "cli").glob("*.py"), ROOT / "daemon" / "sandbox" / "cli.py",
                  ROOT / "daemon" / "output.py"])
# The one place the real clock is chosen, as the default of main(argv, clock=None).
CLOCK_OWNER = ROOT / "daemon" / "cli" / "__init__.py"


def clock_reads(source: str, may_choose_clock: bool = False) -> list[str]:
    tree = ast.parse(source)
    found = [f"line {n}: {c}" for n, c in _clock_calls(tree)]
    if not may_choose_clock:
        for node in ast.walk(tree):
            named = (isinstance(node, ast.Name) and node.id == "SystemClock") or (
                isinstance(node, ast.ImportFrom) and any(a.name == "SystemClock" for a in node.names))
            if named:
                found.append(f"line {node.lineno}: SystemClock")
    return found


def test_the_cli_package_is_there():
    assert {p.name for p in SOURCES} >= {"__init__.py", "client.py", "ticket.py", "invoice.py", "payment.py",
                                          "outbox.py", "quarantine.py", "report.py", "desk.py"}


@pytest.mark.parametrize("path", SOURCES, ids=[str(p.relative_to(ROOT)) for p in SOURCES])
def test_no_cli_module_reads_the_clock(path):
    bad = clock_reads(path.read_text(encoding="utf-8"), may_choose_clock=path == CLOCK_OWNER)
    assert not bad, f"{path.relative_to(ROOT)} reads the clock: {bad}; use the `clock` main() hands down"


# Model calls that run SQL; the CLI gets its rows from store functions instead.
# (`get` and `update` are left out: dicts have them too.)
QUERY_CALLS = {"select", "get_or_none", "get_by_id", "create", "delete", "insert", "insert_many", "save",
               "delete_instance", "execute"}


def queries(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            found += [f"line {node.lineno}: import {n}" for n in names if n.split(".")[0] == "peewee"]
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in QUERY_CALLS:
            found.append(f"line {node.lineno}: .{node.func.attr}()")
    return found


@pytest.mark.parametrize("path", SOURCES, ids=[str(p.relative_to(ROOT)) for p in SOURCES])
def test_no_cli_module_queries_the_store(path):
    bad = queries(path.read_text(encoding="utf-8"))
    assert not bad, f"{path.relative_to(ROOT)} queries the store itself: {bad}; add a function to store/"


def test_the_check_catches_a_query_in_a_handler():
    handler = "import peewee\ndef cmd(args, clock):\n    return Ticket.select().where(Ticket.id == 1)\n"
    assert queries(handler) == ["line 1: import peewee", "line 3: .select()"]


def test_the_check_catches_a_handler_that_reads_the_clock():
    handler = ("from datetime import UTC, datetime\nfrom daemon.clock import SystemClock\n"
               "def cmd(args, clock):\n    a = datetime.now(UTC)\n    b = SystemClock().now()\n")
    assert clock_reads(handler) == ["line 4: datetime.now()", "line 2: SystemClock", "line 5: SystemClock"]
    assert clock_reads("def cmd(args, clock):\n    return clock.now()\n") == []
