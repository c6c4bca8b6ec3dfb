"""The threading order and the cross-client rule (docs/reliability.md I5, cases 23 and 24)."""

from dataclasses import replace
from datetime import UTC, datetime

from daemon.core import effects as fx
from daemon.core.model import ClientRef, RouteView, TicketRef
from daemon.core.routing import dedupe_key, route
from daemon.core.workflow import Policy, decide
from parsers.mime import parse
from tests.decisions import has, notices, one

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
A = ClientRef(1, "a@client.test", "A", "basis", "anna@desk.test", "ru", True, ("a@client.test",))
B = ClientRef(2, "b@other.test", "B", "basis", "anna@desk.test", "en", True, ("b@other.test",))
A_TICKET = TicketRef(10, "OA-10", 1, "Билеты", "билеты", "new", "anna@desk.test", NOW)
B_TICKET = TicketRef(11, "OA-11", 2, "Билеты", "билеты", "new", "anna@desk.test", NOW)
EMPTY = RouteView(None, False, None, (), None, (), False, 0, 0)
POLICY = Policy(first_response_minutes=15, autoreply_limit_per_day=3, default_language="ru")


def mail(sender: str = "a@client.test", subject: str = "Билеты", extra: str = "", mid: str = "<m1@client.test>"):
    raw = (f"From: {sender}\r\nTo: support@desk.test\r\nSubject: {subject}\r\nMessage-ID: {mid}\r\n"
           f"Date: Fri, 27 Nov 2026 10:00:00 +0300\r\n{extra}Content-Type: text/plain; charset=utf-8\r\n\r\n"
           "Купите билеты\r\n").encode()
    return parse(raw)


def view(**kw) -> RouteView:
    return replace(EMPTY, **kw)


def test_new_task_from_client_opens_ticket_and_acks():
    r = route(mail(), view(sender_client=A), None, "OA")
    assert (r.kind, r.via, r.client) == ("client_new", "new", A)
    d = decide(r, mail(), view(sender_client=A), NOW, POLICY)
    assert has(d, fx.OpenTicket) and has(d, fx.RecordMessage)
    assert [n.template for n in notices(d)] == ["client.notice.ack", "staff.notice.ticket"]
    assert notices(d)[0].to == ("a@client.test",)
    # The manager hears of it; nobody else does.
    assert notices(d)[1].to == ("anna@desk.test",)
    assert one(d, fx.OpenTicket).first_response_due == datetime(2026, 11, 27, 10, 15, tzinfo=UTC)


def test_threading_order_token_first():
    v = view(sender_client=A, token_ticket=A_TICKET, thread_tickets=(replace(A_TICKET, id=3, key="OA-3"),))
    assert route(mail(), v, None, "OA").via == "token"


def test_thread_then_subject_tag_then_re_subject():
    v = view(sender_client=A, thread_tickets=(A_TICKET,))
    assert route(mail(), v, None, "OA").via == "thread"
    v = view(sender_client=A, tag_ticket=A_TICKET)
    assert route(mail(subject="[OA-10] x"), v, None, "OA").via == "subject-tag"
    v = view(sender_client=A, subject_candidates=(A_TICKET,))
    assert route(mail(subject="Re: Билеты"), v, None, "OA").ticket == A_TICKET
    # Without a reply prefix the same subject is a new task.
    assert route(mail(subject="Билеты"), v, None, "OA").kind == "client_new"


def test_closed_ticket_is_not_joined_by_subject():
    v = view(sender_client=A, subject_candidates=(replace(A_TICKET, status="closed"),))
    assert route(mail(subject="Re: Билеты"), v, None, "OA").kind == "client_new"


def test_other_clients_ticket_is_never_joined():
    # B reuses A's subject tag, A's token, A's Message-ID in In-Reply-To, A's subject.
    v = view(sender_client=B, token_ticket=A_TICKET, thread_tickets=(A_TICKET,), tag_ticket=A_TICKET,
             subject_candidates=(A_TICKET,))
    r = route(mail("b@other.test", "Re: [OA-10] Билеты"), v, None, "OA")
    assert r.kind == "client_new"
    assert r.ticket is None and r.client == B


def test_own_ticket_preferred_when_thread_mentions_both():
    v = view(sender_client=B, thread_tickets=(A_TICKET, B_TICKET))
    assert route(mail("b@other.test"), v, None, "OA").ticket == B_TICKET


def test_unknown_sender_gets_one_join_notice_per_day():
    r = route(mail("stranger@x.test"), EMPTY, None, "OA")
    assert r.kind == "unknown"
    d = decide(r, mail("stranger@x.test"), EMPTY, NOW, POLICY)
    assert [n.template for n in notices(d)] == ["unknown.notice.join"]
    limited = view(join_notices_to_sender_24h=1)
    assert notices(decide(r, mail("stranger@x.test"), limited, NOW, POLICY)) == ()


def test_automatic_mail_never_answered():
    for reason in ("auto-submitted", "precedence", "list", "autoreply"):
        r = route(mail("stranger@x.test"), EMPTY, reason, "OA")
        assert notices(decide(r, mail(), EMPTY, NOW, POLICY)) == ()
        r = route(mail(), view(sender_client=A), reason, "OA")
        assert r.kind == "automatic"
        assert notices(decide(r, mail(), view(sender_client=A), NOW, POLICY)) == ()
    # On an existing ticket the automatic mail is recorded, still without an answer.
    r = route(mail(), view(sender_client=A, thread_tickets=(A_TICKET,)), "autoreply", "OA")
    d = decide(r, mail(), view(sender_client=A), NOW, POLICY)
    assert has(d, fx.RecordMessage) and notices(d) == ()


def test_loops_bounces_and_duplicates_change_nothing():
    for reason, kind in (("loop", "loop"), ("bounce", "bounce")):
        d = decide(route(mail(), view(sender_client=A), reason, "OA"), mail(), EMPTY, NOW, POLICY)
        assert d.outcome == kind and not has(d, fx.OpenTicket) and notices(d) == ()
    d = decide(route(mail(), view(sender_client=A, already_ingested=True), None, "OA"), mail(), EMPTY, NOW, POLICY)
    assert d.outcome == "duplicate" and not has(d, fx.RecordMessage)


def test_ack_cap_per_address():
    v = view(sender_client=A, autoreplies_to_sender_24h=3)
    d = decide(route(mail(), v, None, "OA"), mail(), v, NOW, POLICY)
    assert has(d, fx.OpenTicket) and [n.template for n in notices(d)] == ["staff.notice.ticket"]


def test_dedupe_key_is_sender_and_message_id_never_message_id_alone():
    assert dedupe_key(mail()) == dedupe_key(mail())
    assert dedupe_key(mail()) != dedupe_key(mail("b@other.test"))
    no_id_1 = mail(mid="")
    no_id_2 = mail(mid="", subject="Другое")
    assert no_id_1.message_id is None
    assert dedupe_key(no_id_1) != dedupe_key(no_id_2)
    assert dedupe_key(no_id_1) == dedupe_key(mail(mid=""))


# --- staff mail is threaded only by the desk's own Message-IDs (docs/reliability.md case 37) ---------

STAFF_REPLY = "In-Reply-To: <m-a@client.test>\r\nReferences: <oneassist.1@desk.test> <m-a@client.test>\r\n"


def test_staff_mail_is_never_routed_by_a_clients_message_id():
    """Client B reused client A's Message-ID: a thread of client ids names no ticket for staff."""
    staff_mail = mail("anna@desk.test", "Re: Билеты", extra="In-Reply-To: <m-a@client.test>\r\n")
    v = view(sender_is_staff=True, thread_tickets=(A_TICKET, B_TICKET))
    r = route(staff_mail, v, None, "OA")
    assert r.kind == "staff" and r.ticket is None and r.reason.startswith("no ticket found")


def test_staff_mail_is_not_routed_by_a_subject_tag_alone():
    staff_mail = mail("anna@desk.test", "Re: [OA-11] Билеты")
    r = route(staff_mail, view(sender_is_staff=True, tag_ticket=B_TICKET), None, "OA")
    assert r.ticket is None and r.reason.startswith("no ticket found")


def test_staff_mail_follows_a_minted_message_id():
    staff_mail = mail("anna@desk.test", "Re: Билеты", extra=STAFF_REPLY)
    v = view(sender_is_staff=True, thread_tickets=(B_TICKET,),
             minted_tickets=(("oneassist.1@desk.test", A_TICKET),))
    r = route(staff_mail, v, None, "OA")
    assert (r.ticket, r.via) == (A_TICKET, "thread")


def test_staff_mail_naming_two_tickets_asks_which():
    staff_mail = mail("anna@desk.test", "Re: Билеты", extra=STAFF_REPLY.replace(
        "<m-a@client.test>\r\n", "<oneassist.2@desk.test>\r\n", 1))
    v = view(sender_is_staff=True, minted_tickets=(("oneassist.1@desk.test", A_TICKET),
                                                   ("oneassist.2@desk.test", B_TICKET)))
    r = route(staff_mail, v, None, "OA")
    assert r.ticket is None and "several tickets (OA-10, OA-11)" in r.reason


def test_staff_token_wins_over_the_thread():
    staff_mail = mail("anna@desk.test", "Re: Билеты", extra=STAFF_REPLY)
    v = view(sender_is_staff=True, staff_token_ticket=B_TICKET,
             minted_tickets=(("oneassist.1@desk.test", A_TICKET),))
    assert (route(staff_mail, v, None, "OA").ticket, route(staff_mail, v, None, "OA").via) == (
        B_TICKET, "staff-token")


def test_mail_whose_sender_cannot_be_read_is_unreadable_not_automatic():
    """docs/reliability.md case 41: route() never files a mail with no readable sender as automatic."""
    r = route(mail("Иван Петров"), view(sender_client=A), None, "OA")
    assert r.kind == "unreadable"
    assert route(mail("Иван Петров"), EMPTY, "auto-submitted", "OA").kind == "unreadable"
