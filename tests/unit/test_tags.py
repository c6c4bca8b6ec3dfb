"""parsers.tags: every tag, subject tags, HTML-converted bodies, bad arguments and the role table."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from daemon.core.tags import TAGS, help_text, parse_commands
from parsers.tags import MAX_TAG_LINES, ArgKind, Command, ParsedTags

MSK = ZoneInfo("Europe/Moscow")
# Friday 27 November 2026, 10:00 in Moscow.
NOW = datetime(2026, 11, 27, 10, 0, tzinfo=MSK)


def parse(body: str, subject: str = "Re: [OA-1042] Купить билеты") -> ParsedTags:
    return parse_commands(body, subject, NOW, MSK)


def one(body: str, subject: str = "Re: [OA-1042] Купить билеты") -> Command:
    parsed = parse(body, subject)
    assert parsed.errors == ()
    assert len(parsed.commands) == 1
    return parsed.commands[0]


def error_of(body: str, subject: str = "Re: [OA-1042]") -> str:
    parsed = parse(body, subject)
    assert parsed.commands == ()
    assert len(parsed.errors) == 1
    return parsed.errors[0]


# ---- every tag --------------------------------------------------------------


# The tags of docs/tags.md's table; a new tag is added by its own module and test
# (daemon/core/tags/), so this list holds the design tags, not every tag there is.
DESIGN_TAGS = [
    "accept", "ask", "reply", "note", "assign", "due", "delay",
    "done", "cancel", "reject", "expense", "invoice", "merge", "split",
]  # fmt: skip


def test_the_table_holds_the_design_tags_in_order() -> None:
    assert [name for name in TAGS if name in DESIGN_TAGS] == DESIGN_TAGS
    for name, spec in TAGS.items():
        assert spec.name == name
        assert spec.help_ru and spec.help_en and isinstance(spec.arg, ArgKind)


def test_accept_plain() -> None:
    command = one("#accept\nПринято, займусь.")
    assert (command.name, command.arg, command.when) == ("accept", "", None)
    assert command.line == "#accept"


def test_accept_with_due() -> None:
    command = one("#accept 28.11 18:00")
    assert command.arg == ""
    assert command.when == datetime(2026, 11, 28, 18, tzinfo=MSK)


@pytest.mark.parametrize("option", ["next", "force", "NEXT"])
def test_accept_options(option: str) -> None:
    command = one(f"#accept {option}")
    assert (command.arg, command.when) == (option.lower(), None)


def test_accept_option_with_due() -> None:
    command = one("#accept next +2d")
    assert (command.arg, command.when) == ("next", datetime(2026, 11, 29, 10, tzinfo=MSK))


@pytest.mark.parametrize("name", ["ask", "reply", "note", "done"])
def test_text_tags_without_and_with_inline_text(name: str) -> None:
    assert one(f"#{name}\nТекст").text == ""
    command = one(f"#{name} Готово, файлы во вложении\nТекст")
    assert command.text == command.arg == "Готово, файлы во вложении"


@pytest.mark.parametrize(
    ("arg", "who"),
    [("anna", "anna"), ("@Anna", "anna"), ("Anna.P@Desk.Example", "anna.p@desk.example")],
)
def test_assign(arg: str, who: str) -> None:
    assert one(f"#assign {arg}").who == who


def test_due() -> None:
    assert one("#due завтра 12:00").when == datetime(2026, 11, 28, 12, tzinfo=MSK)


def test_delay_with_and_without_reason() -> None:
    command = one("#delay +2d ждём поставщика")
    assert command.when == datetime(2026, 11, 29, 10, tzinfo=MSK)
    assert command.text == "ждём поставщика"
    assert one("#delay послезавтра 10:00").text == ""


@pytest.mark.parametrize("name", ["cancel", "reject"])
def test_close_tags_take_an_optional_reason(name: str) -> None:
    assert one(f"#{name}").text == ""
    assert one(f"#{name} клиент передумал").text == "клиент передумал"


def test_expense() -> None:
    command = one("#expense 1 500,50 руб такси до аэропорта")
    assert command.amount == Decimal("1500.50")
    assert command.text == "такси до аэропорта"


def test_invoice_with_and_without_amount() -> None:
    assert one("#invoice").amount is None
    assert one("#invoice 5000").amount == Decimal("5000.00")


@pytest.mark.parametrize("arg", ["OA-17", "oa-17", "[OA-17]", "#OA-17"])
def test_merge(arg: str) -> None:
    assert one(f"#merge {arg}").ticket_key == "OA-17"


def test_merge_uses_the_configured_prefix() -> None:
    parsed = parse_commands("#merge HD-5", "", NOW, MSK, ticket_prefix="HD")
    assert parsed.commands[0].ticket_key == "HD-5"
    assert "like HD-1042" in parse_commands("#merge OA-5", "", NOW, MSK, "HD").errors[0]


def test_split() -> None:
    assert one("#split").text == ""
    assert one("#split Заказать цветы\nНовая задача").text == "Заказать цветы"


# ---- amounts ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "amount"),
    [
        ("1500", "1500.00"),
        ("1 500,50", "1500.50"),
        ("1\u00a0500,50", "1500.50"),
        ("1\u202f500", "1500.00"),
        ("1500.50", "1500.50"),
        ("1500,5", "1500.50"),
        ("1500 руб", "1500.00"),
        ("1500 руб.", "1500.00"),
        ("1500руб", "1500.00"),
        ("1500 рублей", "1500.00"),
        ("1500 р.", "1500.00"),
        ("1500 RUB", "1500.00"),
        ("₽1500", "1500.00"),
        ("₽ 1500", "1500.00"),
        ("1500₽", "1500.00"),
        ("12 000 000", "12000000.00"),
        ("0.01", "0.01"),
    ],
)
def test_amount_spellings(written: str, amount: str) -> None:
    command = one(f"#expense {written} курьер")
    assert command.amount == Decimal(amount)
    assert isinstance(command.amount, Decimal)
    assert command.text == "курьер"
    assert one(f"#invoice {written}").amount == Decimal(amount)


def test_amount_is_exact_decimal_not_float() -> None:
    command = one("#expense 0.10 a")
    assert command.amount is not None
    assert command.amount * 3 == Decimal("0.30")


def test_expense_description_starting_with_a_word_beginning_with_r() -> None:
    # "р" is a ruble mark only as a whole word.
    command = one("#expense 1500 работа курьера")
    assert (command.amount, command.text) == (Decimal("1500.00"), "работа курьера")


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("#expense -100 такси", "more than zero"),
        ("#expense \u2212100 такси", "more than zero"),
        ("#expense 0 такси", "more than zero"),
        ("#expense 0,00 такси", "more than zero"),
        ("#invoice -5", "more than zero"),
        ("#expense 10.505 такси", "more than two decimal places"),
        ("#expense такси 1500", "cannot read an amount"),
        ("#expense 1,500.50 такси", "cannot read an amount"),
        ("#expense 1e5 такси", "cannot read an amount"),
        ("#expense", "cannot read an amount"),
        ("#expense 1500", "needs a description"),
        ("#expense 1500 руб", "needs a description"),
        ("#invoice 1500 за декабрь", "takes only an amount"),
        ("#invoice $100", "cannot read an amount"),
    ],
)
def test_bad_amounts(line: str, reason: str) -> None:
    error = error_of(line)
    assert error.startswith(f"line 1 ({line}): ")
    assert reason in error


# ---- bad arguments and unknown tags ----------------------------------------


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("#due", "#due needs WHEN"),
        ("#due 31.02", "no such date 31.02"),
        ("#due вчера", "cannot read 'вчера'"),
        ("#due 2026-11-26 18:00", "in the past"),
        ("#due +2d because", "cannot read"),
        ("#accept 25:00", "no such time 25:00"),
        ("#accept later", "cannot read 'later'"),
        ("#delay", "#delay needs WHEN"),
        ("#delay поставщик опаздывает", "#delay must start with WHEN"),
        ("#delay завтра 25:00 поставщик", "no such time 25:00"),
        ("#assign", "needs one WHO"),
        ("#assign Anna Petrova", "needs one WHO"),
        ("#merge", "needs a ticket key like OA-1042"),
        ("#merge 1042", "needs a ticket key like OA-1042"),
        ("#merge OA-17 OA-18", "needs a ticket key"),
    ],
)
def test_malformed_arguments(line: str, reason: str) -> None:
    error = error_of(line)
    assert error.startswith(f"line 1 ({line}): ")
    assert reason in error


def test_when_errors_list_the_accepted_forms() -> None:
    assert "Accepted forms: 2026-11-28 18:00" in error_of("#due someday")


def test_unknown_tag_suggests_the_near_one_and_lists_all() -> None:
    error = error_of("#acept +2d")
    assert "unknown tag #acept (did you mean #accept?)" in error
    assert "#accept, #ask, #reply" in error and "#split" in error


def test_unknown_tag_far_from_every_tag() -> None:
    error = error_of("#hashtag")
    assert "unknown tag #hashtag;" in error


def test_russian_tag_names_are_not_tags() -> None:
    assert "unknown tag #принять" in error_of("#принять")


def test_errors_name_the_line_and_good_lines_still_parse() -> None:
    parsed = parse("\n#accept +2d\n#acept\n#due 31.02\nТекст")
    assert [c.name for c in parsed.commands] == ["accept"]
    assert parsed.errors[0].startswith("line 3 (#acept): ")
    assert parsed.errors[1].startswith("line 4 (#due 31.02): ")
    assert parsed.rest == "Текст"


def test_repeated_tag_is_an_error() -> None:
    parsed = parse("#due +1d\n#due +2d")
    assert [c.when for c in parsed.commands] == [datetime(2026, 11, 28, 10, tzinfo=MSK)]
    assert parsed.errors == ("line 2 (#due +2d): #due is given twice; write it once",)


# ---- the tag block ----------------------------------------------------------


def test_case_insensitive_names_and_colon() -> None:
    assert one("#DONE").name == "done"
    assert one("#Due: +1d").when == datetime(2026, 11, 28, 10, tzinfo=MSK)


def test_no_tags_means_everything_is_rest() -> None:
    parsed = parse("Здравствуйте!\n\nВсё готово.\n")
    assert parsed == ParsedTags((), (), "Здравствуйте!\n\nВсё готово.")


def test_leading_blank_lines_and_blank_lines_between_tags() -> None:
    parsed = parse("\n\n  \n#accept +2d\n\n#note позвонил в магазин\n\nДобрый день!\nДо связи.")
    assert [c.name for c in parsed.commands] == ["accept", "note"]
    assert parsed.rest == "Добрый день!\nДо связи."


def test_hash_lines_after_the_first_prose_line_are_prose() -> None:
    parsed = parse("#done\nВаш список:\n#1 priority: билеты\n#hashtag\n#cancel")
    assert [c.name for c in parsed.commands] == ["done"]
    assert parsed.errors == ()
    assert parsed.rest == "Ваш список:\n#1 priority: билеты\n#hashtag\n#cancel"


@pytest.mark.parametrize("first", ["#1 priority", "# Заголовок", "#", "1. #done"])
def test_lines_that_only_look_like_tags_end_the_block(first: str) -> None:
    parsed = parse(f"{first}\n#done")
    assert parsed.commands == () and parsed.errors == ()
    assert parsed.rest == f"{first}\n#done"


def test_quoted_lines_are_ignored() -> None:
    parsed = parse("> #cancel\n>> #reject\n#done\n> цитата\nСпасибо")
    assert [c.name for c in parsed.commands] == ["done"]
    assert parsed.rest == "Спасибо"


def test_only_tags_leaves_empty_rest() -> None:
    assert parse("#note позвонил\n\n").rest == ""


def test_limit_of_tag_lines() -> None:
    body = "\n".join(["#note a", "#reply b", "#ask c", "#due +1d", "#done", "#accept",
                      "#cancel", "#reject", "#split s", "#invoice", "#merge OA-1", "#split t"])  # fmt: skip
    parsed = parse(body + "\nТекст")
    assert len(parsed.commands) == MAX_TAG_LINES
    assert parsed.errors == ("12 tag lines; only the first 10 are read",)
    # Lines past the limit are still part of the tag block, never sent to the client.
    assert parsed.rest == "Текст"


def test_exactly_the_limit_is_fine() -> None:
    body = "\n".join(["#note a", "#reply b", "#ask c", "#due +1d", "#done", "#accept",
                      "#cancel", "#reject", "#split s", "#invoice"])  # fmt: skip
    parsed = parse(body)
    assert (len(parsed.commands), parsed.errors) == (10, ())


# ---- HTML-converted bodies --------------------------------------------------


def test_html2text_style_output() -> None:
    # What html2text makes of <div>#accept +2d<br></div><div><b>#note</b> звонил</div><p>Добрый день</p>.
    body = "#accept +2d  \n\n**#note** звонил\n\nДобрый день\n\n"
    parsed = parse(body)
    assert [(c.name, c.text) for c in parsed.commands] == [("accept", ""), ("note", "звонил")]
    assert parsed.rest == "Добрый день"


@pytest.mark.parametrize(
    "line",
    ["\u00a0#done", "\u200b#done", "\ufeff#done", "\\#done", "**#done**", "__#done__", "*#done*"],
)
def test_html_leftovers_around_a_tag(line: str) -> None:
    assert one(f"{line}\nГотово").name == "done"


def test_html_nbsp_inside_the_argument() -> None:
    command = one("#expense\u00a01\u00a0500\u00a0руб\u00a0такси")
    assert (command.amount, command.text) == (Decimal("1500.00"), "такси")


def test_crlf_line_endings() -> None:
    parsed = parse("#done\r\nГотово\r\n")
    assert [c.name for c in parsed.commands] == ["done"] and parsed.rest == "Готово"


# ---- subject tags -----------------------------------------------------------


def test_subject_tag() -> None:
    parsed = parse("Готово, файлы во вложении.", "Re: [OA-1042] Купить билеты [#done]")
    assert [c.name for c in parsed.commands] == ["done"]
    assert parsed.commands[0].line == "#done"
    assert parsed.rest == "Готово, файлы во вложении."


def test_subject_tag_with_argument_and_body_tags() -> None:
    parsed = parse("#note звонил\nТекст", "Re: [OA-1042] [#accept +2d] Билеты")
    assert [c.name for c in parsed.commands] == ["accept", "note"]
    assert parsed.commands[0].when == datetime(2026, 11, 29, 10, tzinfo=MSK)


def test_subject_errors_name_the_subject() -> None:
    parsed = parse("Текст", "Re: [OA-1042] [#acept]")
    assert parsed.errors[0].startswith("subject ([#acept]): unknown tag #acept (did you mean")
    parsed = parse("Текст", "Re: [OA-1042] [#due 31.02]")
    assert parsed.errors[0].startswith("subject ([#due 31.02]): no such date")


def test_subject_hashtags_unlike_any_tag_are_the_clients_words() -> None:
    # A client's "[#urgent]" stays in every reply subject; it must not block the manager.
    parsed = parse("#done\nГотово", "Re: [OA-1042] [#urgent] Билеты")
    assert ([c.name for c in parsed.commands], parsed.errors) == (["done"], ())


def test_same_tag_in_subject_and_body_is_given_twice() -> None:
    parsed = parse("#done\nГотово", "Re: [OA-1042] [#done]")
    assert len(parsed.commands) == 1
    assert "given twice" in parsed.errors[0]


def test_ticket_key_in_subject_is_not_a_tag() -> None:
    assert parse("Текст", "Re: [OA-1042] Билеты").commands == ()


# ---- roles and help ---------------------------------------------------------


ASSISTANT_TAGS = {"accept", "ask", "reply", "note", "due", "delay", "done"}


@pytest.mark.parametrize("name", DESIGN_TAGS)
def test_role_table(name: str) -> None:
    spec = TAGS[name]
    assert spec.allows("manager") and spec.allows("admin")
    assert spec.allows("assistant") == (name in ASSISTANT_TAGS)
    assert not spec.allows("client")
    assert spec.roles <= {"manager", "assistant", "admin"}


def test_parser_does_not_judge_roles() -> None:
    # The workflow checks roles with TagSpec.allows; parsing is the same for everyone.
    assert one("#expense 100 такси").name == "expense"


def test_table_is_frozen() -> None:
    with pytest.raises(AttributeError):
        TAGS["done"].roles = frozenset()  # type: ignore[misc]


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_help_lists_every_tag_with_syntax(lang: str) -> None:
    text = help_text(lang)
    ru = {"mails": "письма", "reason": "причина", "subject": "тема", "text": "текст", "what": "что"} \
        if lang == "ru" else {}
    for name, spec in TAGS.items():
        # Lower-case placeholder words are translated; WHEN, AMOUNT, WHO and N-M stay.
        usage = re.sub(r"\b[a-z]+\b", lambda m: ru.get(m.group(0), m.group(0)), spec.usage.format(prefix="OA"))
        assert f"#{name} {usage} — ".replace("  ", " ") in text
        assert (spec.help_ru if lang == "ru" else spec.help_en) in text
    assert "#merge OA-N" in text
    assert ("#delay WHEN [причина]" if lang == "ru" else "#delay WHEN [reason]") in text
    assert "28.11 18:00" in text and "1 500,50" in text


def test_help_languages_differ_and_others_are_refused() -> None:
    assert "менеджер, админ" in help_text("ru")
    assert "manager, admin" in help_text("en")
    assert "#merge HD-N" in help_text("en", ticket_prefix="HD")
    with pytest.raises(ValueError, match="de"):
        help_text("de")


@pytest.mark.parametrize(
    "line",
    [
        "#invoice 100000000000000000000000000000",
        "#expense 1 000 000 000 000 000 000 000 000 000 000 такси",
        "#invoice 1000000000000",
        "#expense " + "9" * 5000 + " такси",
    ],
)
def test_amount_with_too_many_digits_is_an_argument_error(line: str) -> None:
    """docs/reliability.md case 39: quantize raised InvalidOperation, the mail was retried and quarantined."""
    assert "more than 12 digits before the decimal point" in error_of(line)


def test_largest_amount_still_reads() -> None:
    assert one("#invoice 999 999 999 999,99").amount == Decimal("999999999999.99")
