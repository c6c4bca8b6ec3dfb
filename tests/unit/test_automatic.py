"""Automatic-mail classification (docs/reliability.md cases 15-18 and the guard property of 33)."""

import random

import pytest

from parsers.automatic import automatic_reason
from parsers.mime import parse
from tests.conftest import load_sample

LOOP_ID = "oneassist@desk.example"
OWN_ADDRESSES = frozenset({"support@desk.example", "bounces@desk.example"})
OWN_DOMAINS = frozenset({"desk.example"})


def reason(mail):
    return automatic_reason(
        mail, loop_id=LOOP_ID, own_addresses=OWN_ADDRESSES, own_domains=OWN_DOMAINS
    )


def mail(
    *extra,
    subject="Нужна помощь",
    sender="Client <client@example.com>",
    message_id="<m1@example.com>",
    seed=None,
):
    lines = [
        f"From: {sender}",
        "To: support@desk.example",
        f"Subject: {subject}",
        f"Message-ID: {message_id}",
        "Date: Fri, 27 Nov 2026 10:00:00 +0300",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        *extra,
    ]
    if seed is not None:
        random.Random(seed).shuffle(lines)
    return parse(("\r\n".join(lines) + "\r\n\r\nТекст\r\n").encode())


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("gmail-reply-ru.eml", None),
        ("gmail-reply-en-wrapped.eml", None),
        ("outlook-reply-ru-cp1251.eml", None),
        ("thunderbird-reply-koi8r.eml", None),
        ("yandex-reply.eml", None),
        ("mailru-reply.eml", None),
        ("html-only-outlook.eml", None),
        ("no-message-id.eml", None),
        ("forward-as-attachment.eml", None),
        ("auto-submitted-vacation.eml", "auto-submitted"),
        ("exchange-oof.eml", "autoreply"),
        ("dsn-bounce-postfix.eml", "bounce"),
        ("gmail-ndr.eml", "bounce"),
        ("list-mail.eml", "precedence"),
        ("github-notification-list.eml", "list"),
        ("own-loop.eml", "loop"),
    ],
)
def test_samples(name, expected):
    assert reason(parse(load_sample(name))) == expected


def test_plain_human_mail_is_not_automatic():
    assert reason(mail()) is None
    assert reason(mail("Precedence: first-class", "X-Auto-Response-Suppress: NDR")) is None


@pytest.mark.parametrize(
    "value",
    [
        "auto-replied",
        "auto-generated",
        "auto-notified",
        "auto-foo",
        "Auto-Replied (vacation)",
        'AUTO-GENERATED; owner-email="x@example.com"',
    ],
)
def test_any_auto_submitted_value_but_no_is_automatic(value):
    assert reason(mail(f"Auto-Submitted: {value}")) == "auto-submitted"


@pytest.mark.parametrize("value", ["no", "No", " NO ; comment=x", "no (a human wrote this)"])
def test_auto_submitted_no_is_a_human(value):
    assert reason(mail(f"Auto-Submitted: {value}")) is None


@pytest.mark.parametrize("value", ["bulk", "list", "junk", "auto_reply", "Bulk", "JUNK"])
def test_precedence(value):
    assert reason(mail(f"Precedence: {value}")) == "precedence"


@pytest.mark.parametrize(
    "header",
    [
        "List-Id: Club <club.lists.example.org>",
        "List-Unsubscribe: <mailto:u@lists.example.org>",
        "List-Post: <mailto:club@lists.example.org>",
        "LIST-ID: x",
    ],
)
def test_list_headers(header):
    assert reason(mail(header)) == "list"


@pytest.mark.parametrize(
    "value", ["All", "OOF", "AutoReply", "DR", "RN", "NRN", "DR, RN, NRN, OOF, AutoReply", "oof"]
)
def test_auto_response_suppress(value):
    assert reason(mail(f"X-Auto-Response-Suppress: {value}")) == "autoreply"


@pytest.mark.parametrize(
    "header",
    [
        "X-Autoreply: yes",
        "X-Autorespond: vacation",
        "X-MS-Exchange-Inbox-Rules-Loop: boss@example.com",
        "X-MS-Exchange-Generated-Message-Source: Mailbox Rules Agent",
    ],
)
def test_autoreply_headers(header):
    assert reason(mail(header)) == "autoreply"


@pytest.mark.parametrize(
    "subject",
    [
        "Auto: Re: [OA-1] x",
        "Automatic reply: [OA-1] x",
        "Автоматический ответ: Заявка",
        "Out of Office: back Monday",
        "Out of office AutoReply: x",
        "Autoreply: x",
        "AutoReply",
    ],
)
def test_autoreply_subjects(subject):
    assert reason(mail(subject=subject)) == "autoreply"


@pytest.mark.parametrize(
    "subject",
    [
        "Re: Out of office plans",
        "Automation question",
        "Autumn trip",
        "Out of office supplies",
        "Auto insurance renewal",
        "Undelivered parcel from Ozon",
        "Не удалось доставить посылку",
        "Delivery status of my order",
        "Returned mail order refund",
    ],
)
def test_subjects_that_only_contain_the_words_are_human(subject):
    assert reason(mail(subject=subject)) is None


@pytest.mark.parametrize(
    ("extra", "kwargs"),
    [
        (["Return-Path: <>"], {}),
        (["Return-Path: < >"], {}),
        ([], {"sender": "MAILER-DAEMON@mx.example.com (Mail Delivery System)"}),
        ([], {"sender": "postmaster@example.com"}),
        ([], {"subject": "Undelivered Mail Returned to Sender"}),
        ([], {"subject": "Delivery Status Notification (Failure)"}),
        ([], {"subject": "Недоставленное сообщение"}),
        ([], {"subject": "Mail delivery failed: returning message to sender"}),
        (["X-Failed-Recipients: a@example.com"], {}),
    ],
)
def test_bounce_markers(extra, kwargs):
    assert reason(mail(*extra, **kwargs)) == "bounce"


def test_delivery_status_report_is_a_bounce_and_a_read_receipt_is_automatic():
    dsn = b"From: x@example.com\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n--b--\r\n"
    mdn = b"From: x@example.com\r\nContent-Type: multipart/report; report-type=disposition-notification; boundary=b\r\n\r\n--b--\r\n"
    assert reason(parse(dsn)) == "bounce"
    assert reason(parse(mdn)) == "autoreply"


@pytest.mark.parametrize(
    ("extra", "kwargs"),
    [
        (["X-Loop: oneassist@desk.example"], {}),
        (["X-Loop: OneAssist@Desk.Example"], {}),
        (["X-Loop: other@list.example, oneassist@desk.example"], {}),
        ([], {"message_id": "<oneassist.42@desk.example>"}),
        ([], {"sender": "OneAssist <support@desk.example>"}),
        ([], {"sender": "Desk <SUPPORT+OA-1.abcdefghijklmnop@DESK.EXAMPLE>"}),
        ([], {"sender": "bounces@desk.example"}),
    ],
)
def test_our_own_mail_is_a_loop(extra, kwargs):
    assert reason(mail(*extra, **kwargs)) == "loop"


def test_near_misses_are_not_loops():
    assert reason(mail("X-Loop: someone-else@example.com")) is None
    assert reason(mail(message_id="<x@mail.desk.example>")) is None
    assert reason(mail(sender="anna@desk.example")) is None
    empty = automatic_reason(
        mail("X-Loop: x"), loop_id="", own_addresses=frozenset(), own_domains=frozenset()
    )
    assert empty is None


def test_order_is_loop_then_bounce_then_the_rest():
    assert reason(mail("X-Loop: oneassist@desk.example", "Return-Path: <>")) == "loop"
    assert (
        reason(mail("Return-Path: <>", "Auto-Submitted: auto-replied", "Precedence: bulk"))
        == "bounce"
    )
    assert (
        reason(mail("Auto-Submitted: auto-replied", "Precedence: bulk", "List-Id: x"))
        == "auto-submitted"
    )
    assert reason(mail("Precedence: bulk", "List-Id: x", "X-Autoreply: yes")) == "precedence"
    assert reason(mail("List-Id: x", "X-Autoreply: yes")) == "list"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("aUtO-sUbMiTtEd: AUTO-REPLIED", "auto-submitted"),
        ("PRECEDENCE: Bulk", "precedence"),
        ("list-unsubscribe: <mailto:u@x.example>", "list"),
        ("x-auto-response-suppress: oof", "autoreply"),
        ("x-loop: ONEASSIST@DESK.EXAMPLE", "loop"),
        ("return-path: <>", "bounce"),
    ],
)
def test_any_case_and_any_header_order(header, expected):
    noise = [f"X-Noise-{i}: value {i}" for i in range(12)]
    for seed in range(10):
        assert reason(mail(header, *noise, seed=seed)) == expected, seed
