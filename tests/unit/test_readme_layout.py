"""README's folder table ("## How a mail travels") matches the tree one to one (issue 10).

Every package folder (one holding __init__.py), every top-level folder and every folder
directly under tests/ has its own row, and every row names a folder that exists, so a
newcomer reading the table sees the whole tree and nothing that is gone.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SECTION = "## How a mail travels"
# Build and tool output, never part of the design.
IGNORED = {"__pycache__", "build", "dist", "node_modules"}
_ROW = re.compile(r"^\|[^|]*\|\s*`([^`]+)`\s*\|")


def table_folders(readme: str) -> list[str]:
    """The folder column of the table in SECTION, as written (`daemon/core/` -> daemon/core)."""
    try:
        section = readme.split(SECTION, 1)[1]
    except IndexError:
        raise AssertionError(f"README has no {SECTION!r} section") from None
    section = section.split("\n## ", 1)[0]
    return [m.group(1).rstrip("/") for line in section.splitlines() if (m := _ROW.match(line))]


def _skipped(path: Path) -> bool:
    return path.name.startswith(".") or path.name in IGNORED or path.name.endswith(".egg-info")


def tree_folders(root: Path) -> set[str]:
    """The folders the table must name: top-level ones, tests/*, and every package."""
    found = {p.name for p in root.iterdir() if p.is_dir() and not _skipped(p)}
    tests = root / "tests"
    if tests.is_dir():
        found |= {f"tests/{p.name}" for p in tests.iterdir() if p.is_dir() and not _skipped(p)}
    for init in root.rglob("__init__.py"):
        folder = init.parent.relative_to(root)
        if folder.parts and not any(_skipped(Path(part)) for part in folder.parts):
            found.add(folder.as_posix())
    return found


def layout_problems(root: Path) -> list[str]:
    """What disagrees between README's table and the tree under `root`."""
    named = table_folders((root / "README.md").read_text(encoding="utf-8"))
    problems = [f"{f}/ has two rows" for f in sorted({f for f in named if named.count(f) > 1})]
    problems += [f"{f}/ has no row in the table" for f in sorted(tree_folders(root) - set(named))]
    problems += [f"{f}/ is in the table but not in the tree" for f in named if not (root / f).is_dir()]
    return problems


def test_readme_table_and_tree_match_one_to_one() -> None:
    assert len(table_folders((ROOT / "README.md").read_text(encoding="utf-8"))) > 10
    assert layout_problems(ROOT) == []


def _fake_tree(root: Path, rows: list[str]) -> None:
    for package in ("daemon", "daemon/core", "store"):
        (root / package).mkdir(parents=True, exist_ok=True)
        (root / package / "__init__.py").write_text("", encoding="utf-8")
    (root / "tests" / "unit").mkdir(parents=True)
    (root / ".venv" / "lib" / "x").mkdir(parents=True)
    (root / ".venv" / "lib" / "x" / "__init__.py").write_text("", encoding="utf-8")
    table = "\n".join(f"| 1 | `{row}` | something |" for row in rows)
    (root / "README.md").write_text(
        f"# X\n\n{SECTION}\n\n| layer | folder | what |\n| --- | --- | --- |\n{table}\n\n"
        "## Next\n\n| a | `docs/` | not this table |\n",
        encoding="utf-8",
    )


def test_a_matching_fake_tree_passes(tmp_path: Path) -> None:
    _fake_tree(tmp_path, ["daemon/", "daemon/core/", "store/", "tests/", "tests/unit/"])
    assert layout_problems(tmp_path) == []


def test_a_planted_package_without_a_row_fails(tmp_path: Path) -> None:
    _fake_tree(tmp_path, ["daemon/", "daemon/core/", "store/", "tests/", "tests/unit/"])
    (tmp_path / "daemon" / "planted").mkdir()
    (tmp_path / "daemon" / "planted" / "__init__.py").write_text("", encoding="utf-8")
    assert layout_problems(tmp_path) == ["daemon/planted/ has no row in the table"]


def test_a_planted_row_for_a_missing_folder_fails(tmp_path: Path) -> None:
    rows = ["daemon/", "daemon/core/", "store/", "tests/", "tests/unit/", "daemon/gone/"]
    _fake_tree(tmp_path, rows)
    assert layout_problems(tmp_path) == ["daemon/gone/ is in the table but not in the tree"]


def test_a_folder_named_twice_fails(tmp_path: Path) -> None:
    _fake_tree(tmp_path, ["daemon/", "daemon/core/", "store/", "tests/", "tests/unit/", "store/"])
    assert layout_problems(tmp_path) == ["store/ has two rows"]
