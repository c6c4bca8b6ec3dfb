"""Staff mail in Russian is Russian throughout (issue 15): transcript lines, refusals, the WHEN legend.

The rules themselves are tested in English in test_staff_rules.py; here the same pipeline runs
for a Russian-speaking manager, and every line she reads is checked for English words.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime

import pytest

from daemon.core.routing import NO_STAFF_TICKET
from daemon.core.tags import help_text
from parsers.when import ACCEPTED_FORMS_RU, parse_when
from tests.unit.test_staff_rules import (
    ANNA,
    MSK,
    NOW,
    OLGA,
    OLGAS,
    ROUTE,
    ctx,
    run,
    with_billing,
)

ANNA_RU = replace(ANNA, language="ru")
OLGA_RU = replace(OLGA, language="ru")
# Tag names, their argument names and config names are the same in every language.
ALLOWED = {"accept", "ask", "assign", "cancel", "delay", "done", "due", "expense", "invoice", "merge",
           "note", "reject", "remind", "reply", "split", "next", "force", "when", "amount", "who",
           "staff", "utc", "oa", "rub"}


def english_words(text: str) -> list[str]:
    """Latin words outside tags, ticket keys, addresses and the allow-list."""
    text = re.sub(r"\S+@\S+|[A-Z]+-\d+|#\w+|Message-ID|Reply-To", " ", text)
    return [w for w in re.findall(r"[A-Za-z]{2,}", text) if w.lower() not in ALLOWED]


def transcript(decision) -> tuple[str, ...]:
    lines = ctx(decision, "staff.notice.transcript")
    return (*lines["applied"], *lines["refused"])


@pytest.mark.parametrize(("body", "sender", "expected"), [
    ("#accept завтра 12:00", ANNA_RU, "#accept: в работе, срок 28.11.2026 12:00 UTC+3"),
    ("#delay +2d ресторан закрыт", ANNA_RU, "#delay: срок 29.11.2026 13:00 UTC+3; клиенту сообщено"),
    ("#cancel клиент передумал", ANNA_RU, "#cancel: задача закрыта как отменённая; клиенту сообщено"),
    ("#note позвонить завтра", ANNA_RU, "#note: внутренняя заметка сохранена (клиенту не отправлена)"),
    ("#merge OA-99", ANNA_RU, "#merge OA-99: нет такой задачи"),
    ("#cancel", OLGA_RU, "#cancel: не разрешён для роли ассистента"),
])
def test_a_russian_speaking_sender_reads_her_transcript_in_russian(body, sender, expected):
    decision = run(body, sender, ticket=OLGAS) if sender is OLGA_RU else run(body, sender)
    assert expected in transcript(decision)
    for line in transcript(decision):
        assert english_words(line) == [], line


def test_the_quota_refusal_is_russian_too():
    decision = run("#accept", ANNA_RU, view=with_billing(used_this=3))
    (line,) = transcript(decision)
    assert line.startswith("#accept: лимит на этот период исчерпан (3 из 3)")
    assert english_words(line) == []


def test_staff_mail_that_names_no_ticket_is_answered_in_russian():
    decision = run("#done", ANNA_RU, ticket=None, route=replace(ROUTE, ticket=None, reason=NO_STAFF_TICKET))
    (line,) = transcript(decision)
    assert line.startswith("задача не найдена: ничего не применено")
    assert english_words(line) == [], line


def test_the_russian_cheat_sheet_has_no_english_words():
    sheet = help_text("ru")
    assert "WHEN (срок)" in sheet
    assert english_words(sheet) == [], english_words(sheet)


@pytest.mark.parametrize("form", [f.strip() for f in re.sub(r"\([^)]*\)|\[[^]]*\]|;.*", "",
                                                             ACCEPTED_FORMS_RU).split(",") if f.strip()])
def test_every_russian_when_form_in_the_legend_is_accepted(form):
    assert isinstance(parse_when(form, NOW, MSK), datetime)


@pytest.mark.parametrize(("body", "expected"), [
    ("#due", "строка 1 (#due): #due: нужен срок (WHEN). Возможные формы: 2026-11-28 18:00"),
    ("#acept", "строка 1 (#acept): неизвестный тег #acept (может быть, #accept?); теги: #accept"),
    ("#due 31.02 18:00", "строка 1 (#due 31.02 18:00): нет такой даты"),
    ("#due 27.11.2026 09:00", "строка 1 (#due 27.11.2026 09:00): «27.11.2026 09:00» уже прошло"),
    ("#expense сто рублей такси", "строка 1 (#expense сто рублей такси): не получается прочитать сумму"),
    ("#merge 12", "строка 1 (#merge 12): #merge: нужен номер задачи, например OA-1042"),
    ("#due +2d\n#due +3d", "строка 2 (#due +3d): #due указан дважды; оставьте один"),
])
def test_tag_errors_are_russian_for_a_russian_speaking_sender(body, expected):
    (line,) = transcript(run(body, ANNA_RU))
    assert line.startswith(expected), line
    assert english_words(line) == [], line
    # The same mail from an English-speaking sender gets the English error.
    (english,) = transcript(run(body, ANNA))
    assert english.startswith(("line", "subject")), english
