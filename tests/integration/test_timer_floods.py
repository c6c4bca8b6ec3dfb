"""Floods through the scheduler and the outbox: timer and dead-letter alerts are capped too.

Issue 9, follow-up to finding 9 (docs/reliability.md cases 19 and 43, floods). Client mail
needs no authentication, so one forged client From opens any number of tickets; without a
cap every one of them later cost the staff an SLA reminder and a breach escalation per
recipient. Everything goes through Dovecot and the SMTP sink; time
moves on a FrozenClock as in test_floods.py.
"""

from __future__ import annotations

import re
from collections import Counter

from store.models import NoticeWindow, Outbox, Ticket
from tests.integration.deskrig import client_mail
from tests.integration.test_sla import Clocked

# Subject markers of the single notices (ru for the manager, en for the admin).
MARKERS = {
    "Новая задача": "staff.notice.ticket",
    "Напоминание": "staff.alert.sla_reminder",
    "Нарушен срок ответа": "staff.alert.sla_breach",
    "SLA breached": "staff.alert.sla_breach",
    "Undeliverable": "staff.alert.undeliverable",
}


def _kinds(desk, user) -> tuple[Counter, Counter, dict[str, str]]:
    """(single notices per kind, digests per kind, digest body per kind) in a user's inbox."""
    single: Counter = Counter()
    digests: Counter = Counter()
    bodies: dict[str, str] = {}
    for mail in desk.inbox(user):
        subject = str(mail["Subject"])
        if "held back" in subject or "не отправлено" in subject:
            body = mail.get_body(("plain",)).get_content()
            kind = re.search(r"\((staff\.[a-z_.]+)\)", body).group(1)
            digests[kind] += 1
            bodies[kind] = body
            continue
        single.update(kind for marker, kind in MARKERS.items() if marker in subject)
    return single, digests, bodies


def test_forged_task_flood_caps_sla_reminders_and_breaches_then_one_digest_each(desk):
    """30 tasks under one client's From, nobody answers: the client gets 30 acks, but per kind
    and recipient the staff get at most 3 SLA alerts in the hour and then one digest (docs/reliability.md
    cases 19 and 43). Before, it was 30 reminders and 60 breach mails: linear in the forged mail."""
    client = desk.add_client()
    run = Clocked(desk)
    for i in range(30):
        desk.deliver(client_mail(client, desk.support, f"Задача {i}", f"Текст {i}"))
    run.cycle()
    assert Ticket.select().count() == 30
    # Reminder (10 min), then breach (15 min): past both, nobody having answered.
    run.advance(minutes=10, seconds=5)
    run.advance(minutes=5)
    manager, manager_digests, _ = _kinds(desk, desk.manager)
    admin, admin_digests, _ = _kinds(desk, desk.admin)
    assert manager == {"staff.notice.ticket": 10, "staff.alert.sla_reminder": 3, "staff.alert.sla_breach": 3}
    assert admin == {"staff.alert.sla_breach": 3}
    assert not manager_digests and not admin_digests
    assert Ticket.select().where(Ticket.breached_at.is_null()).count() == 0
    # Every window has closed: one digest per kind and recipient, counting the rest.
    run.advance(hours=1)
    run.advance(minutes=1)
    manager, manager_digests, bodies = _kinds(desk, desk.manager)
    admin, admin_digests, admin_bodies = _kinds(desk, desk.admin)
    assert manager_digests == {"staff.notice.ticket": 1, "staff.alert.sla_reminder": 1,
                               "staff.alert.sla_breach": 1}
    assert admin_digests == {"staff.alert.sla_breach": 1}
    assert "Не отправлено: 27" in bodies["staff.alert.sla_reminder"]
    assert "Held back: 27" in admin_bodies["staff.alert.sla_breach"] and client in admin_bodies[
        "staff.alert.sla_breach"]
    # The single alerts did not grow meanwhile, and another tick owes nothing more.
    run.advance(minutes=5)
    assert _kinds(desk, desk.manager)[:2] == (manager, manager_digests)
    assert _kinds(desk, desk.admin)[:2] == (admin, admin_digests)
    # The client's acknowledgements are promises to the client: never capped.
    assert len(desk.inbox(client)) == 30
    assert NoticeWindow.select().where(NoticeWindow.digest_at.is_null(), NoticeWindow.held > 0).count() == 0


def test_dead_acks_to_one_client_give_capped_undeliverable_alerts_then_a_digest(desk):
    """A client address that refuses mail (550) and 8 tasks from it: 8 dead acks, but 3
    "Undeliverable" alerts to the admin in the hour and one digest for the other 5 (docs/reliability.md case 43)."""
    client = desk.add_client("dead")
    desk.sink.reject_recipient(client)
    run = Clocked(desk)
    for i in range(8):
        desk.deliver(client_mail(client, desk.support, f"Задача {i}", f"Текст {i}"))
    run.cycle()
    assert Outbox.select().where(Outbox.kind == "client.notice.ack", Outbox.status == "dead").count() == 8
    assert _kinds(desk, desk.admin)[0]["staff.alert.undeliverable"] == 3
    run.advance(hours=1, minutes=1)
    single, digests, bodies = _kinds(desk, desk.admin)
    assert single["staff.alert.undeliverable"] == 3 and digests["staff.alert.undeliverable"] == 1
    body = bodies["staff.alert.undeliverable"]
    assert "Held back: 5" in body and "client.notice.ack" in body and "outbox list --status dead" in body
