"""Retention through the daemon's scheduler pass (issue 13): raw mail of closed tickets goes
after raw_mail_days, the tickets after ticket_days; open tickets and invoices stay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from daemon.clock import FrozenClock
from daemon.service import Service
from store import queries, spool, tickets_read
from store.models import Invoice, Outbox, OutboxBody, SpoolEntry
from tests.integration.deskrig import client_mail


def raw_left(ticket_id: int) -> tuple[int, int]:
    entries = [e.id for e in SpoolEntry.select().where(SpoolEntry.ticket == ticket_id)]
    outbox = [o.id for o in Outbox.select().where(Outbox.ticket == ticket_id)]
    return (sum(1 for e in entries if spool.raw_of(e)),
            OutboxBody.select().where(OutboxBody.outbox.in_(outbox)).count())


def test_raw_mail_then_tickets_are_purged_by_the_scheduler(desk):
    client = desk.add_client()
    _, notice = desk.new_task(client, "Закрытая задача", "Текст закрытой задачи")
    desk.answer(notice, desk.manager, "#done\nГотово")
    desk.new_task(client, "Открытая задача", "Текст открытой задачи")
    stranger = desk.new_user("stranger")
    desk.deliver(client_mail(stranger, desk.support, "Кто вы?", "Хочу подключиться"))
    desk.run_once()
    assert desk.run_process("invoice", "issue", client).returncode == 0
    closed, opened = sorted(tickets_read.all_tickets(), key=lambda t: t.number)
    assert queries.ticket_by_id(closed.id).status == "done" and opened.closed_at is None
    assert raw_left(closed.id)[0] >= 2 and raw_left(closed.id)[1] >= 2
    text_before = [m.text for m in tickets_read.timeline_of(closed).messages]

    now = datetime.now(UTC)
    assert Service(desk.settings, FrozenClock(now + timedelta(days=10))).retention() == {}
    assert Service(desk.settings, FrozenClock(now + timedelta(days=179))).retention() == {}

    purged = Service(desk.settings, FrozenClock(now + timedelta(days=181))).retention()
    assert purged["raw_spool"] >= 3 and purged["raw_outbox"] >= 3  # the stranger's mail and reply too
    assert raw_left(closed.id) == (0, 0)
    assert raw_left(opened.id)[0] == 1 and raw_left(opened.id)[1] >= 1
    # The ticket reads as before: its stored text is metadata, kept until ticket_days.
    assert [m.text for m in tickets_read.timeline_of(queries.ticket_by_id(closed.id)).messages] == text_before
    assert any("Текст закрытой задачи" in t for t in text_before)

    gone = Service(desk.settings, FrozenClock(now + timedelta(days=1096))).retention()
    assert gone["tickets"] == 1
    assert queries.ticket_by_key(closed.key) is None and queries.ticket_by_key(opened.key) is not None
    assert Invoice.select().count() == 1
    assert Service(desk.settings, FrozenClock(now + timedelta(days=1097))).retention() == {}
