"""#remind WHEN [text] on values: the client is told nothing, the sender is reminded at WHEN (issue 10).

The tag is one module (daemon/core/tags/remind.py) and two templates per language: the
rule sets a one-off timer, core/timers.fire() hands the passed timer back to the tag.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from daemon.core import effects as fx
from daemon.core.model import OneOffTimer
from daemon.core.tags import TAGS, help_text
from daemon.core.timers import TimerPolicy, fire
from tests.decisions import events, notices, one, ticket_changes, timers
from tests.unit.test_staff_rules import (
    ANNA,
    MSK,
    OLGA,
    OLGAS,
    OPS,
    THREAD,
    TICKET,
    ctx,
    run,
    sent,
)

POLICY = TimerPolicy(reminder_minutes=10, due_warning_minutes=60, client_notice_minutes=30,
                     client_reminder_days=3, auto_close_days=7,
                     staff_languages=(("anna@desk.test", "ru"), ("boris@desk.test", "en")),
                     escalate_to=(), default_language="ru")
AT = datetime(2026, 11, 27, 15, 0, tzinfo=MSK)  # +2h from 13:00 Moscow
ANNA_RU = replace(ANNA, language="ru")  # her reminder comes back in her language


def test_remind_sets_a_timer_and_tells_the_client_nothing():
    d = run("#remind +2h позвонить в ресторан", ANNA_RU)
    assert d.outcome == "staff-applied"
    assert timers(d) == (OneOffTimer("#remind", AT, (("language", "ru"), ("text", "позвонить в ресторан"),
                                                     ("to", "anna@desk.test"))),)
    # Only the transcript, to the sender; nothing to the client, no state change.
    assert sent(d) == [("staff.notice.transcript", ("anna@desk.test",))]
    assert ticket_changes(d) == () and one(d, fx.RecordMessage).text == ""
    (line,) = ctx(d, "staff.notice.transcript")["applied"]
    assert line == "#remind: напоминание придёт 27.11.2026 15:00 UTC+3 (клиенту ничего не уходит)"
    # No human answer: the first-response clock keeps running.
    assert "first_response_at" not in dict(ticket_changes(d))


def test_firing_the_timer_reminds_the_sender_with_the_text():
    (timer,) = timers(run("#remind +2h позвонить в ресторан", ANNA_RU))
    d = fire(timer.kind, timer.fire_at, TICKET, THREAD, timer.fire_at + timedelta(seconds=20), POLICY,
             data=dict(timer.data))
    assert d.outcome == "remind"
    assert sent(d) == [("staff.notice.remind", ("anna@desk.test",))]
    assert notices(d)[0].language == "ru"
    assert ctx(d, "staff.notice.remind") == {"text": "позвонить в ресторан", "late_minutes": 0}
    assert ticket_changes(d) == () and events(d) == (("remind", "to anna@desk.test"),)


def test_a_late_reminder_says_so_and_goes_in_the_senders_language():
    (timer,) = timers(run("#remind завтра 10:00 check the tickets", OPS))
    late = fire(timer.kind, timer.fire_at, TICKET, THREAD, timer.fire_at + timedelta(minutes=7), POLICY,
                data=dict(timer.data))
    assert notices(late)[0].to == ("ops@desk.test",) and notices(late)[0].language == "en"
    assert dict(notices(late)[0].context)["late_minutes"] == 7


def test_text_after_the_tags_is_the_reminder_when_the_line_has_none():
    (timer,) = timers(run("#remind +1d\nПроверить, ответил ли ресторан"))
    assert dict(timer.data)["text"] == "Проверить, ответил ли ресторан"


def test_with_a_client_tag_the_client_gets_only_that_tags_mail():
    d = run("#reply Бронирую столик\n#remind +2h перезвонить")
    assert [t for t, _ in sent(d)] == ["client.notice.reply", "staff.notice.transcript"]
    assert len(timers(d)) == 1


def test_an_assistant_may_remind_herself_but_not_on_a_closed_ticket():
    assert TAGS["remind"].allows("assistant")
    d = run("#remind +3d спросить про отзыв", OLGA, ticket=OLGAS)
    assert d.outcome == "staff-applied" and dict(timers(d)[0].data)["to"] == OLGA.email
    closed = run("#remind +3d спросить про отзыв", OLGA, ticket=replace(OLGAS, status="done"))
    assert closed.outcome == "staff-refused" and timers(closed) == ()


def test_remind_needs_a_when():
    d = run("#remind позвонить")
    assert d.outcome == "staff-refused" and timers(d) == ()


def test_the_cheat_sheet_lists_remind_in_both_languages():
    assert "#remind WHEN [текст] — напомнить себе" in help_text("ru")
    assert "#remind WHEN [text] — remind yourself" in help_text("en")
    assert ANNA.role == "manager"
