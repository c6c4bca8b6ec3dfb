"""The ingest runner (daemon/runners/ingest.py) on an in-memory store: spool -> ticket -> outbox, exactly once."""

from email import message_from_bytes, policy

from store import spool
from store.models import Message, Outbox, SpoolEntry, Ticket
from store.outbox import bodies_of


def mail(sender="ivan@client.test", subject="Билеты в театр", body="Купите два билета", mid="<t1@client.test>",
         extra="", cc=""):
    headers = f"From: Иван <{sender}>\r\nTo: support@desk.test\r\n"
    if cc:
        headers += f"Cc: {cc}\r\n"
    if mid:
        headers += f"Message-ID: {mid}\r\n"
    return (headers + f"Subject: {subject}\r\nDate: Fri, 27 Nov 2026 10:00:00 +0300\r\n{extra}"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\n" + body + "\r\n").encode()


def outgoing(audience="client."):
    """Outgoing mail for one audience (clients by default; staff notifications are separate)."""
    rows = Outbox.select().where(Outbox.kind.startswith(audience)).order_by(Outbox.id)
    raw = bodies_of([o.id for o in rows])
    return [message_from_bytes(raw[o.id], policy=policy.default) for o in rows]


def test_new_task_creates_ticket_and_ack(desk):
    desk.client("ivan@client.test")
    assert desk.deliver(mail()) == "new-ticket"
    ticket = Ticket.get()
    assert ticket.key == "OA-1" and ticket.status == "new"
    (ack,) = outgoing()
    assert ack["To"] == "ivan@client.test"
    assert ack["Subject"] == "[OA-1] Билеты в театр"
    assert ack["In-Reply-To"] == "<t1@client.test>"
    assert ack["Auto-Submitted"] == "auto-replied"
    assert ack["Reply-To"].lower().startswith("support+oa-1.")
    assert "Анна" in str(ack["From"])
    assert "Анна" in ack.get_body(("plain",)).get_content()
    assert SpoolEntry.get().state == "done"


def test_reply_joins_ticket_without_second_ack(desk):
    desk.client("ivan@client.test")
    desk.deliver(mail())
    (ack,) = outgoing()
    reply = mail(subject="Re: [OA-1] Билеты в театр", mid="<t2@client.test>",
                 body="Лучше в партер\r\n\r\n> Ваша задача принята", extra=f"In-Reply-To: {ack['Message-ID']}\r\n")
    assert desk.deliver(reply) == "reply"
    assert Ticket.select().count() == 1
    assert len(outgoing()) == 1
    stored = Message.select().where(Message.direction == "in").order_by(Message.id)[1]
    assert stored.text.strip() == "Лучше в партер"


def test_duplicate_delivery_one_entry(desk):
    desk.client("ivan@client.test")
    assert desk.deliver(mail()) == "new-ticket"
    assert desk.deliver(mail()) == "duplicate"
    assert Ticket.select().count() == 1 and len(outgoing()) == 1 and len(outgoing("staff.")) == 1


def test_hostile_message_id_reuse_does_not_touch_other_client(desk):
    desk.client("ivan@client.test")
    desk.client("olga@other.test", name="Ольга")
    desk.deliver(mail())
    assert desk.deliver(mail(sender="olga@other.test", subject="Своя задача")) == "new-ticket"
    assert Ticket.select().count() == 2
    assert Message.select().where(Message.direction == "in").count() == 2


def test_cc_of_other_people_gets_nothing(desk):
    desk.client("ivan@client.test")
    desk.deliver(mail(cc="olga@other.test, friend@x.test"))
    (ack,) = outgoing()
    assert ack["To"] == "ivan@client.test" and ack["Cc"] is None and ack["Bcc"] is None
    assert [o.recipients for o in Outbox.select()] == ["ivan@client.test", "anna@desk.test"]


def test_unknown_sender_join_once_per_day(desk):
    assert desk.deliver(mail(sender="who@x.test")) == "unknown-join"
    assert desk.deliver(mail(sender="who@x.test", mid="<t9@x.test>")) == "unknown-limited"
    desk.clock.advance(hours=25)
    assert desk.deliver(mail(sender="who@x.test", mid="<t10@x.test>")) == "unknown-join"
    assert Ticket.select().count() == 0


def test_header_injection_subject_is_flattened(desk):
    desk.client("ivan@client.test")
    desk.deliver(mail(subject="=?UTF-8?Q?Hello_=0ABcc:_victim@evil?="))
    (raw,) = bodies_of([o.id for o in Outbox.select().where(Outbox.kind == "client.notice.ack")]).values()
    head = raw.split(b"\r\n\r\n", 1)[0] if b"\r\n\r\n" in raw else raw.split(b"\n\n", 1)[0]
    assert b"\nBcc:" not in head and b"victim@evil" in head
    ack = message_from_bytes(raw, policy=policy.default)
    assert ack["Bcc"] is None and ack["To"] == "ivan@client.test"


def test_template_injection_is_inert(desk):
    desk.client("ivan@client.test", name="<img src=x onerror=alert(1)>")
    desk.deliver(mail(subject="{{ 7*7 }}"))
    (ack,) = outgoing()
    html = ack.get_body(("html",)).get_content()
    text = ack.get_body(("plain",)).get_content()
    assert "<img src=x" not in html and "&lt;img src=x" in html
    assert "<img src=x onerror=alert(1)>" in text  # text is not double-escaped
    assert "{{ 7*7 }}" in ack["Subject"] and "49" not in ack["Subject"]


def test_mail_without_a_sender_is_quarantined_never_dropped(desk):
    """docs/reliability.md case 41: a mail whose sender cannot be read is kept, shown and alerted, never
    filed as automatic (a client whose From we misread would never hear back)."""
    raw = b"\x00" * 10 + b"not a mail"
    assert desk.deliver(raw) == "quarantined"
    entry = SpoolEntry.get()
    assert entry.state == "quarantined" and spool.raw_of(entry.id) == raw
    assert entry.error.startswith("sender unreadable")
    (alert,) = outgoing("staff.alert")
    assert alert["To"] == "ops@desk.test"
    assert Outbox.select().count() == 1


def test_unparseable_mail_is_quarantined_with_one_alert(desk):
    desk.client("ivan@client.test")
    assert desk.deliver(b"") == "quarantined"
    entry = SpoolEntry.get()
    assert entry.state == "quarantined" and entry.attempts == 1
    alerts = outgoing("staff.alert")
    assert len(alerts) == 1 and alerts[0]["To"] == "ops@desk.test" and f"#{entry.id}" in str(alerts[0]["Subject"])
    # Processing it again does not alert again: it is no longer pending.
    assert entry.id not in spool.pending_ids()


def test_quarantine_show_gives_back_the_exact_bytes(desk):
    from store.listings import quarantined_entry

    # Nested 40 deep, past the parser's limit of 30: quarantined at once, bytes kept.
    head = b"".join(b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i) for i in range(40))
    raw = b"From: x@client.test\r\nMIME-Version: 1.0\r\n" + head + b"\r\n\xff\xfe text\r\n"
    assert desk.deliver(raw) == "quarantined"
    entry = SpoolEntry.get()
    shown = quarantined_entry(entry.id)
    assert spool.raw_of(shown.id) == raw and shown.size == len(raw)
