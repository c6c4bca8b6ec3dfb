"""Reply text without quoted history, signatures and phone footers, per mail program."""

import time

import pytest

from parsers.mime import parse
from parsers.quoting import strip_reply
from tests.conftest import load_sample


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "gmail-reply-ru.eml",
            "Добрый день!\n\nДа, столик на 19:00, нас будет четверо. Если можно, у окна.\n\nСпасибо,\nИван",
        ),
        ("gmail-reply-en-wrapped.eml", "Thursday works, 3 pm please.\n\nBest,\nAnna"),
        (
            "outlook-reply-ru-cp1251.eml",
            "Анна, добрый день.\n\nПрошу перенести встречу на понедельник, 11:00.\n\n"
            "С уважением,\nСергей Иванов",
        ),
        ("outlook-reply-original-message.eml", "Window seat, no checked luggage.\n\nMark"),
        (
            "thunderbird-reply-koi8r.eml",
            "Добрый день!\n\nДокументы прикладываю позже, сейчас нет под рукой.",
        ),
        ("thunderbird-reply-en.eml", "Tuesday morning is fine.\n\nKlaus"),
        ("yandex-reply.eml", "Здравствуйте!\n\nОплату внёс, квитанцию пришлю вечером."),
        ("mailru-reply.eml", "Да, подтверждаю заказ."),
        (
            "html-only-outlook.eml",
            "Please book a table for two at Café Pushkin on Saturday & send me the confirmation."
            "\n\nThanks,\nOlga",
        ),
        (
            "apple-mail-inline-image.eml",
            "Find this sofa in grey, please:\n\n[image: sofa.jpg]\n\nBudget up to 90 000 ₽.",
        ),
    ],
)
def test_samples_keep_only_the_new_text(name, expected):
    assert strip_reply(parse(load_sample(name)).text) == expected


@pytest.mark.parametrize(
    "history",
    [
        "On Fri, Nov 27, 2026 at 10:00 AM Anna <a@desk.example> wrote:\n> old",
        "On Fri, Nov 27, 2026 at 10:00 AM Anna Support Manager <\na@desk.example> wrote:\n> old",
        "пт, 27 нояб. 2026 г. в 10:00, Анна <a@desk.example>:\n> old",
        "пт, 27 нояб. 2026 г. в 10:00, Анна Менеджерова Сервиса <\na@desk.example>:\n> old",
        "-----Original Message-----\nFrom: Anna\nSent: today\n\nold",
        "-----Исходное сообщение-----\nОт: Анна\nОтправлено: сегодня\n\nold",
        "From: Anna <a@desk.example>\nSent: Friday, November 27, 2026 10:00\nTo: me\n\nold",
        "From: Anna\nSent: Friday, November 27, 2026 10:00\nTo: me\nSubject: Flight\n\nold",
        "От: Анна <a@desk.example>\nОтправлено: 27 ноября 2026 г. 10:00\nКому: я\n\nold",
        "От: Анна <a@desk.example>\nДата: пятница, 27 ноября 2026 г., 10:00\nТема: x\n\nold",
        "________________________________\nFrom: Anna\nSent: today\n\nold",
        "27.11.2026 10:00, Анна пишет:\n> old",
        "On 11/27/26 10:00 AM, Anna wrote:\n> old",
        '27.11.2026, 10:00, "Анна" <a@desk.example>:\n> old',
        "27.11.2026, 10:00, Анна <a@desk.example>:\n> old",
        "Пятница, 27 ноября 2026, 10:00 +03:00 от Анна <a@desk.example>:\n>old",
        "от Анна <a@desk.example>:\n>old",
        "Am Fr., 27. Nov. 2026 um 10:00 Uhr schrieb Anna <a@desk.example>:\n> alt",
    ],
)
def test_history_headers_of_each_client_are_cut(history):
    text = f"New text here.\nSecond line.\n\n{history}\n"
    assert strip_reply(text) == "New text here.\nSecond line."


@pytest.mark.parametrize(
    "footer",
    [
        "Sent from my iPhone",
        "Sent from my Galaxy",
        "Get Outlook for Android",
        "Отправлено с iPhone",
        "Отправлено с моего iPhone",
        "Отправлено из мобильной Яндекс Почты",
        "Отправлено из мобильной Яндекс.Почты",
        "Отправлено из Mail.ru для Android",
    ],
)
def test_phone_footers_are_dropped(footer):
    assert strip_reply(f"Да, согласен.\n\n{footer}\n") == "Да, согласен."


def test_signature_after_dash_dash_space_is_dropped():
    assert strip_reply("Thanks!\n\n-- \nIvan Petrov\nCEO, Example\n") == "Thanks!"
    assert strip_reply("Thanks!\n--\nIvan\n") == "Thanks!"


def test_trailing_quote_without_attribution_is_dropped():
    assert strip_reply("Yes.\n\n> Do you agree?\n>\n> Anna\n\n") == "Yes."


def test_interleaved_answers_are_kept():
    text = "> Which day?\nTuesday.\n> Which time?\n10:00.\n"
    assert strip_reply(text) == "> Which day?\nTuesday.\n> Which time?\n10:00."


def test_bottom_posted_reply_keeps_the_text_below_the_quote():
    text = (
        "On Fri, Nov 27, 2026 at 10:00 AM Anna <a@desk.example> wrote:\n> Which day?\n\nTuesday.\n"
    )
    assert strip_reply(text) == "Tuesday."


def test_whole_text_quoted_returns_the_original_stripped():
    text = "\n> only a quote\n> nothing new\n"
    assert strip_reply(text) == "> only a quote\n> nothing new"
    only_history = "-----Original Message-----\nFrom: Anna\nSent: today\n\nold text\n"
    assert strip_reply(only_history) == only_history.strip()
    assert strip_reply("-- \nsignature only") == "-- \nsignature only"


def test_ordinary_lines_that_look_a_little_like_headers_are_kept():
    text = (
        "He wrote: please call back.\n"
        "27.11.2026, 10:00, встреча в офисе.\n"
        "From: the airport, take a taxi.\n"
        "On Monday we go.\n"
        "Ok"
    )
    assert strip_reply(text) == text


def test_a_travel_request_written_like_headers_is_kept():
    text = "Book me a flight.\nFrom: Moscow\nTo: Berlin\nDate: 5 December\n\nThanks"
    assert strip_reply(text) == text


def test_forwarded_message_is_kept():
    text = (
        "Please handle this.\n\n---------- Forwarded message ---------\n"
        "From: Hotel <noreply@hotel.example>\nDate: Fri, 27 Nov 2026\nSubject: Booking\n\nConfirmed."
    )
    assert "Confirmed." in strip_reply(text)


def test_crlf_input_and_empty_input():
    assert strip_reply("Yes\r\n\r\n> q\r\n") == "Yes"
    assert strip_reply("") == ""
    assert strip_reply("   \n") == ""


@pytest.mark.parametrize(
    "marker",
    [
        "---------- Forwarded message ---------",
        "-------- Forwarded Message --------",
        "-------- Пересылаемое сообщение --------",
        "Begin forwarded message:",
    ],
)
def test_forward_markers_stop_the_search(marker):
    text = f"FYI\n\n{marker}\nFrom: A <a@x.example>\nSent: today\n\nBody of the task."
    assert strip_reply(text).endswith("Body of the task.")


@pytest.mark.parametrize(
    "line",
    [
        "27.11.2026, 10:00, <" + "@" * 280 + ":",
        "Пятница, 27 ноября 2026, 10:00" + " от" * 90 + ":",
        "On " + "wrote " * 60 + "x" * 300 + ":",
        "от " + "<a@" * 90 + ":",
    ],
)
def test_hostile_lines_cost_linear_time(line):
    # The Yandex pattern once backtracked quadratically: 19 s for this 600 KB reply.
    text = "hello\n" + (line + "\nnormal text\n") * 2000
    started = time.process_time()
    strip_reply(text)
    assert time.process_time() - started < 1.0
