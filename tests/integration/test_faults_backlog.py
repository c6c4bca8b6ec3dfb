"""The morning after an outage (docs/reliability.md case 35): 200 mails wait, some two days
old (INTERNALDATE backdated through APPEND), from 10 clients, in no particular order.

Must hold: the backlog drains oldest first; tasks older than service.late_ack_hours get no
usual ack but one "we are back, your N tasks are with your manager" notice per client; SLA
clocks run from arrival, so the breaches are counted and reported; no more than
smtp.max_per_minute mails go to the relay in a minute.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

from daemon.service import Service
from store.models import Event, Outbox, Ticket
from tests.integration.deskrig import client_mail
from tests.integration.faultrig import reconfigure

LATE_HOURS = 4
CAP = 40


def test_a_two_day_backlog_drains_oldest_first_with_one_back_notice_per_client(desk):
    reconfigure(desk, "smtp", f"max_per_minute = {CAP}")
    settings = reconfigure(desk, "service", f"late_ack_hours = {LATE_HOURS}\nautoreply_limit_per_day = 1000")
    clients = [desk.add_client(f"c{i}") for i in range(10)]
    now = datetime.now(UTC)
    rng = random.Random(35)
    # 150 mails of the outage (2 days to 5 hours old) and 50 of this morning (under an hour).
    ages = [timedelta(hours=rng.uniform(5, 48)) for _ in range(150)] + \
        [timedelta(minutes=rng.uniform(1, 55)) for _ in range(50)]
    rng.shuffle(ages)
    mails = []
    for i, age in enumerate(ages):
        client = clients[i % len(clients)]
        mails.append((now - age, client, f"Задача {i}"))
        desk.deliver(client_mail(client, desk.support, f"Задача {i}", "Текст"), internaldate=now - age)
    service = Service(settings)
    first = service.run_once()
    # The relay got at most the minute's share; the rest waits in the outbox.
    assert 0 < len(desk.sink.received) <= CAP, first
    assert Outbox.select().where(Outbox.status == "pending").count() > 0
    # Drain the rest without the minute's wait (a fresh window each pass).
    while Outbox.select().where(Outbox.status == "pending").count():
        Service(settings).run_once()
    assert desk.intake_left() == []
    tickets = list(Ticket.select().order_by(Ticket.number))
    assert len(tickets) == 200
    # Oldest first: ticket numbers follow arrival, not the order the mails were appended.
    by_subject = {subject: arrived for arrived, _c, subject in mails}
    arrivals = [by_subject[t.subject] for t in tickets]
    assert arrivals == sorted(arrivals)
    late = {subject for arrived, _c, subject in mails if now - arrived > timedelta(hours=LATE_HOURS)}
    assert len(late) == 150
    # SLA from arrival: the first answer of a late task was due long ago.
    for ticket in tickets:
        due = ticket.first_response_due.replace(tzinfo=UTC)
        assert abs(due - (by_subject[ticket.subject] + timedelta(minutes=settings.sla.first_response_minutes))) \
            < timedelta(seconds=2), ticket.key
    # Acks only for this morning's tasks; one "we are back" per client with a late task.
    sent = desk.sink.received
    for client in clients:
        mine = [m for m in sent if client in m.rcpt_tos]
        backs = [m for m in mine if _subject(m.raw).startswith("Мы снова на связи")]
        expected_late = sum(1 for arrived, c, _s in mails if c == client and now - arrived > timedelta(hours=LATE_HOURS))
        expected_acks = sum(1 for arrived, c, _s in mails if c == client) - expected_late
        assert len(backs) == 1, [_subject(m.raw) for m in mine]
        assert f"({expected_late})" in _body(backs[0].raw)
        assert len(mine) == expected_acks + 1
    assert Event.select().where(Event.kind == "late-ack").count() == 150
    assert Event.select().where(Event.kind == "back-notice").count() == 150
    # Another pass tells nobody twice.
    before = len(desk.sink.received)
    Service(settings).run_once()
    assert len(desk.sink.received) == before
    # The breaches are counted and reported: the scheduler marks them, the SLA report shows them.
    Service(settings).tick()
    breached = Ticket.select().where(Ticket.breached_at.is_null(False)).count()
    assert breached >= 150
    report = desk.run_process("--json", "report", "sla")
    assert report.returncode == 0, report.stderr.decode()
    assert _total_breaches(json.loads(report.stdout)) == breached


def _subject(raw: bytes) -> str:
    from tests.integration.deskrig import parse_mail

    return str(parse_mail(raw)["Subject"])


def _body(raw: bytes) -> str:
    from tests.integration.deskrig import parse_mail

    return parse_mail(raw).get_body(("plain",)).get_content()


def _total_breaches(document: object) -> int:
    rows = document if isinstance(document, list) else document.get("rows", document.get("managers", []))
    total = [r for r in rows if r.get("manager") in ("total", "all", "*", "")]
    return int((total[0] if total else {"breaches": sum(int(r["breaches"]) for r in rows)})["breaches"])
