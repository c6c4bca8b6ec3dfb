"""Every document a comment, docstring or doc names is in this repository.

Comments used to cite design notes that lived outside the repository, so a
reader met references nobody could open. The contracts are now in docs/, and
this test keeps it that way: a bare name of an outside document fails, a
docs/ path that does not exist fails, and a numbered case or rule fails unless
the named docs/ file has a heading for it ("### Case 39.", "### Rule 3.",
"### I5.").
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
THIS = Path(__file__).resolve()

# Where references live: code, tests, benches, docs and the shipped config.
SCANNED_DIRS = ("daemon", "parsers", "store", "tests", "bench", "docs", "systemd", ".ci")
SCANNED_FILES = ("README.md", "config.example.toml", "pyproject.toml")
SUFFIXES = {".py", ".md", ".toml", ".service", ""}

# The outside documents by their old names. Upper case only: "design" and
# "reliability" are ordinary words.
_OUTSIDE = re.compile(r"\b(?:DESIGN|RELIABILITY|STYLE)(?:\.md)?\b|\bproposed G \d+")
_DOC_PATH = re.compile(r"\bdocs/([\w.-]+\.md)\b")
_NUMBERS = r"(?P<nums>[0-9]+[a-e]?(?:\s*(?:,|and|or|-|/)\s*[0-9]+[a-e]?)*)"
_NUMBERED = re.compile(
    r"\bdocs/(?P<doc>[\w.-]+\.md)\s+(?:(?P<kind>cases?|rules?)\s+" + _NUMBERS
    + r"|(?P<inv>I[0-9]+)\b)"
)
_HEADING = re.compile(r"^#{2,4}\s+(?:(?:Case|Rule)\s+(?P<n>[0-9]+)|(?P<inv>I[0-9]+))\.", re.M)
_MD_LINK = re.compile(r"\]\((?P<target>[^)#\s]+)(?:#[^)]*)?\)")


def _numbers(text: str) -> set[int]:
    found: set[int] = set()
    for low, high in re.findall(r"([0-9]+)\s*-\s*([0-9]+)", text):
        found.update(range(int(low), int(high) + 1))
    found.update(int(n) for n in re.findall(r"[0-9]+", text))
    return found


def headings(doc: str, docs_dir: Path = ROOT / "docs") -> set[str]:
    """Case/rule numbers and invariant names that `doc` has a heading for."""
    path = docs_dir / doc
    if not path.is_file():
        return set()
    return {m.group("n") or m.group("inv") for m in _HEADING.finditer(path.read_text("utf-8"))}


def bad_references(text: str, docs_dir: Path = ROOT / "docs") -> list[str]:
    """Each reference in `text` to a document or numbered item that is not in the repository."""
    # A reference may wrap onto the next comment line: read "#"-continued lines as one.
    flat = re.sub(r"\n[ \t]*#+[ \t]*", " ", text)
    bad = [f"outside document: {m.group(0)!r}" for m in _OUTSIDE.finditer(flat)]
    for m in _DOC_PATH.finditer(flat):
        if not (docs_dir / m.group(1)).is_file():
            bad.append(f"no such file: docs/{m.group(1)}")
    for m in _NUMBERED.finditer(flat):
        doc = m.group("doc")
        have = headings(doc, docs_dir)
        wanted = {m.group("inv")} if m.group("inv") else {str(n) for n in _numbers(m.group("nums"))}
        for item in sorted(wanted - have):
            what = "" if m.group("inv") else f"{m.group('kind').rstrip('s')} "
            bad.append(f"docs/{doc} has no heading for {what}{item}")
    return bad


def _scanned() -> list[Path]:
    files = [ROOT / name for name in SCANNED_FILES if (ROOT / name).is_file()]
    for folder in SCANNED_DIRS:
        for path in sorted((ROOT / folder).rglob("*")):
            if path.is_file() and path.suffix in SUFFIXES and "__pycache__" not in path.parts:
                files.append(path)
    return [p for p in files if p.resolve() != THIS]


def test_the_docs_the_code_names_exist() -> None:
    for name in ("mail-path.md", "threading.md", "tags.md", "reliability.md", "style.md",
                 "service-rules.md"):
        assert (ROOT / "docs" / name).is_file(), name


def test_no_reference_in_the_tree_points_outside_the_repository() -> None:
    scanned = _scanned()
    assert len(scanned) > 100, "the scan found too few files to mean anything"
    found = []
    for path in scanned:
        try:
            text = path.read_text("utf-8")
        except UnicodeDecodeError:
            continue
        found += [f"{path.relative_to(ROOT)}: {why}" for why in bad_references(text)]
    assert not found, "\n".join(found)


def test_links_between_docs_resolve() -> None:
    broken = []
    for path in sorted((ROOT / "docs").glob("*.md")):
        for m in _MD_LINK.finditer(path.read_text("utf-8")):
            target = m.group("target")
            if "://" not in target and not (path.parent / target).exists():
                broken.append(f"{path.name} -> {target}")
    assert not broken, broken


def test_every_case_the_tests_cite_has_a_heading() -> None:
    # The cases 36-44 of the last two reviews, and the older ones the tests are named after.
    cases = headings("reliability.md")
    for n in (1, 2, 5, 9, 10, 11, 12, 13, 19, 20, 21, 22, 23, 24, 26, 28, 29, 30, 31,
              36, 37, 38, 39, 40, 41, 42, 43, 44):
        assert str(n) in cases, n


# --- the checker itself, on planted references -----------------------------------------


@pytest.mark.parametrize("text", [
    "the duplicate key of DESIGN section 2",
    "(RELIABILITY case 39)",
    "see DESIGN.md",
    "(STYLE rule 3)",
    "per-recipient caps; proposed G 43",
    "a crash loop (docs/reliability.md case 99).",
    "docs/reliability.md cases 38 and 98",
    "docs/reliability.md cases 40-46",
    "docs/reliability.md I9",
    "docs/style.md rule 11",
    "docs/nowhere.md",
    "# a comment that wraps (docs/reliability.md\n    # case 97).",
])
def test_checker_flags_a_planted_bad_reference(text: str) -> None:
    assert bad_references(text), text


@pytest.mark.parametrize("text", [
    "a crash loop (docs/reliability.md case 39).",
    "docs/reliability.md cases 36-42 and 44",
    "docs/reliability.md cases 31/40",
    "docs/reliability.md I5",
    "docs/style.md rule 3",
    "docs/service-rules.md rules 7, 8 and 10",
    "# wraps (docs/reliability.md\n    # case 25).",
    "the design of the reliability section",
])
def test_checker_accepts_a_good_reference(text: str) -> None:
    assert bad_references(text) == [], text


def test_checker_reads_headings_from_the_docs_it_is_given(tmp_path: Path) -> None:
    (tmp_path / "reliability.md").write_text("### Case 7. Seven\n### I2. Two\n", "utf-8")
    assert bad_references("docs/reliability.md case 7, docs/reliability.md I2", tmp_path) == []
    assert bad_references("docs/reliability.md case 39", tmp_path) == [
        "docs/reliability.md has no heading for case 39"]
