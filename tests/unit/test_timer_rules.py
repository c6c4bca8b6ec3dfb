"""Every timer kind of daemon/core/timers.py, on values: no store, no servers (issue 10).

plan() derives a ticket's deadlines from its state; fire() turns one passed deadline
into a Decision, or into a "-stale" Decision that changes nothing when the ticket moved
on before the timer fired (the answer came, the task was closed, the client wrote back).
The flood caps on the staff alerts are tested in test_timer_floods.py.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from daemon.core import effects as fx
from daemon.core.effects import Decision
from daemon.core.model import ClientRef, ThreadInfo, TicketRef
from daemon.core.sla import Calendar
from daemon.core.timers import LATE_AFTER, TimerPolicy, fire, plan
from tests.decisions import events, has, held, notices, ticket_changes

MSK = ZoneInfo("Europe/Moscow")
# Friday 27 November 2026, 13:00 in Moscow.
NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
POLICY = TimerPolicy(reminder_minutes=10, due_warning_minutes=60, client_notice_minutes=30,
                     client_reminder_days=3, auto_close_days=7,
                     staff_languages=(("anna@desk.test", "ru"), ("olga@desk.test", "ru"),
                                      ("ops@desk.test", "en")),
                     escalate_to=("ops@desk.test",), default_language="ru")
IVAN = ClientRef(1, "ivan@client.test", "Иван", "basis", "anna@desk.test", "en", True, ("ivan@client.test",))
THREAD = ThreadInfo(client=IVAN, message_ids=("c1@client.test", "oneassist.1@desk.test"),
                    last_client_message_id="c1@client.test", last_client_entry_id=41,
                    last_client_subject="Theatre tickets")
BASE = TicketRef(7, "OA-7", 1, "Theatre tickets", "theatre tickets", "new", "anna@desk.test",
                 created_at=NOW - timedelta(minutes=15))
# Opened at 09:45, first answer due at 10:00.
NEW = replace(BASE, first_response_due=NOW, response_started_at=NOW - timedelta(minutes=15))
ACCEPTED = replace(BASE, status="accepted", due_at=NOW + timedelta(hours=2), first_response_at=NOW)
WAITING = replace(BASE, status="waiting", waiting_since=NOW - timedelta(days=3), first_response_at=NOW)
CLOSED = ("done", "cancelled", "rejected", "merged", "closed")


def sent(d: Decision) -> list[tuple[str, tuple[str, ...], str]]:
    return [(n.template, n.to, n.language) for n in notices(d)]


def assert_stale(d: Decision, kind: str) -> None:
    """The ticket moved on: nothing is sent, changed, counted or logged."""
    assert d.outcome == f"{kind}-stale"
    assert (notices(d), held(d), ticket_changes(d), events(d)) == ((), (), (), ())
    assert not has(d, fx.ReleaseQuota) and not has(d, fx.RecordMessage)


# --- plan(): which deadlines a state implies -----------------------------------------------------


def test_plan_of_a_new_ticket_is_the_response_reminder_and_breach():
    assert plan(NEW, POLICY, None) == (("sla-reminder", NOW - timedelta(minutes=5)), ("sla-breach", NOW))


def test_plan_reminder_counts_working_time_the_breach_is_the_stored_deadline():
    # Friday 17:55 in Moscow, office 09:00-18:00 on weekdays: 10 working minutes end Monday 09:05.
    office = Calendar(tz=MSK, hours=((time(9), time(18)),) * 5 + (None, None))
    started = datetime(2026, 11, 27, 17, 55, tzinfo=MSK)
    due = datetime(2026, 11, 30, 9, 10, tzinfo=MSK)
    ticket = replace(BASE, response_started_at=started, first_response_due=due)
    assert plan(ticket, POLICY, office) == (("sla-reminder", datetime(2026, 11, 30, 9, 5, tzinfo=MSK)),
                                           ("sla-breach", due))


def test_plan_of_an_accepted_ticket_warns_staff_then_tells_the_client_in_wall_clock_time():
    assert plan(ACCEPTED, POLICY, Calendar(tz=MSK, hours=(None,) * 6 + ((time(9), time(10)),))) == (
        ("due-warning", NOW + timedelta(hours=1)), ("due-client-notice", NOW + timedelta(minutes=90)))


def test_plan_of_an_accepted_ticket_still_unanswered_has_all_four():
    both = replace(ACCEPTED, first_response_at=None, first_response_due=NOW,
                   response_started_at=NOW - timedelta(minutes=15))
    assert [kind for kind, _ in plan(both, POLICY, None)] == ["sla-reminder", "sla-breach", "due-warning",
                                                               "due-client-notice"]


def test_plan_of_a_waiting_ticket_reminds_the_client_then_closes():
    assert plan(WAITING, POLICY, None) == (("client-reminder", NOW), ("auto-close", NOW + timedelta(days=4)))


@pytest.mark.parametrize("ticket", [
    BASE,                                           # answered: no response clock
    replace(BASE, status="accepted"),               # accepted without a due time
    replace(BASE, status="waiting"),                # waiting without waiting_since
    replace(BASE, first_response_due=NOW),          # a deadline with its clock paused
], ids=["answered", "accepted-no-due", "waiting-no-since", "clock-paused"])
def test_plan_without_a_running_deadline_is_empty(ticket):
    assert plan(ticket, POLICY, None) == ()


@pytest.mark.parametrize("status", CLOSED)
def test_plan_of_a_closed_ticket_is_empty_whatever_its_fields(status):
    everything = replace(NEW, status=status, due_at=NOW, waiting_since=NOW)
    assert plan(everything, POLICY, None) == ()


# --- fire(): each kind on time ------------------------------------------------------------------


def test_sla_reminder_goes_to_the_manager_and_the_assistant():
    ticket = replace(NEW, assignee_email="olga@desk.test")
    d = fire("sla-reminder", NOW, ticket, THREAD, NOW, POLICY)
    assert d.outcome == "sla-reminder" and d.route.kind == "timer" and d.route.via == "sla-reminder"
    assert d.route.ticket == ticket and d.route.client == IVAN
    assert sent(d) == [("staff.alert.sla_reminder", ("olga@desk.test",), "ru"),
                       ("staff.alert.sla_reminder", ("anna@desk.test",), "ru")]
    assert dict(notices(d)[0].context) == {"late_minutes": 0, "deadline": NOW, "due": None}
    assert events(d) == (("sla-reminder", ""),) and ticket_changes(d) == ()
    assert all(not n.autoreply for n in notices(d))


def test_sla_breach_marks_the_ticket_and_escalates_to_admins_first():
    d = fire("sla-breach", NOW, NEW, THREAD, NOW, POLICY)
    assert d.outcome == "sla-breach"
    assert ticket_changes(d) == (("breached_at", NOW),)
    assert events(d) == (("sla-breach", "anna@desk.test"),)
    assert sent(d) == [("staff.alert.sla_breach", ("ops@desk.test",), "en"),
                       ("staff.alert.sla_breach", ("anna@desk.test",), "ru")]


def test_an_admin_who_is_also_the_manager_gets_one_alert():
    own = replace(NEW, manager_email="ops@desk.test")
    assert sent(fire("sla-breach", NOW, own, THREAD, NOW, POLICY)) == [
        ("staff.alert.sla_breach", ("ops@desk.test",), "en")]


def test_due_warning_goes_to_whoever_does_the_work():
    ticket = replace(ACCEPTED, assignee_email="olga@desk.test")
    at = ticket.due_at - timedelta(minutes=60)
    d = fire("due-warning", at, ticket, THREAD, at, POLICY)
    assert d.outcome == "due-warning" and events(d) == (("due-warning", ""),)
    assert sent(d) == [("staff.alert.due_warning", ("olga@desk.test",), "ru"),
                       ("staff.alert.due_warning", ("anna@desk.test",), "ru")]
    assert dict(notices(d)[0].context)["due"] == ticket.due_at


def test_due_client_notice_tells_the_client_in_the_thread_and_escalates():
    at = ACCEPTED.due_at - timedelta(minutes=30)
    d = fire("due-client-notice", at, ACCEPTED, THREAD, at, POLICY)
    assert d.outcome == "due-client-notice"
    assert sent(d) == [("client.notice.delay_auto", ("ivan@client.test",), "en"),
                       ("staff.alert.due_escalation", ("ops@desk.test",), "en"),
                       ("staff.alert.due_escalation", ("anna@desk.test",), "ru")]
    client = notices(d)[0]
    assert client.in_reply_to == "c1@client.test"
    assert client.references == ("c1@client.test", "oneassist.1@desk.test")
    assert dict(client.context)["due"] == ACCEPTED.due_at
    assert events(d) == (("delay", "by daemon"),) and ticket_changes(d) == ()


def test_waiting_reminder_asks_the_client_again_and_changes_nothing():
    d = fire("client-reminder", NOW, WAITING, THREAD, NOW, POLICY)
    assert d.outcome == "client-reminder"
    assert sent(d) == [("client.notice.waiting_reminder", ("ivan@client.test",), "en")]
    assert notices(d)[0].in_reply_to == "c1@client.test"
    assert ticket_changes(d) == () and not has(d, fx.ReleaseQuota)
    assert events(d) == (("client-reminder", ""),)


def test_auto_close_closes_the_ticket_tells_the_client_and_gives_the_quota_back():
    at = WAITING.waiting_since + timedelta(days=7)
    d = fire("auto-close", at, WAITING, THREAD, at, POLICY)
    assert d.outcome == "auto-close"
    assert ticket_changes(d) == (("status", "closed"), ("waiting_since", None))
    assert has(d, fx.ReleaseQuota)
    assert sent(d) == [("client.notice.auto_closed", ("ivan@client.test",), "en")]
    assert events(d) == (("auto-close", ""),)


def test_staff_language_falls_back_to_the_default():
    ticket = replace(NEW, manager_email="new.manager@desk.test")
    assert sent(fire("sla-reminder", NOW, ticket, THREAD, NOW, POLICY)) == [
        ("staff.alert.sla_reminder", ("new.manager@desk.test",), "ru")]


# --- late timers ---------------------------------------------------------------------------------


def test_a_timer_fired_late_says_how_late_in_whole_minutes():
    """The daemon was down: the alert says it is late, rounded down to the minute."""
    d = fire("sla-breach", NOW, NEW, THREAD, NOW + timedelta(minutes=47, seconds=59), POLICY)
    assert {dict(n.context)["late_minutes"] for n in notices(d)} == {47}
    # The breach is marked when it was noticed.
    assert ticket_changes(d) == (("breached_at", NOW + timedelta(minutes=47, seconds=59)),)


def test_up_to_a_minute_late_is_on_time():
    d = fire("sla-reminder", NOW, NEW, THREAD, NOW + LATE_AFTER, POLICY)
    assert dict(notices(d)[0].context)["late_minutes"] == 0
    d = fire("sla-reminder", NOW, NEW, THREAD, NOW + LATE_AFTER + timedelta(seconds=1), POLICY)
    assert dict(notices(d)[0].context)["late_minutes"] == 1


# --- the ticket moved on before the timer fired --------------------------------------------------


@pytest.mark.parametrize("kind", ["sla-reminder", "sla-breach"])
def test_response_timers_after_the_answer_are_stale(kind):
    answered = replace(NEW, first_response_due=None, response_started_at=None, first_response_at=NOW)
    assert_stale(fire(kind, NOW, answered, THREAD, NOW, POLICY), kind)


@pytest.mark.parametrize("kind", ["sla-reminder", "sla-breach"])
@pytest.mark.parametrize("status", CLOSED)
def test_response_timers_of_a_closed_ticket_are_stale(kind, status):
    # Cancelled at once: the response deadline is still stored, but nobody is to answer.
    assert_stale(fire(kind, NOW, replace(NEW, status=status), THREAD, NOW, POLICY), kind)


@pytest.mark.parametrize("kind", ["due-warning", "due-client-notice"])
# "open" is left out on purpose: an accepted ticket whose #ask the client answered becomes
# "open" (workflow.decide) with its due time kept; whether its due timers should run is undecided.
@pytest.mark.parametrize("status", ["done", "cancelled", "waiting", "merged", "payment"])
def test_due_timers_once_the_ticket_left_work_are_stale(kind, status):
    assert_stale(fire(kind, NOW, replace(ACCEPTED, status=status), THREAD, NOW, POLICY), kind)


@pytest.mark.parametrize("kind", ["client-reminder", "auto-close"])
@pytest.mark.parametrize("status", ["open", "accepted", "done", "closed", "cancelled"])
def test_waiting_timers_after_the_client_answered_or_the_ticket_closed_are_stale(kind, status):
    """The client wrote back (status open) or staff closed it: no reminder, no second close."""
    moved_on = replace(WAITING, status=status, waiting_since=None)
    assert_stale(fire(kind, NOW, moved_on, THREAD, NOW, POLICY), kind)


def test_unknown_timer_kind_is_an_error_not_a_silent_no_op():
    with pytest.raises(ValueError, match="unknown timer kind 'sla-reminde'"):
        fire("sla-reminde", NOW, NEW, THREAD, NOW, POLICY)
