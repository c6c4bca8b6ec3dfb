"""A notice that cannot be rendered or encoded (docs/reliability.md case 14).

The fault is hooked into the renderer (ONEASSIST_FAIL_ON="render:MARK": rendering any
notice whose subject or text carries MARK raises, as a template bug or an encoder that
refuses a value would). Must hold: the client's mail is stored and its ticket made; the
broken notices are parked as dead outbox rows, with one admin alert each; the loop goes on.
"""

from __future__ import annotations

import os

from store.models import Event, Message, Outbox, SpoolEntry, Ticket
from tests.integration.deskrig import client_mail


def test_a_notice_that_cannot_be_rendered_is_parked_and_the_mail_is_kept(desk):
    client = desk.add_client()
    desk.deliver(client_mail(client, desk.support, "Задача BROKEN-RENDER", "Текст"))
    desk.deliver(client_mail(client, desk.support, "Обычная задача", "Текст"))
    os.environ["ONEASSIST_FAIL_ON"] = "render:BROKEN-RENDER"
    try:
        for _ in range(2):  # a second pass must not retry or duplicate anything
            done = desk.run_process("run", "--once")
            assert done.returncode == 0, done.stderr.decode()[-2000:]
    finally:
        del os.environ["ONEASSIST_FAIL_ON"]
    assert desk.intake_left() == []
    entries = list(SpoolEntry.select().order_by(SpoolEntry.id))
    assert [e.state for e in entries] == ["done", "done"], [(e.state, e.error) for e in entries]
    assert [e.attempts for e in entries] == [1, 1]
    assert Ticket.select().count() == 2
    assert Message.select().where(Message.direction == "in").count() == 2
    broken = Ticket.get(Ticket.subject.contains("BROKEN-RENDER"))
    dead = list(Outbox.select().where(Outbox.ticket == broken.id, Outbox.status == "dead"))
    # The ack and the manager's notice both carry the subject: both parked.
    assert sorted(r.kind for r in dead) == ["client.notice.ack", "staff.notice.ticket"]
    assert all(r.last_error.startswith("could not be rendered: RuntimeError") for r in dead)
    assert Event.select().where(Event.ticket == broken.id, Event.kind == "notice-parked").count() == 2
    # The other mail went its usual way; the client got its ack, and none for the broken one.
    acks = desk.inbox(client)
    assert len(acks) == 1 and "Обычная задача" in str(acks[0]["Subject"])
    alerts = [m for m in desk.inbox(desk.admin) if "could not be made" in str(m["Subject"])]
    assert len(alerts) == 2
    assert {f"#{r.id}" for r in dead} == {str(a["Subject"]).split()[-2] for a in alerts}
    listing = desk.run_process("--json", "outbox", "list", "--status", "dead")
    assert listing.returncode == 0 and listing.stdout.decode().count('"status": "dead"') == 2
