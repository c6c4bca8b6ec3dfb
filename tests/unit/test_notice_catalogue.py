"""The notice catalogue is complete and true to the templates the package ships (docs/reliability.md case 42).

Every kind renders in every language with StrictUndefined from its sample context; the
catalogue names exactly the variables its templates use; every template file belongs to a
kind and every kind has its files; every notice name the code sends is in the catalogue.
"""

from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path

import jinja2
import jinja2.meta
import pytest

import templates
from daemon.render import notice_catalogue
from daemon.render.compose import make_environment, render_parts
from daemon.render.notice_catalogue import KINDS, LANGUAGES, check_templates

ROOT = Path(__file__).resolve().parents[2]
NOTICE_NAME = re.compile(r"^(client|staff|unknown)\.(notice|alert)\.[a-z_]+$")


def _names_in_code() -> dict[str, list[str]]:
    """Every string literal under daemon/ and store/ that looks like a notice kind, with where."""
    found: dict[str, list[str]] = {}
    for path in sorted([*(ROOT / "daemon").rglob("*.py"), *(ROOT / "store").rglob("*.py")]):
        if path.name == "notice_catalogue.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and NOTICE_NAME.match(node.value):
                found.setdefault(node.value, []).append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


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


def test_every_notice_name_the_code_sends_is_in_the_catalogue_and_each_kind_is_sent():
    in_code = _names_in_code()
    unknown = {name: where for name, where in in_code.items() if name not in KINDS}
    assert not unknown, f"add these to daemon/render/notice_catalogue.py KINDS: {unknown}"
    # daemon/core/staff.py maps tags to client kinds through a dict of literals: counted above.
    assert set(KINDS) - set(in_code) == set(), "kinds in the catalogue that no code sends"


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
