"""What the wheel carries: every folder of Python code is a package setuptools finds.

pyproject.toml finds packages (daemon*, parsers*, store*, templates*) instead of
listing them; a folder of modules without __init__.py would be left out of the wheel
silently, and the installed daemon would fail where the editable one works
(docs/reliability.md case 42).
"""

from __future__ import annotations

from pathlib import Path

from setuptools import find_packages

ROOT = Path(__file__).resolve().parents[2]
TOP = ("daemon", "parsers", "store", "templates")


def test_every_folder_of_modules_is_a_package_the_wheel_carries():
    found = set(find_packages(str(ROOT), include=[f"{t}*" for t in TOP]))
    folders = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for top in TOP for p in (ROOT / top).rglob("*.py") if "__pycache__" not in p.parts
    }
    assert folders - found == set(), "add __init__.py to these folders so the wheel carries them"


def test_pyproject_finds_packages_instead_of_listing_them():
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert "[tool.setuptools.packages.find]" in text
    assert "\npackages = [" not in text
