"""Every template, rendered with realistic values in both languages: the Russian mail is Russian
throughout (issue 15). Names, tags, ticket keys, addresses and the allow-list below may be Latin.

The values are the ones the Notifier passes in each language (daemon/render/notices.py): times
with their zone, the quota as "2 из 3", the status as a word, the tag cheat sheet of that
language. A kind's own samples (daemon/render/notice_catalogue.py) fill the rest.
"""

from __future__ import annotations

import re
from html import unescape

import pytest

from daemon.core.routing import status_word
from daemon.core.tags import help_text
from daemon.render.compose import make_environment
from daemon.render.notice_catalogue import KINDS, LANGUAGES

# What each language's mail gets for the values that are words, as the Notifier makes them.
REALISTIC = {
    "ru": {"status": status_word("accepted", "ru"),
           "files": ({"name": "паспорт.pdf", "original": "../../паспорт.pdf", "kb": 2},),
           "tickets": (("OA-7", "Столик на пятницу", status_word("accepted", "ru"), "04.12.2026 19:00 UTC+3",
                        "support+OA-7.x1@desk.test"),), "tasks_left": "2 из 3", "quota_period_word": "сегодня",
           "deposit": "1 500,00 ₽", "cheat_sheet": help_text("ru"), "due_local": "04.12.2026 10:15 UTC+3",
           "task_due_local": "04.12.2026 19:00 UTC+3", "new_due": "05.12.2026 19:00 UTC+3",
           "due": "04.12.2026 19:00 UTC+3", "deadline": "04.12.2026 10:15 UTC+3",
           "next_period": "01.01.2027 00:00 UTC+3", "opened_at": "04.12.2026 10:00 UTC+3",
           "closes_at": "04.12.2026 11:00 UTC+3", "applied": ("#accept: в работе, срок 04.12.2026 19:00 UTC+3",),
           "refused": ("#merge OA-9: нет такой задачи",), "reason": "ресторан закрыт",
           "tariff_name": "Базовый"},
    "en": {"status": status_word("accepted", "en"), "tasks_left": "2 of 3", "quota_period_word": "today",
           "deposit": "RUB 1,500.00", "cheat_sheet": help_text("en"), "due_local": "04.12.2026 10:15 UTC+3",
           "applied": ("#accept: in work, due 04.12.2026 19:00 UTC+3",), "reason": "the restaurant is closed",
           "tariff_name": "Basis"},
}

# Latin words a Russian mail may carry: product and tariff names, tag and argument names,
# mail and config terms that have no Russian form, currency and zone abbreviations.
ALLOWED = {
    "oneassist", "basis", "one", "utc", "rub", "pdf", "imap", "smtp", "inbox", "sha", "uid", "uidvalidity",
    "id", "message", "reply", "to", "from", "when", "amount", "who", "staff", "https", "example", "tariffs",
    "accept", "ask", "assign", "cancel", "delay", "done", "due", "expense", "invoice", "merge", "note",
    "reject", "remind", "split", "next", "force", "oa", "org", "dkim", "dmarc", "oauth",
}
# Values that are some server's or sender's own words, shown as they came.
DATA = ("error", "runner", "last_exit")


def english_words(text: str) -> list[str]:
    text = unescape(re.sub(r"<[^>]+>", " ", text))
    # Addresses, links, ticket keys, tags, hashes and kind names are data, not words; so are the
    # commands to type (`oneassist outbox list --status dead`) and a log line's own text to look for.
    text = re.sub(r"(oneassist|journalctl|grep)( +[-\w.@#']+)+|«not authenticated»", " ", text)
    # A config key (`smtp.oauth2_token_command`) is typed as it is.
    text = re.sub(r"\b[a-z]+\.[a-z0-9]*_[a-z0-9_]+\b", " ", text)
    text = re.sub(r"\S+@\S+|https?://\S+|[A-Z]+-\d+|#\w+|\b[0-9a-f]{16,}\b|\b\w+(\.\w+){2,}\b", " ", text)
    return sorted({w for w in re.findall(r"[A-Za-z]{2,}", text) if w.lower() not in ALLOWED})


def renders(language: str):
    env = make_environment()
    for notice in KINDS.values():
        for name in notice.files(language):
            template = env.get_template(name)
            for context in notice.sample_contexts():
                realistic = {k: v for k, v in REALISTIC[language].items() if k in context}
                text = template.render(context | realistic)
                for key in DATA:
                    if key in context:
                        text = text.replace(str(context[key]), " ")
                yield name, text


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_template_renders_with_realistic_values(language):
    rendered = list(renders(language))
    assert len({name for name, _ in rendered}) == sum(len(k.files(language)) for k in KINDS.values())
    for name, text in rendered:
        assert text.strip(), name
        assert "None" not in text and "{{" not in text, (name, text)


def test_the_russian_templates_have_no_english_words():
    found = {name: words for name, text in renders("ru") if (words := english_words(text))}
    assert found == {}


@pytest.mark.parametrize(("language", "left", "line"), [
    ("ru", "3 из 3", "Осталось задач по тарифу сегодня: 3 из 3."),
    ("en", "3 of 3", "Tasks left on your tariff today: 3 of 3."),
])
def test_the_quota_line_says_what_is_left(language, left, line):
    """"Задач по тарифу сегодня: 3 из 3" read as "used up" while it meant "3 left" (issue 15)."""
    env = make_environment()
    context = dict(next(KINDS["client.notice.ack"].sample_contexts()))
    context |= {"tasks_left": left, "quota_period_word": REALISTIC[language]["quota_period_word"]}
    for part in ("txt", "html"):
        text = env.get_template(f"{language}/client.notice.ack.{part}.j2").render(context)
        assert line in unescape(re.sub(r"<[^>]+>", "", text)), text
