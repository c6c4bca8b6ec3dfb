"""The pure flood caps (issue 9, finding 9; docs/reliability.md cases 19 and 43)."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from daemon.core import effects as fx
from daemon.core.model import Notice, Route
from daemon.core.routing import route
from daemon.core.staff import StaffPerson, StaffPolicy, unauthenticated
from daemon.core.workflow import FloodCaps, Policy, coalesce, decide, digest_notice, window_key
from daemon.render.notice_catalogue import KINDS
from parsers.auth_results import mx_saw_forgery
from tests.decisions import has, held, notices
from tests.unit.test_routing import EMPTY, NOW, A, mail, view

CAPS = FloodCaps(alerts_per_source=3, staff_notifications_per_source=10, join_replies=20)
POLICY = Policy(first_response_minutes=15, autoreply_limit_per_day=40, default_language="ru", caps=CAPS,
                trusted_authserv_ids=frozenset({"mx.desk.test"}))


def alert(to: str = "ops@desk.test") -> Notice:
    return Notice(template="staff.alert.unauthenticated", to=(to,), language="en", autoreply=False)


def test_capped_kinds_and_uncapped_ones():
    assert CAPS.cap_of("staff.alert.unauthenticated") == 3
    assert CAPS.cap_of("staff.alert.quarantine") == 3
    assert CAPS.cap_of("staff.notice.ticket") == 10
    # The digest itself, client mail and transcripts to the staff member who wrote are never held.
    for kind in ("staff.alert.digest", "client.notice.ack", "staff.notice.transcript", "unknown.notice.join"):
        assert CAPS.cap_of(kind) is None


def test_the_cap_is_the_rate_class_of_the_kind_entry_not_its_name(monkeypatch):
    from daemon.core import notice_kinds as kinds
    from daemon.core.notice_kinds import RateClass

    # Every kind has a class, and the classes are what the caps were before they were a column.
    assert {kind for kind in KINDS if kind.rate is RateClass.ALERT} == {
        kind for kind in KINDS if kind.startswith("staff.alert.") and kind != kinds.DIGEST}
    assert {kind for kind in KINDS if kind.rate is RateClass.STAFF} == {kinds.STAFF_TICKET}
    assert {kind for kind in KINDS if kind.rate is RateClass.JOIN} == {kinds.JOIN}
    # The cap follows the column: a staff.notice kind classed as an alert is capped as one,
    # a staff.alert kind classed NONE is not.
    monkeypatch.setattr(kinds.TRANSCRIPT, "rate", RateClass.ALERT)
    monkeypatch.setattr(kinds.QUARANTINE, "rate", RateClass.NONE)
    assert CAPS.cap_of(kinds.TRANSCRIPT) == 3 and CAPS.cap_of("staff.notice.transcript") == 3
    assert CAPS.cap_of(kinds.QUARANTINE) is None
    notice = Notice(template=kinds.TRANSCRIPT, to=("anna@desk.test",), language="ru", autoreply=False)
    send, held = coalesce((notice,) * 4, "x@desk.test", {}, CAPS)
    assert len(send) == 3 and len(held) == 1


def test_a_kind_nobody_declared_is_an_error_not_an_uncapped_mail():
    from daemon.core.notice_kinds import UnknownNoticeKind

    with pytest.raises(UnknownNoticeKind, match="staff.alert.nonesuch"):
        CAPS.cap_of("staff.alert.nonesuch")


def test_alerts_beyond_the_cap_are_held_and_marked_with_their_source():
    send, held = coalesce((alert(),), "x@desk.test", {}, CAPS)
    assert [n.source for n in send] == ["x@desk.test"] and held == ()
    send, held = coalesce((alert(),), "x@desk.test", {window_key(alert()): 2}, CAPS)
    assert len(send) == 1 and held == ()
    send, held = coalesce((alert(),), "x@desk.test", {window_key(alert()): 3}, CAPS)
    assert send == () and [n.source for n in held] == ["x@desk.test"]


def test_the_count_is_per_recipient_and_kind():
    sent = {window_key(alert("ops@desk.test")): 3}
    send, held = coalesce((alert("ops@desk.test"), alert("boss@desk.test")), "x@desk.test", sent, CAPS)
    assert [n.to for n in send] == [("boss@desk.test",)] and [n.to for n in held] == [("ops@desk.test",)]


def test_one_decision_cannot_exceed_the_cap_on_its_own():
    send, held = coalesce(tuple(alert() for _ in range(5)), "x@desk.test", {}, CAPS)
    assert (len(send), len(held)) == (3, 2)


def test_client_flood_keeps_the_ack_and_the_ticket_but_holds_the_manager_notification():
    key = ("staff.notice.ticket", "anna@desk.test")
    v = view(sender_client=A, notices_this_hour=(key + (10,),))
    d = decide(route(mail(), v, None, "OA"), mail(), v, NOW, POLICY)
    assert has(d, fx.OpenTicket) and has(d, fx.RecordMessage)
    assert [n.template for n in notices(d)] == ["client.notice.ack"]
    assert [(n.template, n.to, n.source) for n in held(d)] == [
        ("staff.notice.ticket", ("anna@desk.test",), "a@client.test")]
    under = view(sender_client=A, notices_this_hour=(key + (9,),))
    d = decide(route(mail(), under, None, "OA"), mail(), under, NOW, POLICY)
    assert [n.template for n in notices(d)] == ["client.notice.ack", "staff.notice.ticket"] and held(d) == ()


def test_unauthenticated_staff_alerts_are_capped_per_sender():
    policy = StaffPolicy(staff=(StaffPerson("ops@desk.test", "Ops", "admin", "en"),), transcripts=True,
                         default_due_hours=24)
    v = replace(EMPTY, notices_this_hour=(("staff.alert.unauthenticated", "ops@desk.test", 3),))
    d = unauthenticated(Route("staff"), mail("anna@desk.test"), "no dkim", policy, 7, v, CAPS)
    assert d.outcome == "staff-unauthenticated" and notices(d) == () and len(held(d)) == 1


def test_unauthenticated_alert_reason_is_one_line():
    policy = StaffPolicy(staff=(StaffPerson("ops@desk.test", "Ops", "admin", "en"),), transcripts=True,
                         default_due_hours=24)
    d = unauthenticated(Route("staff"), mail("anna@desk.test"), "d=x\r\n<3>forged\u2028y", policy, 7)
    reason = dict(notices(d)[0].context)["reason"]
    assert "\n" not in reason and "\r" not in reason and "\u2028" not in reason and "<3>forged" in reason


def _unknown(extra: str = ""):
    m = mail("someone@stranger.test", extra=extra)
    return route(m, EMPTY, None, "OA"), m


def test_join_reply_capped_for_everyone_together():
    r, m = _unknown()
    assert decide(r, m, replace(EMPTY, join_replies_last_hour=19), NOW, POLICY).outcome == "unknown-join"
    d = decide(r, m, replace(EMPTY, join_replies_last_hour=20), NOW, POLICY)
    assert d.outcome == "unknown-capped" and notices(d) == ()


@pytest.mark.parametrize("header, forged", [
    ("mx.desk.test; spf=fail smtp.mailfrom=stranger.test; dmarc=fail header.from=stranger.test", True),
    ("mx.desk.test; spf=softfail smtp.mailfrom=stranger.test; dmarc=fail header.from=stranger.test", False),
    ("mx.desk.test; spf=fail smtp.mailfrom=stranger.test; dmarc=pass header.from=stranger.test", False),
    ("mx.desk.test; spf=fail smtp.mailfrom=stranger.test; dmarc=none header.from=stranger.test", False),
    # Another authserv-id may be the sender's own writing: it cannot veto anything.
    ("mx.other.test; spf=fail smtp.mailfrom=stranger.test; dmarc=fail header.from=stranger.test", False),
])
def test_no_join_reply_when_our_mx_saw_spf_and_dmarc_fail(header, forged):
    r, m = _unknown(f"Authentication-Results: {header}\r\n")
    assert mx_saw_forgery(m, POLICY.trusted_authserv_ids) is forged
    outcome = decide(r, m, EMPTY, NOW, POLICY).outcome
    assert outcome == ("unknown-forged" if forged else "unknown-join")


def test_digest_names_kind_source_and_count():
    opened = NOW - timedelta(hours=1)
    labels = tuple(f"OA-{i}" for i in range(30))
    n = digest_notice("staff.notice.ticket", "a@client.test", ("anna@desk.test",), "ru", 40, opened, NOW, labels)
    ctx = dict(n.context)
    assert n.template == "staff.alert.digest" and n.to == ("anna@desk.test",) and not n.autoreply
    assert (ctx["kind"], ctx["source"], ctx["count"], ctx["more_labels"]) == (
        "staff.notice.ticket", "a@client.test", 40, 10)
    assert len(ctx["labels"]) == 20


@pytest.mark.parametrize("language", ["ru", "en"])
def test_digest_renders_in_both_languages(language):
    from daemon.render.compose import make_environment, render_parts

    n = digest_notice("staff.alert.unauthenticated", "anna@desk.test", ("ops@desk.test",), language, 27,
                      datetime(2026, 1, 1, 10, tzinfo=UTC), datetime(2026, 1, 1, 11, tzinfo=UTC), ("spool #4",))
    subject, text, _ = render_parts(make_environment(), n.template, language,
                                    {"service_name": "OneAssist", **dict(n.context)})
    assert "27" in subject and "anna@desk.test" in subject and "\n" not in subject.strip()
    assert "27" in text and "spool #4" in text
