"""Staff away and their deputies (daemon/core/absence.py, issue 12), on values.

Who receives an away person's notifications, who may act on their tickets and with which
role, how the client mail of a deputy is signed, and that away ends by itself.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from daemon.core.absence import Absence, away, cover_decision, covered, redirect, stand_in
from daemon.core.effects import Decision, HoldNotice, SendNotice
from daemon.core.model import Notice, Route
from daemon.core.staff import may_drive
from tests.decisions import events, held, notices
from tests.unit.test_staff_rules import (
    ANNA,
    BORIS,
    NOW,
    OLGA,
    OPS,
    ROUTE,
    TICKET,
    VIEW,
    ctx,
    run,
    sent,
)

UNTIL = NOW + timedelta(days=7)
ANNA_AWAY = (Absence(ANNA.email, BORIS.email, UNTIL),)
LANGS = {ANNA.email: "ru", BORIS.email: "en", OLGA.email: "ru"}


def staff_notice(template: str, *to: str) -> Notice:
    return Notice(template=template, to=to, language="ru", context=(("event", "new"),))


def test_away_holds_until_the_moment_given_and_then_ends_by_itself():
    assert away(ANNA.email, ANNA_AWAY, NOW) == ANNA_AWAY[0]
    assert away(ANNA.email, ANNA_AWAY, UNTIL - timedelta(seconds=1)) is not None
    assert away(ANNA.email, ANNA_AWAY, UNTIL) is None
    assert away(BORIS.email, ANNA_AWAY, NOW) is None and away(None, ANNA_AWAY, NOW) is None


def test_stand_in_follows_a_chain_of_deputies_and_stops_at_a_circle():
    chain = (*ANNA_AWAY, Absence(BORIS.email, OLGA.email, UNTIL))
    assert stand_in(ANNA.email, chain, NOW) == OLGA.email
    circle = (*ANNA_AWAY, Absence(BORIS.email, ANNA.email, UNTIL))
    assert stand_in(ANNA.email, circle, NOW) == BORIS.email
    assert stand_in(ANNA.email, ANNA_AWAY, UNTIL) == ANNA.email


def test_staff_notices_go_to_the_deputy_in_his_language_transcripts_do_not():
    moved = redirect(staff_notice("staff.notice.ticket", ANNA.email), ANNA_AWAY, NOW, LANGS)
    assert moved.to == (BORIS.email,) and moved.language == "en"
    assert dict(moved.context)["covering_for"] == (ANNA.email,)
    own = staff_notice("staff.notice.transcript", ANNA.email)
    assert redirect(own, ANNA_AWAY, NOW, LANGS) is own
    client = Notice(template="client.notice.ack", to=("ivan@client.test",), language="ru")
    assert redirect(client, ANNA_AWAY, NOW, LANGS) is client


def test_a_deputy_who_is_already_a_recipient_gets_one_copy_held_ones_move_too():
    decision = Decision("new-ticket", Route("client_new"), effects=(
        SendNotice(staff_notice("staff.notice.ticket", BORIS.email)),
        SendNotice(staff_notice("staff.notice.ticket", ANNA.email)),
        HoldNotice(staff_notice("staff.alert.sla_reminder", ANNA.email)),
    ))
    covered_decision = cover_decision(decision, ANNA_AWAY, NOW, LANGS)
    assert [(n.template, n.to) for n in notices(covered_decision)] == [("staff.notice.ticket", (BORIS.email,))]
    assert [n.to for n in held(covered_decision)] == [(BORIS.email,)]
    # After --until nothing moves.
    assert cover_decision(decision, ANNA_AWAY, UNTIL, LANGS) == decision


def test_the_deputy_may_drive_the_away_managers_tickets_only_while_she_is_away():
    assert not may_drive(BORIS, TICKET)
    assert may_drive(BORIS, TICKET, ANNA_AWAY, NOW)
    assert not may_drive(BORIS, TICKET, ANNA_AWAY, UNTIL)
    assert not may_drive(OLGA, TICKET, ANNA_AWAY, NOW)
    assert covered(BORIS.email, TICKET, ANNA_AWAY, NOW) == ANNA_AWAY[0]
    assert covered(ANNA.email, TICKET, ANNA_AWAY, NOW) is None


def test_the_deputys_answer_is_signed_by_him_and_says_until_when_the_manager_is_away():
    view = replace(VIEW, absences=ANNA_AWAY)
    decision = run("#accept +2d\nКуплю билеты.", BORIS, view=view)
    assert decision.outcome == "staff-applied"
    context = ctx(decision, "client.notice.accepted")
    assert context["signed_by"] == BORIS.email and context["away_until"] == UNTIL
    assert ("deputy", f"{BORIS.email} for {ANNA.email} (away until {UNTIL.isoformat(timespec='minutes')}): "
                      "the client's mail went out in Boris's name") in events(decision)
    # The same mail from Boris after the leave ended is refused, and nothing changes.
    late = run("#accept +2d\nКуплю билеты.", BORIS, view=replace(VIEW, absences=(Absence(
        ANNA.email, BORIS.email, NOW),)))
    assert late.outcome == "staff-refused"
    # Anna's own answer, or an admin's, is never signed by a deputy.
    assert "signed_by" not in ctx(run("#accept +2d", ANNA, view=view), "client.notice.accepted")
    assert "signed_by" not in ctx(run("#accept +2d", OPS, view=view), "client.notice.accepted")


def test_an_assistant_deputy_acts_with_the_managers_authority():
    olga_for_anna = replace(VIEW, absences=(Absence(ANNA.email, OLGA.email, UNTIL),))
    # #cancel is for managers and admins; Olga stands in for a manager, so she may.
    decision = run("#cancel клиент передумал", OLGA, view=olga_for_anna)
    assert decision.outcome == "staff-applied"
    assert ("client.notice.cancelled", ("ivan@client.test",)) in sent(decision)
    # Without the absence the same mail is refused.
    assert run("#cancel клиент передумал", OLGA).outcome == "staff-refused"
    assert ROUTE.ticket == TICKET


def test_the_deputy_of_an_away_assistant_acts_but_the_client_hears_from_the_manager():
    assigned = replace(TICKET, assignee_email=OLGA.email)
    view = replace(VIEW, absences=(Absence(OLGA.email, BORIS.email, UNTIL),))
    decision = run("#reply\nУточняю наличие.", BORIS, ticket=assigned, view=view)
    assert decision.outcome == "staff-applied"
    assert "signed_by" not in ctx(decision, "client.notice.reply")
    assert ("deputy", f"{BORIS.email} for {OLGA.email} (away until {UNTIL.isoformat(timespec='minutes')})") \
        in events(decision)


def test_timer_alerts_for_an_away_manager_go_to_the_deputy_until_she_is_back():
    from daemon.core.timers import fire
    from tests.unit.test_timer_rules import NEW, POLICY, THREAD
    from tests.unit.test_timer_rules import NOW as T_NOW
    from tests.unit.test_timer_rules import sent as timer_sent

    olga_for_anna = (Absence("anna@desk.test", "olga@desk.test", T_NOW + timedelta(days=1)),)
    d = fire("sla-breach", T_NOW, NEW, THREAD, T_NOW, POLICY, absences=olga_for_anna)
    assert timer_sent(d) == [("staff.alert.sla_breach", ("ops@desk.test",), "en"),
                             ("staff.alert.sla_breach", ("olga@desk.test",), "ru")]
    back = fire("sla-breach", T_NOW + timedelta(days=1), NEW, THREAD, T_NOW + timedelta(days=1), POLICY,
                absences=olga_for_anna)
    assert ("staff.alert.sla_breach", ("anna@desk.test",), "ru") in timer_sent(back)


def test_a_new_task_while_the_manager_is_away_acks_in_her_name_and_notifies_the_deputy_within_his_cap():
    from daemon.core.routing import route
    from daemon.core.workflow import decide
    from tests.unit.test_floods import POLICY as FLOOD_POLICY
    from tests.unit.test_routing import NOW as R_NOW
    from tests.unit.test_routing import A, mail, view

    away_for_a_week = (Absence(A.manager_email, "boris@desk.test", R_NOW + timedelta(days=7)),)
    v = view(sender_client=A, absences=away_for_a_week)
    d = decide(route(mail(), v, None, "OA"), mail(), v, R_NOW, FLOOD_POLICY)
    ack, notice = notices(d)
    assert ack.template == "client.notice.ack" and dict(ack.context) == {
        "away_until": R_NOW + timedelta(days=7), "deputy_email": "boris@desk.test"}
    assert notice.to == ("boris@desk.test",) and dict(notice.context)["covering_for"] == (A.manager_email,)
    # The deputy's notifications count in his own hourly window.
    full = view(sender_client=A, absences=away_for_a_week,
                notices_this_hour=(("staff.notice.ticket", "boris@desk.test", 10),))
    capped = decide(route(mail(), full, None, "OA"), mail(), full, R_NOW, FLOOD_POLICY)
    assert [n.to for n in held(capped)] == [("boris@desk.test",)]
    # A week later the ack says nothing of it and the manager is notified again.
    later = R_NOW + timedelta(days=7)
    d = decide(route(mail(), v, None, "OA"), mail(), v, later, FLOOD_POLICY)
    assert notices(d)[0].context == () and notices(d)[1].to == (A.manager_email,)
