"""A client's mail becomes a ticket and is acknowledged, through real Dovecot and SMTP."""

from __future__ import annotations

import pytest

from store.models import Message, SpoolEntry, Ticket
from tests.integration.deskrig import client_mail


def acks(desk, client):
    return desk.inbox(client)


def test_new_task_is_acknowledged_in_the_clients_mailbox(desk):
    client = desk.add_client()
    desk.deliver(client_mail(client, desk.support, "Забронируйте столик", "На двоих, пятница 19:00"))
    result = desk.run_once()
    assert result["fetched"] == 1 and result["outbox_sent"] == 2  # the ack and the manager's notice
    (ack,) = desk.inbox(client)
    assert ack["Subject"] == "[OA-1] Забронируйте столик"
    assert ack["Auto-Submitted"] == "auto-replied"
    assert "Анна" in ack["From"].addresses[0].display_name
    assert ack["From"].addresses[0].addr_spec == desk.support
    reply_to = ack["Reply-To"].addresses[0].addr_spec.lower()
    assert reply_to.startswith(desk.support.split("@")[0] + "+oa-1.")
    text = ack.get_body(("plain",)).get_content()
    assert "OA-1" in text and "Анна" in text and "15 минут" in text
    assert ack["In-Reply-To"] and ack["References"]
    # The intake folder is empty; the mail sits in the processed folder.
    assert desk.intake_left() == []
    assert len(desk.dovecot.messages(desk.support, "OneAssist/Processed")) == 1


def test_english_client_gets_english_ack(desk):
    client = desk.add_client(lang="en", name="John Smith")
    desk.deliver(client_mail(client, desk.support, "Book a table", "For two", name="John Smith"))
    desk.run_once()
    (ack,) = desk.inbox(client)
    assert "will answer within 15 minutes" in ack.get_body(("plain",)).get_content()


def test_reply_joins_ticket_without_a_second_ack(desk):
    client = desk.add_client()
    first = client_mail(client, desk.support, "Билеты в театр", "Два билета на субботу")
    desk.deliver(first)
    desk.run_once()
    (ack,) = desk.inbox(client)
    # Gmail-style reply to the ack, quoting it, sent to the Reply-To token address.
    reply = client_mail(client, str(ack["Reply-To"].addresses[0].addr_spec), "Re: " + ack["Subject"],
                        "Лучше в партер.\n\nпт, 27 нояб. 2026 г. в 10:00, Анна <support@desk.test>:\n"
                        "> Ваша задача принята\n", in_reply_to=ack["Message-ID"])
    desk.deliver(reply)
    desk.run_once()
    assert Ticket.select().count() == 1
    assert len(desk.inbox(client)) == 1
    texts = [m.text for m in Message.select().where(Message.direction == "in").order_by(Message.id)]
    assert texts[1].strip() == "Лучше в партер."


def test_reply_from_program_that_drops_headers_joins_by_subject(desk):
    client = desk.add_client()
    desk.deliver(client_mail(client, desk.support, "Купить цветы", "Розы"))
    desk.run_once()
    desk.deliver(client_mail(client, desk.support, "Ответ: Купить цветы", "Белые, пожалуйста"))
    desk.run_once()
    assert Ticket.select().count() == 1
    assert Message.select().where(Message.direction == "in").count() == 2


def test_duplicate_delivery_gives_one_ticket_and_one_ack(desk):
    client = desk.add_client()
    raw = client_mail(client, desk.support, "Такси в аэропорт", "Завтра в 6:00")
    desk.deliver(raw)
    # The same mail reaches the desk twice (To and Cc both pointed at it).
    desk.deliver(b"Delivered-To: " + desk.support.encode() + b"\r\n" + raw)
    desk.run_once()
    assert Ticket.select().count() == 1
    assert Message.select().where(Message.direction == "in").count() == 1
    assert len(desk.inbox(client)) == 1
    assert sorted(e.outcome for e in SpoolEntry.select()) == ["duplicate", "new-ticket"]


@pytest.mark.parametrize("charset", ["utf-8", "windows-1251", "koi8-r"])
def test_cyrillic_in_every_charset(desk, charset):
    client = desk.add_client()
    desk.deliver(client_mail(client, desk.support, "Счёт за электричество", "Оплатите, пожалуйста, счёт",
                             charset=charset))
    desk.run_once()
    ticket = Ticket.get()
    assert ticket.subject == "Счёт за электричество"
    assert Message.get().text.strip() == "Оплатите, пожалуйста, счёт"
    (ack,) = desk.inbox(client)
    assert ack["Subject"] == "[OA-1] Счёт за электричество"


def test_unknown_sender_gets_one_join_reply_a_day_and_no_ticket(desk):
    stranger = desk.new_user("stranger")
    desk.deliver(client_mail(stranger, desk.support, "Помогите", "Нужна помощь"))
    desk.deliver(client_mail(stranger, desk.support, "Ещё раз", "Ответьте"))
    desk.run_once()
    assert Ticket.select().count() == 0
    (join,) = desk.inbox(stranger)
    assert "не зарегистрирован" in join.get_body(("plain",)).get_content()
    assert join["Auto-Submitted"] == "auto-replied"


def test_cc_of_other_people_receives_nothing(desk):
    client = desk.add_client()
    other_client = desk.add_client("other")
    friend = desk.new_user("friend")
    desk.deliver(client_mail(client, desk.support, "Подарок", "Купите подарок", cc=f"{other_client}, {friend}"))
    desk.run_once()
    assert len(desk.inbox(client)) == 1
    assert desk.inbox(other_client) == [] and desk.inbox(friend) == []
    assert sorted(m.rcpt_tos for m in desk.sink.received) == sorted([(client,), (desk.manager,)])
    ack = desk.inbox(client)[0]
    assert ack["Cc"] is None and ack["Bcc"] is None


def test_header_injection_subject_still_acked_without_extra_recipient(desk):
    client = desk.add_client()
    raw = (f"From: {client}\r\nTo: {desk.support}\r\nMessage-ID: <inj-1@client.test>\r\n"
           "Subject: =?UTF-8?Q?Hello_=0ABcc:_victim@evil.test?=\r\n"
           "Content-Type: text/plain; charset=utf-8\r\n\r\nText\r\n").encode()
    desk.deliver(raw)
    desk.run_once()
    (mail,) = [m for m in desk.sink.received if m.rcpt_tos == (client,)]
    assert all(m.rcpt_tos in ((client,), (desk.manager,)) for m in desk.sink.received)
    head = mail.raw.split(b"\r\n\r\n", 1)[0]
    assert b"\r\nBcc:" not in head and b"\nBcc:" not in head
    (ack,) = desk.inbox(client)
    assert ack["Bcc"] is None and "victim@evil.test" in ack["Subject"]


def test_someone_read_the_mailbox_first(desk):
    client = desk.add_client()
    uid = desk.deliver(client_mail(client, desk.support, "Прочитано", "Кто-то открыл письмо"))
    desk.dovecot.mark_seen(desk.support, [uid])
    desk.run_once()
    assert Ticket.select().count() == 1 and len(desk.inbox(client)) == 1


def test_html_only_mail_and_attachments(desk):
    from email.mime.application import MIMEApplication
    from email.mime.multipart import MIMEMultipart
    from email.mime.text import MIMEText

    client = desk.add_client()
    msg = MIMEMultipart("mixed")
    msg["From"] = client
    msg["To"] = desk.support
    msg["Subject"] = "=?utf-8?b?0KHQutCw0L0g0L/QsNGB0L/QvtGA0YLQsA==?="
    msg["Message-ID"] = "<html-1@client.test>"
    msg.attach(MIMEText("<html><body><p>Вот <b>скан</b> паспорта</p></body></html>", "html", "utf-8"))
    part = MIMEApplication(b"%PDF-1.4 fake" * 100, "pdf")
    part.add_header("Content-Disposition", "attachment", filename=("utf-8", "", "Паспорт скан.pdf"))
    msg.attach(part)
    desk.deliver(msg.as_bytes())
    desk.run_once()
    message = Message.get()
    assert "скан" in message.text and "<b>" not in message.text
    (att,) = list(message.attachments)
    assert att.filename == "Паспорт скан.pdf" and att.size == 1300 and att.content_type == "application/pdf"
