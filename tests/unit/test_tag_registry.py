"""daemon/core/tags: one module per tag, found without a list; the lexer knows no tag (issue 10).

A tag is its module: the registry finds it, the lexer reads its syntax from it, the
cheat sheet lists it in both languages, and core/staff.py decides with its rule and
its client-notice strength. Nothing else names a tag.
"""

from __future__ import annotations

import ast
import pkgutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import daemon.core.tags as registry
from daemon.core.tags import TAGS, Tag, help_text
from parsers import tags as lexer
from parsers.tags import ArgKind

ROOT = Path(__file__).resolve().parents[2]
MSK = ZoneInfo("Europe/Moscow")
NOW = datetime(2026, 11, 27, 10, 0, tzinfo=MSK)


def test_every_module_of_the_package_is_one_tag_named_after_it():
    modules = [m.name for m in pkgutil.iter_modules(registry.__path__) if not m.name.startswith("_")]
    assert sorted(modules) == sorted(TAGS)
    for name in modules:
        tag = __import__(f"daemon.core.tags.{name}", fromlist=["TAG"]).TAG
        assert isinstance(tag, Tag) and tag.name == name
        assert TAGS[name] is tag


def test_every_tag_has_help_in_both_languages_and_known_roles():
    for tag in TAGS.values():
        assert tag.help_ru.strip() and tag.help_en.strip(), tag.name
        assert tag.roles and tag.roles <= {"manager", "assistant", "admin"}, tag.name
        assert isinstance(tag.arg, ArgKind)
        assert bool(tag.legend_ru) == bool(tag.legend_en), tag.name


def test_strongest_client_notice_order_is_the_documented_one():
    # docs/tags.md, "Rules across tags": done, cancel, reject, accept, ask, delay, due, reply.
    facing = sorted((t for t in TAGS.values() if t.client_notice), key=lambda t: -t.strength)
    assert [t.name for t in facing][:8] == ["done", "cancel", "reject", "accept", "ask", "delay", "due", "reply"]
    strengths = [t.strength for t in facing]
    assert len(set(strengths)) == len(strengths), "two client-facing tags of equal strength"


def test_registry_cannot_be_changed_at_run_time():
    with pytest.raises(TypeError):
        TAGS["x"] = TAGS["done"]  # type: ignore[index]


@dataclass(frozen=True)
class _Syntax:
    name: str
    arg: ArgKind
    options: frozenset[str] = frozenset()


def test_the_lexer_reads_any_vocabulary_it_is_given():
    vocabulary = {"ping": _Syntax("ping", ArgKind.REQUIRED_WHEN), "pay": _Syntax("pay", ArgKind.OPTIONAL_AMOUNT)}
    parsed = lexer.parse_commands("#ping +2h\n#pay 10\ntext", "", NOW, MSK, tags=vocabulary)
    assert [(c.name, c.when, c.amount) for c in parsed.commands] == [
        ("ping", datetime(2026, 11, 27, 12, 0, tzinfo=MSK), None), ("pay", None, 10)]
    assert parsed.rest == "text"
    error = lexer.parse_commands("#done", "", NOW, MSK, tags=vocabulary).errors[0]
    assert error == "line 1 (#done): unknown tag #done; valid tags: #ping, #pay"


def test_the_lexer_source_names_no_tag():
    source = (ROOT / "parsers" / "tags.py").read_text(encoding="utf-8")
    strings = {n.value for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Constant)
               and isinstance(n.value, str)}
    assert not set(TAGS) & strings


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_the_cheat_sheet_is_the_registry(lang: str):
    text = help_text(lang)
    lines = [line for line in text.splitlines() if line.startswith("#") and " — " in line]
    assert [line.split()[0][1:] for line in lines] == list(TAGS)
    for tag in TAGS.values():
        if tag.legend_en:
            assert (tag.legend_ru if lang == "ru" else tag.legend_en) in text
