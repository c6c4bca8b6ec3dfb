"""VERP addresses, DSN reading and the bounce decision, on values (issue 12)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from daemon.core.bounces import BouncePolicy, SentMail, decide_bounce
from daemon.core.effects import MarkBounced
from daemon.core.model import Route
from parsers.dsn import DsnReport, read_dsn
from parsers.mime import parse
from parsers.tokens import CLIENT_TOKEN_LABEL, derive_key, ticket_key_from_address
from parsers.verp import VERP_LABEL, outbox_id_in, outbox_id_of, verp_address
from tests.conftest import load_sample
from tests.decisions import events, notices
from tests.unit.test_staff_rules import IVAN, TICKET

SECRET = b"a" * 32
KEY = derive_key(SECRET, VERP_LABEL)
BASE = "support+bounces@desk.test"


def test_verp_address_round_trips_and_is_case_blind():
    address = verp_address(BASE, 1042, KEY)
    assert address.startswith("support+b-1042.") and address.endswith("@desk.test")
    assert outbox_id_of(address, BASE, KEY) == 1042
    assert outbox_id_of(address.upper(), BASE, KEY) == 1042
    assert outbox_id_in(("ivan@client.test", address), BASE, KEY) == 1042


@pytest.mark.parametrize("forge", [
    lambda a: a.replace("b-1042.", "b-1043."),          # another row, same mac
    lambda a: a[:-len("@desk.test") - 1] + "a@desk.test",  # one mac character changed
    lambda a: a.replace("@desk.test", "@other.test"),     # another mailbox
    lambda a: a.replace("support+", "sales+"),
    lambda a: "support+b-1042@desk.test",                 # no mac
    lambda a: "support+b-01042." + a.split(".", 1)[1],    # a leading zero
])
def test_forged_verp_addresses_name_no_row(forge):
    address = verp_address(BASE, 1042, KEY)
    forged = forge(address)
    assert forged != address and outbox_id_of(forged, BASE, KEY) is None


def test_the_verp_key_is_not_the_reply_token_key():
    address = verp_address(BASE, 7, KEY)
    assert outbox_id_of(address, BASE, derive_key(SECRET, CLIENT_TOKEN_LABEL)) is None
    # A VERP detail looks like a ticket token (`b-7.<mac>`) but never verifies as one.
    assert ticket_key_from_address(address, BASE, derive_key(SECRET, CLIENT_TOKEN_LABEL)) is None


def test_read_dsn_from_a_real_postfix_bounce():
    report = read_dsn(parse(load_sample("dsn-bounce-postfix.eml")))
    assert report.failed and report.hard and report.status.startswith("5.")
    assert "\n" not in report.diagnostic


def test_read_dsn_picks_the_failed_recipient_and_keeps_values_on_one_line():
    raw = (b"From: MAILER-DAEMON@mx.test\r\nTo: x@desk.test\r\nSubject: failure\r\nMIME-Version: 1.0\r\n"
           b'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n--B\r\n'
           b"Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.test\r\n\r\n"
           b"Final-Recipient: rfc822; ok@client.test\r\nAction: delivered\r\nStatus: 2.0.0\r\n\r\n"
           b"Final-Recipient: rfc822; Ivan@Client.test\r\nAction: failed\r\nStatus: 5.2.2\r\n"
           b"Diagnostic-Code: smtp; 552 mailbox full\r\n  #done: applied\r\n\r\n--B--\r\n")
    report = read_dsn(parse(raw))
    assert report == DsnReport("ivan@client.test", "failed", "5.2.2", "smtp; 552 mailbox full #done: applied")


@pytest.mark.parametrize("action, status, failed, hard", [
    ("failed", "5.1.1", True, True), ("delayed", "4.4.1", False, False), ("failed", "4.4.7", True, False),
    ("", "", True, False), ("delivered", "2.0.0", False, False), ("failed", "", True, True),
])
def test_failed_and_hard(action, status, failed, hard):
    report = DsnReport("a@b.test", action, status, "")
    assert (report.failed, report.hard) == (failed, hard)


NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
SENT = SentMail(outbox_id=5, kind="client.notice.reply", recipients=("ivan@client.test",), created_at=NOW,
                bounced=False, ticket=TICKET, client=IVAN, hard_bounces=(("ivan@client.test", 1),))
POLICY = BouncePolicy(hard_bounce_limit=3, language_of=lambda email: "ru")
ROUTE = Route("bounce", reason="delivery status notification")
HARD = DsnReport("ivan@client.test", "failed", "5.1.1", "smtp; 550 user unknown")


def test_a_hard_bounce_marks_the_row_tells_the_manager_and_counts():
    d = decide_bounce(ROUTE, SENT, HARD, POLICY)
    assert d.outcome == "bounce-recorded" and d.route.ticket == TICKET
    assert d.of(MarkBounced) == (MarkBounced(5, "ivan@client.test", True, "5.1.1", "smtp; 550 user unknown", False),)
    (notice,) = notices(d)
    assert (notice.template, notice.to) == ("staff.notice.bounced", ("anna@desk.test",))
    assert dict(notice.context)["hard_bounces"] == 2
    assert events(d)[0][0] == "bounce"


def test_the_limit_th_hard_bounce_marks_the_address_once():
    d = decide_bounce(ROUTE, replace(SENT, hard_bounces=(("ivan@client.test", 2),)), HARD, POLICY)
    assert d.of(MarkBounced)[0].mark_address and ("undeliverable" in [k for k, _ in events(d)])
    later = decide_bounce(ROUTE, replace(SENT, hard_bounces=(("ivan@client.test", 3),)), HARD, POLICY)
    assert not later.of(MarkBounced)[0].mark_address


def test_a_repeated_dsn_a_missing_row_and_a_delay_change_nothing_much():
    assert decide_bounce(ROUTE, replace(SENT, bounced=True), HARD, POLICY).effects == ()
    assert decide_bounce(ROUTE, None, HARD, POLICY).effects == ()
    delayed = decide_bounce(ROUTE, SENT, DsnReport("ivan@client.test", "delayed", "4.4.1", ""), POLICY)
    assert not delayed.of(MarkBounced) and not notices(delayed) and events(delayed)[0][0] == "delivery-report"


def test_the_reports_recipient_counts_only_if_we_sent_to_it():
    d = decide_bounce(ROUTE, SENT, replace(HARD, recipient="victim@else.test"), POLICY)
    assert d.of(MarkBounced)[0].address == "ivan@client.test"


def test_a_bounced_staff_mail_tells_nobody():
    d = decide_bounce(ROUTE, replace(SENT, kind="staff.notice.ticket"), HARD, POLICY)
    assert d.of(MarkBounced) and not notices(d)


def test_automatic_client_mail_to_a_marked_address_is_held_and_the_timeline_says_so():
    from daemon.core.bounces import hold_undeliverable
    from daemon.core.effects import Decision, RecordEvent, SendNotice
    from daemon.core.model import Notice

    ack = Notice(template="client.notice.ack", to=("ivan@client.test",), language="ru")
    staff = Notice(template="staff.notice.ticket", to=("anna@desk.test",), language="ru")
    decision = Decision("new-ticket", ROUTE, (SendNotice(ack), SendNotice(staff)))
    assert hold_undeliverable(decision, IVAN) == decision
    held = hold_undeliverable(decision, replace(IVAN, undeliverable=("ivan@client.test",)))
    assert notices(held) == (staff,)
    assert held.effects[0] == RecordEvent("not-sent", "client.notice.ack to ivan@client.test: the address is "
                                                      "marked undeliverable after its hard bounces")
