"""No module outside tests/ grows past 400 lines (issue 10: one place for each kind of change).

A module that long has usually taken on a second job; split it by job (as daemon/sandbox/
dovecot*.py and bench/*.py were) rather than raising the limit.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHECKED = ("daemon", "parsers", "store", "bench")
LIMIT = 400


def too_long(root: Path, folders: tuple[str, ...] = CHECKED, limit: int = LIMIT) -> list[str]:
    """'path: N lines' for every .py under root/<folder> longer than `limit` lines."""
    found = []
    for folder in folders:
        for path in sorted((root / folder).rglob("*.py")):
            count = len(path.read_text(encoding="utf-8").splitlines())
            if count > limit:
                found.append(f"{path.relative_to(root)}: {count} lines")
    return found


def test_every_module_is_at_most_400_lines() -> None:
    # An empty tree would pass anything: make sure the walk sees the real packages.
    assert len(list((ROOT / "daemon").rglob("*.py"))) > 20
    assert too_long(ROOT) == []


def test_the_checker_finds_a_planted_long_module(tmp_path: Path) -> None:
    (tmp_path / "daemon" / "deep").mkdir(parents=True)
    (tmp_path / "daemon" / "ok.py").write_text("x = 1\n" * LIMIT, encoding="utf-8")
    (tmp_path / "daemon" / "deep" / "long.py").write_text("x = 1\n" * (LIMIT + 1), encoding="utf-8")
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "long.py").write_text("y = 2\n" * 900, encoding="utf-8")
    (tmp_path / "bench" / "notes.txt").write_text("z\n" * 900, encoding="utf-8")
    for folder in ("parsers", "store"):
        (tmp_path / folder).mkdir()

    assert too_long(tmp_path) == [
        "daemon/deep/long.py: 401 lines",
        "bench/long.py: 900 lines",
    ]
