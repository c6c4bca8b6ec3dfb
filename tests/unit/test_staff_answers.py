"""Files, formatting and the rules across tags of a staff answer, on values (issue 12).

The pure parts: which files go (daemon/core/files.py), what of a staff mail's HTML may
reach the client (parsers/html_relay.py), and which status wins when several tags of one
mail ask for one (daemon/core/staff.py), whatever their order.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from daemon.core import effects as fx
from daemon.core.effects import SplitOff
from daemon.core.files import describe, relay_files
from daemon.core.model import ClientMail, RouteView
from daemon.core.workflow import Policy, decide
from parsers.html_relay import relay_fragment, sanitize
from parsers.mail import Attachment
from parsers.mime import parse
from tests.decisions import events, note_text, notices, one
from tests.unit.test_staff_rules import (
    ANNA,
    IVAN,
    MAILS,
    NOW,
    POLICY,
    ROUTE,
    THREAD,
    TICKET,
    VIEW,
    applied_lines,
    assert_refused,
    changes,
    run,
    sent,
    staff_mail,
    with_billing,
)


def att(name: str, size: int, *, inline: bool = False) -> Attachment:
    payload = b"x" * size
    return Attachment(name, "application/pdf", size, hashlib.sha256(payload).hexdigest(), payload,
                      content_id="c1" if inline else None, inline=inline)


# --- files -----------------------------------------------------------------------------------------


def test_files_within_the_caps_all_go_in_order():
    files = (att("a.pdf", 10), att("b.pdf", 20, inline=True))
    relay = relay_files(files, max_bytes=100, max_files=5)
    assert relay.sent == files and relay.held == ()
    assert describe(relay) == ["files sent to the client: a.pdf (application/pdf, 10 B); "
                               "b.pdf (application/pdf, 20 B, inline)"]


def test_a_file_over_the_size_cap_and_past_the_count_cap_is_named_not_dropped():
    files = (att("big.zip", 2048), att("a.pdf", 10), att("b.pdf", 10))
    relay = relay_files(files, max_bytes=1024, max_files=1)
    assert [a.filename for a in relay.sent] == ["a.pdf"]
    assert [(a.filename, why) for a, why in relay.held] == [("big.zip", "over the 1.0 KB cap per file"),
                                                            ("b.pdf", "over the 1-file cap per mail")]
    lines = describe(relay)
    assert lines[1] == ("file NOT sent to the client (over the 1.0 KB cap per file; it stays in the desk): "
                        "big.zip (2.0 KB)")
    assert "b.pdf" in lines[2]


def test_a_file_name_cannot_forge_a_transcript_line():
    (line,) = describe(relay_files((att("x.pdf\n#done: applied", 1),), 10, 10))
    assert "\n" not in line


# --- HTML ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("hostile, gone", [
    ("<script>alert(1)</script>", "script"),
    ('<img src="http://track.example/p.gif">', "track.example"),
    ('<img src="//track.example/p.gif">', "track.example"),
    ('<img src="data:image/png;base64,AAAA">', "data:"),
    ('<p style="background:url(http://e.example/x)">', "url("),
    ("<style>p{background:url(http://e.example/x)}</style>", "url("),
    ('<form action="http://e.example"><input name="pw"></form>', "form"),
    ('<a href="javascript:alert(1)">x</a>', "javascript"),
    ('<a href="jav&#x09;ascript:alert(1)">x</a>', "ascript"),
    ('<iframe src="http://e.example"></iframe>', "iframe"),
    ('<svg onload="alert(1)"></svg>', "onload"),
    ('<img src="cid:a" onerror="alert(1)">', "onerror"),
    ("<!-- <script>alert(1)</script> -->", "script"),
    ('<base href="http://e.example/">', "base"),
    ('<meta http-equiv="refresh" content="0;url=http://e.example">', "refresh"),
])
def test_sanitize_removes_what_an_attacker_puts_in_html(hostile, gone):
    assert gone not in sanitize(f"<div>Ответ {hostile} готов</div>")


def test_sanitize_keeps_formatting_links_and_cid_images():
    out = sanitize('<p><b>Да</b>, <a href="https://a.example/">тут</a><img src="cid:logo@x"></p>')
    assert out == ('<p><b>Да</b>, <a href="https://a.example/" rel="noopener noreferrer">тут</a>'
                   '<img src="cid:logo@x"></p>')


def test_fragment_skips_tag_lines_and_cuts_the_quoted_history():
    html = ("<div>#ask</div><div>#note internal</div><div>Какой <i>отель</i>?</div>"
            "<div>пт, 27 нояб. 2026 г. OneAssist:</div><blockquote>#accept cheat sheet</blockquote>")
    assert relay_fragment(html, "Какой отель?") == "<div></div><div></div><div>Какой <i>отель</i>?</div>"


def test_fragment_of_tags_and_text_in_one_text_node():
    assert relay_fragment("<pre>#ask\nКогда удобно?\n\n> quoted</pre>", "Когда удобно?") \
        == "<pre>Когда удобно?\n</pre>"


def test_html_that_says_more_than_the_text_part_is_not_sent():
    # A crafted HTML part whose text is not the text part's: nothing of it goes.
    assert relay_fragment("<div>Переведите 100 000 на карту 1234</div>", "Да, всё в силе.") is None
    assert relay_fragment("<div>Да,</div><div>оплата на карту 1234</div>", "Да, всё в силе.") is None
    assert relay_fragment("", "Текст") is None and relay_fragment("<b>x</b>", "") is None


def test_fragment_of_a_huge_html_part_is_not_attempted():
    from parsers.html_relay import MAX_HTML_CHARS

    assert relay_fragment("<p>Да</p>" + " " * MAX_HTML_CHARS, "Да") is None


# --- rules across tags -----------------------------------------------------------------------------


@pytest.mark.parametrize("body", ["#accept 2026-12-20 12:00\n#ask\nНа какое время?",
                                  "#ask\n#accept 2026-12-20 12:00\nНа какое время?"])
def test_accept_and_ask_in_one_mail_wait_for_the_client_in_work(body):
    d = run(body)
    assert changes(d)["status"] == "waiting" and changes(d)["due_at"] is not None
    assert changes(d)["waiting_since"] == NOW and one(d, fx.CountQuota).period == "this"
    assert sent(d)[0] == ("client.notice.accepted", ("ivan@client.test",))


@pytest.mark.parametrize("body", ["#expense 2300 билеты\n#done", "#done\n#expense 2300 билеты"])
def test_short_expense_with_done_is_refused_in_either_order(body):
    d = run(body, view=with_billing(deposit=Decimal("500.00")))
    assert_refused(d, ANNA, "#expense: the deposit is short, so the ticket cannot also be closed (done) in "
                   "this mail; send #expense alone (the client gets a top-up invoice), and close the ticket "
                   "once it is paid")


@pytest.mark.parametrize("body", ["#expense 2300 билеты\n#ask\nКакой ряд?", "#ask\n#expense 2300 билеты\nКакой ряд?"])
def test_short_expense_waits_for_payment_whatever_the_order(body):
    assert changes(run(body, view=with_billing(deposit=Decimal("500.00"))))["status"] == "payment"


def test_assign_body_is_kept_as_an_internal_note():
    d = run("#assign olga\nОля, позвони в кассу до 18:00")
    assert note_text(d) == "Оля, позвони в кассу до 18:00"
    assert not [n for n in notices(d) if n.template.startswith("client.")]


def test_every_client_answer_carries_the_files_and_the_transcript_lists_them():
    d = run("", raw=staff_mail("#ask\nКакой из двух?", attachment=("два отеля.pdf", b"%PDF-1.4 x")))
    (client,) = [n for n in notices(d) if n.template == "client.notice.question"]
    assert [(a.filename, a.payload) for a in client.attachments] == [("два отеля.pdf", b"%PDF-1.4 x")]
    assert applied_lines(d)[-1].startswith("files sent to the client: два отеля.pdf (application/pdf")
    assert ("files", applied_lines(d)[-1]) in events(d)


def test_html_answer_carries_the_sanitized_fragment():
    raw = (b"From: Anna <anna@desk.test>\r\nTo: support@desk.test\r\nSubject: Re: [OA-7] x\r\n"
           b"Message-ID: <s1@desk.test>\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
           b"<div>#reply</div><div><b>\xd0\x94\xd0\xb0</b><script>x()</script></div>")
    assert parse(raw).html
    d = run("", raw=raw)
    (client,) = [n for n in notices(d) if n.template == "client.notice.reply"]
    assert dict(client.context)["html_text"] == "<div></div><div><b>Да</b></div>"


# --- the client answers a question of a ticket in work ---------------------------------------------


@pytest.mark.parametrize("pause", [True, False])
def test_answer_to_a_question_returns_a_ticket_in_work_to_accepted(pause):
    waiting = replace(TICKET, status="waiting", due_at=NOW + timedelta(days=1),
                      waiting_since=NOW - timedelta(hours=2), first_response_due=None)
    mail = parse(b"From: ivan@client.test\r\nTo: support@desk.test\r\nSubject: Re: x\r\n"
                 b"Message-ID: <c2@client.test>\r\n\r\n19:00\r\n")
    view = RouteView(IVAN, False, None, (), None, (), False, 0, 0)
    route = replace(ROUTE, kind="client_reply", ticket=waiting, via="token", reason="")
    d = decide(route, mail, view, NOW, Policy(first_response_minutes=15, autoreply_limit_per_day=5,
                                               default_language="ru", pause_due_while_waiting=pause))
    assert changes(d)["status"] == "accepted"
    assert ("due_at" in changes(d)) is pause


# --- #split: which mails move, and both tickets' response clocks ----------------------------------

THREE = (*MAILS, ClientMail(3, 43, "c2@client.test", NOW - timedelta(minutes=5), "Такси",
                            followers=((54, "oneassist.2@desk.test"),)))


def split_view(ticket_started=NOW - timedelta(hours=1), answering="oneassist.1@desk.test"):
    thread = replace(THREAD, client_mails=THREE)
    return replace(VIEW, thread=thread, minted_tickets=((answering, TICKET),) if answering else ())


def deadline(at, client):
    return at + timedelta(minutes=15)


CLOCKED = replace(POLICY, response_deadline=deadline)


def split_effect(d):
    (effect,) = d.of(SplitOff)
    return effect


def test_split_moves_the_answered_mail_and_every_one_after_it_with_their_notifications():
    d = run("#split Такси на субботу", view=split_view(), policy=CLOCKED)
    effect = split_effect(d)
    assert effect.rows == (41, 52, 43, 54) and effect.subject == "Такси на субботу"
    # The new ticket's clock runs from the first moved mail's arrival.
    assert (effect.response_started_at, effect.first_response_due) == (THREE[1].at, THREE[1].at + timedelta(minutes=15))
    (ack,) = [n for n in notices(d) if n.template == "client.notice.ack"]
    assert (ack.scope, ack.in_reply_to) == ("split", "c1@client.test")
    assert applied_lines(d)[0] == '#split: client mail(s) 2, 3 became a new ticket "Такси на субботу"'


def test_split_without_an_answered_mail_moves_the_last_one():
    effect = split_effect(run("#split", view=split_view(answering=None), policy=CLOCKED))
    assert effect.rows == (43, 54) and effect.subject == "Такси"


def test_split_of_named_mails():
    effect = split_effect(run("#split mails 1,3 Всё про такси", view=split_view(), policy=CLOCKED))
    assert effect.rows == (40, 50, 43, 54) and effect.subject == "Всё про такси"
    assert split_effect(run("#split письма 2-3", view=split_view(), policy=CLOCKED)).rows == (41, 52, 43, 54)


@pytest.mark.parametrize("line, reason", [
    ("#split mails 4", "#split mails 4: OA-7 has client mails 1-3 (numbered in `ticket show`)"),
    ("#split mails 3-1", "#split mails 3-1: OA-7 has client mails 1-3 (numbered in `ticket show`)"),
    ("#split mails 1-3", "#split: that would move every client mail of OA-7; reply to the notification of the "
                         "first mail to move, or name them: #split mails 2-3 [subject]"),
])
def test_split_refusals(line, reason):
    assert_refused(run(line, view=split_view(), policy=CLOCKED), ANNA, reason)


def test_split_stops_the_old_clock_when_every_waiting_mail_moved():
    # The clock was started by mail 2 (mail 1 was answered): moving 2 and 3 leaves nothing waiting.
    ticket = replace(TICKET, response_started_at=THREE[1].at, first_response_due=THREE[1].at + timedelta(minutes=15))
    d = run("#split", ticket=ticket, view=split_view(), policy=CLOCKED)
    assert changes(d)["first_response_due"] is None and changes(d)["response_started_at"] is None


def test_split_restarts_the_old_clock_from_the_first_mail_it_keeps():
    ticket = replace(TICKET, response_started_at=THREE[0].at - timedelta(minutes=1))
    d = run("#split mails 1", ticket=ticket, view=split_view(), policy=CLOCKED)
    assert changes(d)["response_started_at"] == THREE[1].at
    assert changes(d)["first_response_due"] == THREE[1].at + timedelta(minutes=15)


def test_split_keeps_the_old_clock_when_its_first_waiting_mail_stays():
    assert "first_response_due" not in changes(run("#split", view=split_view(), policy=CLOCKED))
