"""Bounces are news: VERP envelope senders, DSNs back into the intake mailbox, through Dovecot and SMTP.

Every mail leaves the desk with its own envelope sender (`support+b-<id>.<mac>@…`), as the
SMTP sink records it. A DSN to that address, delivered into the support mailbox the way
the MTA would put it there, marks the row bounced, shows on the ticket's timeline and
tells the manager; a second hard bounce marks the address (limits.hard_bounce_limit = 2
here) and `client show` says so. A DSN with a forged mac changes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime

from daemon.cli.client import format_client, show_client
from parsers.verp import outbox_id_of
from store.models import Bounce, ClientAddress, Outbox
from tests.integration.deskrig import client_mail
from tests.integration.test_staff_answers import show


def dsn(to: str, recipient: str, status: str = "5.1.1", action: str = "failed") -> bytes:
    """A Postfix-style DSN (RFC 3464) to our VERP envelope sender."""
    return f"""Return-Path: <>
From: Mail Delivery System <MAILER-DAEMON@mx.client.test>
To: {to}
Subject: Undelivered Mail Returned to Sender
Date: Mon, 30 Nov 2026 10:00:00 +0000
Message-ID: <dsn-{status}-{to.split('@')[0]}@mx.client.test>
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.client.test. Your message could not be delivered.

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.client.test

Final-Recipient: rfc822; {recipient}
Original-Recipient: rfc822;{recipient}
Action: {action}
Status: {status}
Diagnostic-Code: smtp; 550 {status} <{recipient}>: Recipient address rejected:
 User unknown in virtual mailbox table

--B--
""".replace("\n", "\r\n").encode()


def envelope_of(desk, kind: str, to: str) -> str:
    """The envelope sender the SMTP sink saw for the last mail of `kind` to `to`."""
    row = Outbox.select().where(Outbox.kind == kind, Outbox.recipients == to).order_by(Outbox.id.desc()).get()
    (received,) = [r for r in desk.sink.received if r.rcpt_tos == (to,)
                   and f"Message-ID: <{row.message_id}>".encode() in r.raw]
    assert outbox_id_of(received.mail_from, desk.settings.smtp.bounce_address,
                        desk.settings.service.verp_secret) == row.id
    return received.mail_from


def test_a_dsn_marks_the_mail_bounced_and_tells_the_manager(desk):
    desk.reconfigure("[limits]\nhard_bounce_limit = 2\n")
    client = desk.add_client()
    _, notice = desk.new_task(client)
    desk.answer(notice, desk.manager, "Билеты есть только на балкон, берём?")
    verp = envelope_of(desk, "client.notice.reply", client)
    assert verp.startswith(desk.support.split("@")[0] + "+b-")
    manager_mails = len(desk.inbox(desk.manager))

    # A forged DSN (the right form, a wrong mac) changes nothing.
    local, _, domain = verp.partition("@")
    desk.deliver(dsn(f"{local[:-16]}{'a' * 16}@{domain}", client))
    desk.run_once()
    assert not Bounce.select().exists() and len(desk.inbox(desk.manager)) == manager_mails

    desk.deliver(dsn(verp, client))
    desk.run_once()
    row = Outbox.get(Outbox.kind == "client.notice.reply")
    assert row.status == "bounced"
    told = desk.latest(desk.manager)
    assert "Клиент не получил письмо" in told["Subject"] and "[OA-1]" in told["Subject"]
    body = told.get_body(("plain",)).get_content()
    assert "5.1.1" in body and "client.notice.reply" in body and client in body
    shown = show("OA-1")
    assert f"client.notice.reply #{row.id} to {client} was not delivered (hard): 5.1.1" in shown
    assert f"#{row.id} client.notice.reply bounced" in shown
    print(shown)

    # The same DSN again: nothing new. A second hard bounce (the ack) marks the address.
    desk.deliver(dsn(verp, client))
    desk.run_once()
    assert len(desk.inbox(desk.manager)) == manager_mails + 1
    desk.deliver(dsn(envelope_of(desk, "client.notice.ack", client), client))
    desk.run_once()
    assert ClientAddress.get(ClientAddress.email == client).undeliverable_since is not None
    assert "отмечен как недоставляемый" in desk.latest(desk.manager).get_body(("plain",)).get_content()
    card = format_client(show_client(desk.settings, client, datetime.now(UTC)))
    assert f"bounces of {client}: 2 hard (marked at 2), UNDELIVERABLE since" in card
    print(card)

    # No more automatic mail to it: a new task gets no ack, the timeline says why; the
    # manager still hears of the task, and her own answer still goes, with a note.
    before = len(desk.inbox(client))
    desk.deliver(client_mail(client, desk.support, "Такси", "На вокзал"))
    desk.run_once()
    assert len(desk.inbox(client)) == before
    assert "is marked undeliverable after its hard bounces" in show("OA-2")
    assert "[OA-2]" in desk.latest(desk.manager)["Subject"]
    desk.answer(desk.latest(desk.manager), desk.manager, "Такси заказано.")
    assert len(desk.inbox(client)) == before + 1
    assert "помечен недоставляемым" in desk.latest(desk.manager).get_body(("plain",)).get_content()
    # `client set --deliverable` lifts the mark: acks go again.
    done = desk.run_process("client", "set", client, "--deliverable")
    assert done.returncode == 0, done.stderr
    assert ClientAddress.get(ClientAddress.email == client).undeliverable_since is None
    desk.new_task(client, "Ещё", "Текст")
    assert desk.latest(client)["Subject"].startswith("[OA-3]")


def test_a_delay_report_is_noted_and_marks_nothing(desk):
    client = desk.add_client()
    desk.new_task(client)
    desk.deliver(dsn(envelope_of(desk, "client.notice.ack", client), client, status="4.4.1", action="delayed"))
    desk.run_once()
    assert Outbox.get(Outbox.kind == "client.notice.ack").status == "sent"
    assert not Bounce.select().exists()
    assert "delivery-report client.notice.ack" in show("OA-1")


def test_a_refusal_by_our_relay_is_a_bounce_too(desk):
    """Case 12: 550 at RCPT for the client's answer: dead, on the timeline, and the manager told."""
    client = desk.add_client()
    _, notice = desk.new_task(client)
    desk.sink.reject_recipient(client, 550, "5.1.1 <client>: Recipient address rejected")
    desk.answer(notice, desk.manager, "Билеты выкуплены.")
    desk.run_once()
    row = Outbox.get(Outbox.kind == "client.notice.reply")
    assert row.status == "dead"
    told = desk.latest(desk.manager)
    assert "Клиент не получил письмо" in told["Subject"]
    assert "5.1.1" in told.get_body(("plain",)).get_content()
    assert f"client.notice.reply #{row.id} to {client} was not delivered (hard): 5.1.1" in show("OA-1")
    # The staff notice about it is not a client mail: no loop however it fares.
    assert Bounce.select().count() == 1
