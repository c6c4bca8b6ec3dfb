"""docs/reliability.md cases 1, 2, 5, 9, 10, 11-13 through the daemon's real path."""

from __future__ import annotations

import signal
from collections import Counter
from datetime import UTC, datetime

import pytest

from daemon.adapters.smtp import SmtpSender
from daemon.clock import FrozenClock
from daemon.faults import CHECKPOINTS
from daemon.render.notices import Notifier
from daemon.runners.outbox import OutboxWorker, recover_interrupted
from store import spool
from store.models import Message, Outbox, SpoolEntry, Ticket
from tests.integration.deskrig import client_mail, parse_mail

KILLED = -signal.SIGKILL


def ack_ids(desk, clients):
    """In-Reply-To of every acknowledgement the clients hold, with repeats."""
    return Counter(str(m["In-Reply-To"]) for c in clients for m in desk.inbox(c))


def assert_exactly_once(desk, clients, message_ids):
    inbound = [m.message_id for m in Message.select().where(Message.direction == "in")]
    assert sorted(inbound) == sorted(mid.strip("<>") for mid in message_ids)
    acks = ack_ids(desk, clients)
    statuses = Counter(o.status for o in Outbox.select())
    outcomes = Counter(e.outcome for e in SpoolEntry.select())
    assert set(acks) == set(message_ids), (statuses, len(desk.sink.received), len(acks), outcomes)
    assert desk.intake_left() == []
    assert SpoolEntry.select().where(SpoolEntry.state.in_(("quarantined", "pending"))).count() == 0
    return acks


def test_crash_mid_batch_both_kill_points(desk):
    """Case 1: 100 mails from 20 clients; kill -9 after 50 fetched, then between commit and move."""
    desk.config_path.write_text(desk.config_path.read_text().replace("fetch_batch = 100", "fetch_batch = 10"))
    clients = [desk.add_client(f"c{i}") for i in range(20)]
    ids = []
    for n in range(100):
        raw = client_mail(clients[n % 20], desk.support, f"Задача {n}", f"Текст задачи {n}")
        ids.append(parse_mail(raw)["Message-ID"])
        desk.deliver(raw)
    first = desk.run_process("run", "--once", crash_at="fetched:5")
    assert first.returncode == KILLED, first.stderr.decode()[-2000:]
    second = desk.run_process("run", "--once", crash_at="spooled:3")
    assert second.returncode == KILLED, second.stderr.decode()[-2000:]
    final = desk.run_process("run", "--once")
    assert final.returncode == 0, final.stderr.decode()[-2000:]
    acks = assert_exactly_once(desk, clients, ids)
    assert max(acks.values()) == 1
    assert Ticket.select().count() == 100


@pytest.mark.parametrize("point", CHECKPOINTS)
def test_kill_at_every_step(desk, point):
    """Case 2: one mail, kill -9 at checkpoint k, restart: one entry, one ack (two only after the 250)."""
    client = desk.add_client()
    raw = client_mail(client, desk.support, "Одна задача", "Текст")
    mid = parse_mail(raw)["Message-ID"]
    desk.deliver(raw)
    crashed = desk.run_process("run", "--once", crash_at=f"{point}:1")
    assert crashed.returncode == KILLED, crashed.stderr.decode()[-2000:]
    done = desk.run_process("run", "--once")
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    acks = assert_exactly_once(desk, [client], [mid])
    copies = desk.inbox(client)
    if point == "smtp-accepted":
        # The RFC 1047 window: the server took it, we never recorded that. Same bytes again.
        assert acks[mid] == 2
        assert copies[0]["Message-ID"] == copies[1]["Message-ID"]
        assert Outbox.get().resends == 1
    else:
        assert acks[mid] == 1


def test_uidvalidity_change_does_not_duplicate(desk):
    """Case 5: mails spooled, not moved; the folder is rebuilt with a new UIDVALIDITY."""
    clients = [desk.add_client(f"u{i}") for i in range(3)]
    ids = []
    for i, client in enumerate(clients):
        raw = client_mail(client, desk.support, f"Задача {i}", "Текст")
        ids.append(parse_mail(raw)["Message-ID"])
        desk.deliver(raw)
    crashed = desk.run_process("run", "--once", crash_at="spooled:1")
    assert crashed.returncode == KILLED
    before = desk.dovecot.uidvalidity(desk.support)
    after = desk.dovecot.reset_uidvalidity(desk.support)
    assert after != before
    desk.run_once()
    assert_exactly_once(desk, clients, ids)
    assert SpoolEntry.select().count() == 6
    assert sorted(e.outcome for e in SpoolEntry.select()).count("duplicate") == 3


def nested_bomb(sender: str, to: str, depth: int = 2000) -> bytes:
    head = f"From: {sender}\r\nTo: {to}\r\nSubject: bomb\r\nMessage-ID: <bomb@x.test>\r\nMIME-Version: 1.0\r\n"
    body = ""
    for i in range(depth):
        body += f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n'
    return (head + body + "Content-Type: text/plain\r\n\r\nx\r\n").encode()


def test_poison_mail_is_quarantined_and_the_batch_goes_on(desk):
    """Case 9: mail 3 of 10 breaks the parser; the others are processed; one admin alert."""
    clients = [desk.add_client(f"p{i}") for i in range(9)]
    ids = []
    for i in range(10):
        if i == 2:
            desk.deliver(nested_bomb(clients[0], desk.support))
            continue
        raw = client_mail(clients[i if i < 2 else i - 1], desk.support, f"Задача {i}", "Текст")
        ids.append(parse_mail(raw)["Message-ID"])
        desk.deliver(raw)
    desk.run_once()
    desk.run_once()
    assert Ticket.select().count() == 9
    (bad,) = SpoolEntry.select().where(SpoolEntry.state == "quarantined")
    assert b"bomb@x.test" in spool.raw_of(bad.id)
    alerts = desk.inbox(desk.admin)
    assert len(alerts) == 1 and f"#{bad.id}" in alerts[0]["Subject"]
    assert desk.intake_left() == []
    listing = desk.run_process("--json", "quarantine", "list")
    assert listing.returncode == 0 and f'"id": {bad.id}' in listing.stdout.decode()


def test_poison_mail_retried_three_times_then_quarantined(desk):
    """Case 9 with a fault hooked into processing: at most 3 attempts, then one alert."""
    client = desk.add_client()
    for i in range(4):
        extra = {"X-Test": "POISON-MARK"} if i == 1 else {}
        desk.deliver(client_mail(client, desk.support, f"Задача {i}", "Текст", extra=extra))
    env_run = lambda: desk.run_process("run", "--once")  # noqa: E731
    import os

    os.environ["ONEASSIST_FAIL_ON"] = "route:POISON-MARK"
    try:
        for _ in range(4):
            assert env_run().returncode == 0
    finally:
        del os.environ["ONEASSIST_FAIL_ON"]
    (bad,) = SpoolEntry.select().where(SpoolEntry.state == "quarantined")
    assert bad.attempts == 3
    assert Ticket.select().count() == 3
    assert len(desk.inbox(desk.admin)) == 1
    retried = desk.run_process("quarantine", "retry", str(bad.id))
    assert retried.returncode == 0
    desk.run_process("run", "--once")
    assert Ticket.select().count() == 4


def test_missing_duplicate_and_hostile_message_ids(desk):
    """Case 10 (a) no Message-ID, (c) another client's Message-ID, (d) an empty one mid-batch."""
    a = desk.add_client("a")
    b = desk.add_client("b")
    desk.deliver(client_mail(a, desk.support, "Задача A", "Текст A", message_id="<shared@a.test>"))
    desk.deliver(client_mail(a, desk.support, "Без идентификатора", "Текст", message_id=None))
    desk.deliver(client_mail(b, desk.support, "Empty id", "Текст").replace(b"Message-ID: <", b"Message-ID: \r\nX-Old: <"))
    desk.deliver(client_mail(b, desk.support, "Задача B", "Текст B", message_id="<shared@a.test>"))
    desk.run_once()
    assert Ticket.select().count() == 4
    a_tickets = Ticket.select().join(Ticket.client.rel_model).where(Ticket.client.rel_model.email == a)
    for ticket in a_tickets:
        assert all(m.sender == a for m in ticket.messages if m.direction == "in")
    assert len(desk.inbox(a)) == 2 and len(desk.inbox(b)) == 2


@pytest.mark.parametrize("headers", [
    {"Auto-Submitted": "auto-replied"},
    {"Auto-Submitted": "auto-generated"},
    {"Auto-Submitted": "auto-notified"},
    {"Auto-Submitted": "auto-foo; owner-email=x@y.z"},
    {"Precedence": "bulk"},
    {"Precedence": "list"},
    {"Precedence": "junk"},
    {"List-Id": "<news.example.com>"},
    {"List-Unsubscribe": "<mailto:unsub@example.com>"},
    {"X-Auto-Response-Suppress": "All"},
    {"X-Autoreply": "yes"},
])
def test_automatic_mail_gets_no_answer(desk, headers):
    """Cases 15 and 16, from a client and from a stranger."""
    client = desk.add_client()
    stranger = desk.new_user("robot")
    desk.deliver(client_mail(client, desk.support, "Out of office", "Я в отпуске", extra=headers))
    desk.deliver(client_mail(stranger, desk.support, "Newsletter", "Новости", extra=headers))
    desk.run_once()
    assert desk.sink.received == []
    assert Ticket.select().count() == 0
    assert SpoolEntry.select().where(SpoolEntry.state == "ignored").count() == 2


def test_auto_submitted_no_is_a_person(desk):
    client = desk.add_client()
    desk.deliver(client_mail(client, desk.support, "Задача", "Текст", extra={"Auto-Submitted": "no"}))
    desk.run_once()
    assert len(desk.inbox(client)) == 1


def test_out_of_office_on_a_ticket_is_recorded_without_answer(desk):
    client = desk.add_client()
    desk.deliver(client_mail(client, desk.support, "Задача", "Текст"))
    desk.run_once()
    (ack,) = desk.inbox(client)
    desk.deliver(client_mail(client, desk.support, "Автоответ: " + ack["Subject"], "Я в отпуске до понедельника",
                             in_reply_to=ack["Message-ID"], extra={"Auto-Submitted": "auto-replied"}))
    desk.run_once()
    assert Message.select().where(Message.direction == "in").count() == 2
    # The ack and the manager's notice of the new task; nothing for the out-of-office.
    assert len(desk.inbox(client)) == 1 and len(desk.sink.received) == 2


def dsn(to: str, reporting: str = "MAILER-DAEMON@mx.example.com") -> bytes:
    return (f"Return-Path: <>\r\nFrom: Mail Delivery System <{reporting}>\r\nTo: {to}\r\n"
            "Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn-1@mx.example.com>\r\n"
            "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n"
            "--B\r\nContent-Type: text/plain\r\n\r\nI'm sorry to have to inform you...\r\n"
            "--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.com\r\n\r\n"
            "Final-Recipient: rfc822; gone@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n--B--\r\n").encode()


def test_bounces_and_our_own_mail_are_dropped(desk):
    """Cases 17 and 18."""
    client = desk.add_client()
    desk.deliver(dsn(desk.support))
    own_domain = desk.support.split("@")[1]
    desk.deliver(client_mail(client, desk.support, "Looped", "x", extra={"X-Loop": desk.support}))
    desk.deliver(client_mail(desk.support, desk.support, "From ourselves", "x", name="OneAssist"))
    desk.deliver(client_mail(client, desk.support, "Our id", "x", message_id=f"<oneassist.abc123@{own_domain}>"))
    desk.run_once()
    assert desk.sink.received == []
    assert Ticket.select().count() == 0
    outcomes = sorted(e.outcome for e in SpoolEntry.select())
    assert outcomes == ["bounce", "loop", "loop", "loop"]


def _worker(desk):
    return OutboxWorker(SmtpSender(desk.settings.smtp), Notifier(desk.settings), "test-node", 4)


def test_smtp_4xx_is_retried_with_backoff(desk):
    """Case 11: 451 twice, then the server recovers."""
    client = desk.add_client()
    desk.deliver(client_mail(client, desk.support, "Задача", "Текст"))
    from daemon.service import Service

    Service(desk.settings).fetch_once()
    clock = FrozenClock(datetime.now(UTC))
    worker = _worker(desk)
    # Two rows (the ack and the manager's notice), each refused twice.
    desk.sink.fail_next(451, count=4)
    assert worker.flush(clock.now())["retry"] == 2
    assert worker.flush(clock.now()) == {}  # not due yet: backoff
    clock.advance(seconds=10)
    assert worker.flush(clock.now())["retry"] == 2
    clock.advance(seconds=30)
    assert worker.flush(clock.now())["sent"] == 2
    worker.sender.close()
    row = Outbox.get(Outbox.kind == "client.notice.ack")
    assert (row.status, row.attempts) == ("sent", 3)
    assert len(desk.inbox(client)) == 1


def test_smtp_5xx_is_dead_and_admins_are_told(desk):
    """Case 12: 550 for one client; the others are unaffected."""
    bad = desk.add_client("bad")
    good = desk.add_client("good")
    desk.sink.reject_recipient(bad)
    desk.deliver(client_mail(bad, desk.support, "Задача", "Текст"))
    desk.deliver(client_mail(good, desk.support, "Задача", "Текст"))
    desk.run_once()
    desk.run_once()
    statuses = {o.recipients: o.status for o in Outbox.select().where(Outbox.kind == "client.notice.ack")}
    assert statuses == {bad: "dead", good: "sent"}
    assert len(desk.inbox(good)) == 1
    (alert,) = desk.inbox(desk.admin)
    assert "Undeliverable" in alert["Subject"]


def test_hangup_after_final_dot_resends_same_bytes(desk):
    """Case 13: no reply after the dot; resent once with the same Message-ID, counted."""
    client = desk.add_client()
    desk.deliver(client_mail(client, desk.support, "Задача", "Текст"))
    from daemon.service import Service

    Service(desk.settings).fetch_once()
    clock = FrozenClock(datetime.now(UTC))
    worker = _worker(desk)
    desk.sink.hangup_after_data(1)
    assert worker.flush(clock.now())["retry"] == 1
    clock.advance(seconds=10)
    assert worker.flush(clock.now())["sent"] == 1
    worker.sender.close()
    # The ack and the manager's notice leave together over the pool; the hang-up takes
    # whichever reached DATA first, so the check is on "the one that was hung up on".
    by_id: dict[str, list[bytes]] = {}
    for received in desk.sink.received:
        by_id.setdefault(str(parse_mail(received.raw)["Message-ID"]), []).append(received.raw)
    (copies,) = [raws for raws in by_id.values() if len(raws) == 2]
    assert copies[0] == copies[1]
    assert [o.resends for o in Outbox.select().order_by(Outbox.id)].count(1) == 1
    assert any(r.rcpt_tos == (client,) for r in desk.sink.received)
    assert recover_interrupted() == 0
