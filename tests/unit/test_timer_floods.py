"""Timer and dead-letter alerts under the flood caps (issue 9, finding 9 follow-up).

docs/reliability.md cases 19 and 43 (per-recipient caps, floods): SLA reminders, breaches
and due-time alerts are capped per client and hour like the other alerts; what the client
is promised (delay notice, waiting reminder, auto-close) is never held.
"""

from dataclasses import replace
from datetime import timedelta

import pytest

from daemon.core.effects import Decision, sends
from daemon.core.model import Notice, Route, ThreadInfo
from daemon.core.timers import TimerPolicy, alert_source, fire
from daemon.core.workflow import FloodCaps, cap_decision, digest_notice
from tests.decisions import events, held, notices, ticket_changes
from tests.unit.test_routing import A_TICKET, NOW, A

CAPS = FloodCaps(alerts_per_source=3, staff_notifications_per_source=10, join_replies=20)
POLICY = TimerPolicy(reminder_minutes=10, due_warning_minutes=60, client_notice_minutes=30,
                     client_reminder_days=3, auto_close_days=7, staff_languages=(),
                     escalate_to=("ops@desk.test",), default_language="ru", caps=CAPS)
THREAD = ThreadInfo(client=A, message_ids=("<1@client.test>",), last_client_message_id="<1@client.test>",
                    last_client_entry_id=1, last_client_subject="Билеты")
OPEN = replace(A_TICKET, first_response_due=NOW, response_started_at=NOW - timedelta(minutes=15))
ACCEPTED = replace(A_TICKET, status="accepted", due_at=NOW + timedelta(minutes=30))
WAITING = replace(A_TICKET, status="waiting", waiting_since=NOW - timedelta(days=7))


def full(*kinds_and_recipients: tuple[str, str]) -> tuple[tuple[str, str, int], ...]:
    """The store's count for windows already at the cap."""
    return tuple((kind, to, CAPS.alerts_per_source) for kind, to in kinds_and_recipients)


@pytest.mark.parametrize("kind", ["staff.alert.sla_reminder", "staff.alert.sla_breach",
                                  "staff.alert.due_warning", "staff.alert.due_escalation",
                                  "staff.alert.undeliverable"])
def test_timer_and_dead_letter_alerts_are_capped_kinds(kind):
    assert CAPS.cap_of(kind) == 3


def test_alert_source_is_the_tickets_client():
    assert alert_source(OPEN, THREAD) == "a@client.test"


@pytest.mark.parametrize("timer, ticket, template, recipients", [
    ("sla-reminder", OPEN, "staff.alert.sla_reminder", ("anna@desk.test",)),
    ("sla-breach", OPEN, "staff.alert.sla_breach", ("ops@desk.test", "anna@desk.test")),
    ("due-warning", ACCEPTED, "staff.alert.due_warning", ("anna@desk.test",)),
])
def test_staff_timer_alerts_sent_under_the_cap_held_at_it(timer, ticket, template, recipients):
    """docs/reliability.md cases 19 and 43: the 4th alert of a kind for one client's tickets in an hour is held."""
    under = tuple((template, to, 2) for to in recipients)
    d = fire(timer, NOW, ticket, THREAD, NOW, POLICY, under)
    assert [n.to[0] for n in notices(d)] == list(recipients) and held(d) == ()
    assert {n.source for n in notices(d)} == {"a@client.test"}
    d = fire(timer, NOW, ticket, THREAD, NOW, POLICY, full(*((template, to) for to in recipients)))
    assert notices(d) == () and [n.to[0] for n in held(d)] == list(recipients)
    assert {n.source for n in held(d)} == {"a@client.test"}
    # The timer still did its work: the outcome, the timeline and the ticket change stand.
    assert d.outcome == timer and events(d)


def test_breach_still_marks_the_ticket_when_its_alerts_are_held():
    d = fire("sla-breach", NOW, OPEN, THREAD, NOW, POLICY,
             full(("staff.alert.sla_breach", "ops@desk.test"), ("staff.alert.sla_breach", "anna@desk.test")))
    assert ("breached_at", NOW) in ticket_changes(d) and len(held(d)) == 2


def test_another_clients_count_does_not_hold_this_clients_alert():
    other = replace(THREAD, client=replace(A, id=2, email="b@client.test"))
    # The scheduler reads the counts of alert_source(): b's own windows are empty.
    d = fire("sla-reminder", NOW, OPEN, other, NOW, POLICY, ())
    assert len(notices(d)) == 1 and notices(d)[0].source == "b@client.test"


def test_delay_notice_to_the_client_is_never_held_its_escalation_is():
    """The delay notice is a promise to the client: sent even when every staff window is full."""
    d = fire("due-client-notice", NOW, ACCEPTED, THREAD, NOW, POLICY,
             full(("staff.alert.due_escalation", "ops@desk.test"),
                  ("staff.alert.due_escalation", "anna@desk.test"),
                  ("client.notice.delay_auto", "a@client.test")))
    assert [n.template for n in notices(d)] == ["client.notice.delay_auto"]
    assert notices(d)[0].source == ""  # not counted: never capped
    assert [n.template for n in held(d)] == ["staff.alert.due_escalation"] * 2


@pytest.mark.parametrize("timer", ["client-reminder", "auto-close"])
def test_waiting_reminder_and_auto_close_are_never_held(timer):
    d = fire(timer, NOW, WAITING, THREAD, NOW, POLICY, full(("client.notice.waiting_reminder", "a@client.test"),
                                                            ("client.notice.auto_closed", "a@client.test")))
    assert len(notices(d)) == 1 and held(d) == ()


def test_stale_timer_stays_empty():
    closed = replace(OPEN, status="done")
    d = fire("sla-reminder", NOW, closed, THREAD, NOW, POLICY, full(("staff.alert.sla_reminder", "anna@desk.test")))
    assert d.outcome == "sla-reminder-stale" and notices(d) == () and held(d) == ()


def test_cap_decision_keeps_what_is_not_capped_in_order():
    ack = Notice(template="client.notice.ack", to=("a@client.test",), language="ru")
    dead = Notice(template="staff.alert.undeliverable", to=("ops@desk.test",), language="en", autoreply=False)
    d = Decision(outcome="x", route=Route("timer"), effects=sends((ack, dead, dead, dead, dead)))
    capped = cap_decision(d, "client.notice.ack", (), CAPS)
    assert [n.template for n in notices(capped)] == ["client.notice.ack"] + ["staff.alert.undeliverable"] * 3
    assert len(held(capped)) == 1 and held(capped)[0].source == "client.notice.ack"


@pytest.mark.parametrize("language", ["ru", "en"])
@pytest.mark.parametrize("kind, source, hint", [
    ("staff.alert.sla_breach", "a@client.test", "oneassist ticket list --client a@client.test"),
    ("staff.alert.due_escalation", "a@client.test", "oneassist ticket list --client a@client.test"),
    ("staff.alert.undeliverable", "client.notice.ack", "oneassist outbox list --status dead"),
])
def test_digest_of_timer_and_dead_letter_alerts_says_where_to_look(language, kind, source, hint):
    from daemon.render.compose import make_environment, render_parts

    n = digest_notice(kind, source, ("ops@desk.test",), language, 27, NOW - timedelta(hours=1), NOW,
                      ("OA-4",))
    subject, text, _ = render_parts(make_environment(), n.template, language,
                                    {"service_name": "OneAssist", **dict(n.context)})
    assert "27" in subject and source in subject
    assert hint in text and kind in text and "OA-4" in text
    assert "not authenticated" not in text
