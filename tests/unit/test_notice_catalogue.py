"""The notice catalogue is complete and true to the templates the package ships (docs/reliability.md case 42).

Every kind renders in every language with StrictUndefined from its sample context; the
catalogue names exactly the variables its templates use; every template file belongs to a
kind and every kind has its files; every kind is an entry the code names, never a string.
"""

from __future__ import annotations

import ast
import re
import shutil
import sys
from pathlib import Path

import jinja2
import jinja2.meta
import pytest

import templates
from daemon.core import notice_kinds
from daemon.core.notice_kinds import NoticeKind
from daemon.core.tags import TAGS
from daemon.render import notice_catalogue
from daemon.render.compose import make_environment, render_parts
from daemon.render.notice_catalogue import KINDS, LANGUAGES, check_templates

ROOT = Path(__file__).resolve().parents[2]
# A kind's name, or the start of one (`"staff.alert."` in a startswith or an f-string).
KIND_LITERAL = re.compile(r"(client|staff|unknown)\.(notice|alert)(\.[a-z_]*)?")


def _kind_literals(source: str) -> list[int]:
    """Lines of `source` where a notice kind's name (or its `staff.alert.` kind of prefix) is a
    string literal that is not the name in a `NoticeKind("...")` declaration."""
    tree = ast.parse(source)
    declared = {id(call.args[0]) for call in ast.walk(tree) if isinstance(call, ast.Call) and call.args
                and (getattr(call.func, "id", None) == "NoticeKind" or getattr(call.func, "attr", None) == "NoticeKind")}
    return [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and KIND_LITERAL.fullmatch(node.value) and id(node) not in declared]


def _code() -> list[Path]:
    return sorted(path for folder in ("daemon", "store", "parsers") for path in (ROOT / folder).rglob("*.py"))


def test_every_kind_renders_in_every_language_with_strict_undefined():
    env = make_environment()
    assert env.undefined is jinja2.StrictUndefined
    assert check_templates(env) == []
    # Not vacuous: every kind, every language, every part was there to render.
    assert len(KINDS) >= 25
    for notice in KINDS.values():
        for language in LANGUAGES:
            subject, text, html = render_parts(env, notice.name, language,
                                               next(iter(notice.sample_contexts())))
            assert subject.strip() and text.strip()
            assert (html is not None) == ("html" in notice.parts)


def test_catalogue_names_exactly_the_variables_its_templates_use():
    env = make_environment()
    for notice in KINDS.values():
        used: set[str] = set()
        for language in LANGUAGES:
            for name in notice.files(language):
                source = env.loader.get_source(env, name)[0]
                used |= jinja2.meta.find_undeclared_variables(env.parse(source))
        declared = set(notice.needs) | set(notice.may)
        assert used == declared, (notice.name, "used, not declared:", used - declared,
                                  "declared, not used:", declared - used)
        assert not set(notice.needs) & set(notice.may), notice.name


def test_template_files_and_catalogue_kinds_match_one_to_one():
    env = make_environment()
    on_disk = notice_catalogue.template_files(env.loader)
    known = {name for notice in KINDS.values() for lang in LANGUAGES for name in notice.files(lang)}
    assert on_disk == known
    # The files are read from the package, wherever `daemon` was imported from.
    folder = Path(templates.__file__).parent
    assert {str(p.relative_to(folder)) for p in folder.rglob("*.j2")} == on_disk


def test_no_kind_is_named_by_a_string_literal_in_code():
    """Code refers to entries (kinds.ACK, a tag's NOTICE), never to a template name's string."""
    found = {str(path.relative_to(ROOT)): lines for path in _code()
             if (lines := _kind_literals(path.read_text(encoding="utf-8")))}
    assert found == {}, ("name these kinds by their entry in daemon/core/notice_kinds.py "
                         f"(or declare them there): {found}")


def test_the_literal_check_finds_what_it_should():
    # Not vacuous: each way a name slips back in is found; a declaration is not.
    assert _kind_literals('Notice(template="client.notice.ack", to=())\n') == [1]
    assert _kind_literals('x = 1\nif kind.startswith("staff.alert"):\n    pass\n') == [2]
    assert _kind_literals('name = f"staff.alert.{what}"\n') == [1]
    assert _kind_literals('{"unknown.notice.join": "join"}.get(k)\n') == [1]
    assert _kind_literals('NOTICE = NoticeKind("staff.notice.remind")\n') == []
    assert _kind_literals('ACK = kinds.NoticeKind("client.notice.ack", RateClass.NONE)\n') == []
    assert _kind_literals('"""Sends client.notice.ack to the client."""\n') == []


def test_every_declared_kind_is_in_the_catalogue_and_sent_by_code():
    assert set(notice_kinds.declared()) == set(KINDS)
    for key, entry in KINDS.items():
        assert type(key) is NoticeKind and entry.name is key and entry.rate is key.rate
    # Each entry is named somewhere besides its declaration and this catalogue: some code sends it.
    modules = [notice_kinds, *(sys.modules[tag.rule.__module__] for tag in TAGS.values())]
    constants = {kind: f"{module.__name__}.{name}" for module in modules
                 for name, kind in vars(module).items() if isinstance(kind, NoticeKind)}
    assert set(constants) == set(KINDS)
    used: set[str] = set()
    for path in _code():
        if path.name == "notice_catalogue.py":
            continue
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute):
                used.add(f"daemon.core.notice_kinds.{node.attr}")
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                used.add(f"{module}.{node.id}")
    assert {kind: name for kind, name in constants.items() if name not in used} == {}, "declared, never sent"


def test_audience_is_the_first_word_of_the_name():
    for name, notice in KINDS.items():
        assert notice.name == name
        assert notice.audience in notice_catalogue.AUDIENCES
        assert name.startswith(notice.audience + ".")
        assert notice.parts[:2] == ("subject", "txt")


def test_render_refuses_a_kind_the_catalogue_does_not_know():
    with pytest.raises(notice_catalogue.UnknownNoticeKind, match="staff.alert.nonesuch"):
        render_parts(make_environment(), "staff.alert.nonesuch", "ru", {})


def _copy_templates(tmp_path: Path) -> Path:
    folder = tmp_path / "templates"
    shutil.copytree(Path(templates.__file__).parent, folder)
    return folder


def test_check_names_a_missing_template(tmp_path):
    folder = _copy_templates(tmp_path)
    (folder / "ru" / "staff.alert.quarantine.subject.j2").unlink()
    problems = check_templates(make_environment(jinja2.FileSystemLoader(str(folder))))
    assert problems == ["ru/staff.alert.quarantine.subject.j2: missing"]


def test_check_names_a_missing_html_part_the_daemon_would_have_dropped(tmp_path):
    # The old render_parts sent text only when the HTML file was gone; now it is an error.
    folder = _copy_templates(tmp_path)
    (folder / "en" / "client.notice.ack.html.j2").unlink()
    env = make_environment(jinja2.FileSystemLoader(str(folder)))
    assert check_templates(env) == ["en/client.notice.ack.html.j2: missing"]
    context = next(iter(KINDS["client.notice.ack"].sample_contexts()))
    with pytest.raises(jinja2.TemplateNotFound):
        render_parts(env, "client.notice.ack", "en", context)


def test_check_names_a_template_using_a_variable_nobody_passes(tmp_path):
    folder = _copy_templates(tmp_path)
    path = folder / "en" / "client.notice.done.txt.j2"
    path.write_text(path.read_text(encoding="utf-8") + "{{ client_phone }}\n", encoding="utf-8")
    problems = check_templates(make_environment(jinja2.FileSystemLoader(str(folder))))
    assert len(problems) == 1
    assert problems[0].startswith("en/client.notice.done.txt.j2: UndefinedError")
    assert "client_phone" in problems[0]


def test_check_names_a_syntax_error_and_a_file_no_kind_owns(tmp_path):
    folder = _copy_templates(tmp_path)
    (folder / "ru" / "staff.notice.ticket.txt.j2").write_text("{% if event %}\n", encoding="utf-8")
    (folder / "ru" / "staff.alert.nonesuch.txt.j2").write_text("x\n", encoding="utf-8")
    problems = check_templates(make_environment(jinja2.FileSystemLoader(str(folder))))
    assert problems[0].startswith("ru/staff.notice.ticket.txt.j2: line ")
    assert problems[1:] == ["ru/staff.alert.nonesuch.txt.j2: not in the catalogue (daemon/render/notice_catalogue.py)"]
