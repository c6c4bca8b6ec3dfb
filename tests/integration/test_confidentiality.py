"""docs/reliability.md cases 23, 24 and 26: nothing of one client's reaches another."""

from __future__ import annotations

from store.models import Message, Ticket
from tests.integration.deskrig import client_mail


def test_other_clients_subject_tag_starts_a_new_ticket(desk):
    """Case 23."""
    a = desk.add_client("a")
    b = desk.add_client("b")
    ack_a, _ = desk.new_task(a, "Секретное поручение", "Текст A")
    desk.deliver(client_mail(b, desk.support, "Re: " + ack_a["Subject"], "Текст B"))
    desk.run_once()
    assert Ticket.select().count() == 2
    ticket_a = Ticket.get(Ticket.key == "OA-1")
    assert [m.sender for m in ticket_a.messages if m.direction == "in"] == [a]
    # B got an ack of B's own new ticket and nothing of A's thread.
    (ack_b,) = desk.inbox(b)
    assert ack_b["Subject"].startswith("[OA-2]") and "Секретное" not in ack_b.as_string()


def test_foreign_in_reply_to_and_tokens_do_not_attach(desk):
    """Case 24: (a) A's Message-ID in B's In-Reply-To, (b) A's token, (c) a tampered token."""
    a = desk.add_client("a")
    b = desk.add_client("b")
    ack_a, _ = desk.new_task(a, "Поручение A", "Текст")
    token_a = str(ack_a["Reply-To"].addresses[0].addr_spec)
    local, domain = token_a.split("@")
    tampered = local[:-1] + ("a" if local[-1] != "a" else "b") + "@" + domain
    desk.deliver(client_mail(b, desk.support, "Один", "Текст", in_reply_to=ack_a["Message-ID"]))
    desk.deliver(client_mail(b, token_a, "Два", "Текст"))
    desk.deliver(client_mail(a, tampered, "Три", "Текст"))
    desk.deliver(client_mail(a, local[:-3] + "@" + domain, "Четыре", "Текст"))
    desk.run_once()
    ticket_a = Ticket.get(Ticket.key == "OA-1")
    assert [m.sender for m in ticket_a.messages if m.direction == "in"] == [a]
    assert Ticket.select().count() == 5
    for mail in desk.inbox(b):
        assert "Поручение A" not in mail.as_string()


def test_staff_notice_holds_only_this_ticket(desk):
    a = desk.add_client("a", name="Анна Клиентова")
    b = desk.add_client("b", name="Борис Клиентов")
    desk.new_task(a, "Задача A", "Текст A")
    _, notice_b = desk.new_task(b, "Задача B", "Текст B")
    raw = notice_b.as_string()
    assert "Анна Клиентова" not in raw and a not in raw and "OA-1" not in raw


def test_html_and_template_injection(desk):
    """Case 26: markup in a name and a subject is escaped in HTML and never run as a template."""
    client = desk.add_client(name="<img src=x onerror=alert(1)>")
    desk.deliver(client_mail(client, desk.support, "{{ 7*7 }} {% raw %}", "Текст", name="Evil"))
    desk.run_once()
    (ack,) = desk.inbox(client)
    html = ack.get_body(("html",)).get_content()
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "{{ 7*7 }} {% raw %}" in ack["Subject"]
    assert Message.select().count() >= 1
    notice = desk.latest(desk.manager)
    assert "{{ 7*7 }}" in notice["Subject"]


def test_manager_reply_goes_only_to_the_client(desk):
    client = desk.add_client()
    friend = desk.new_user("friend")
    desk.deliver(client_mail(client, desk.support, "Подарок", "Купите подарок", cc=friend))
    desk.run_once()
    notice = desk.latest(desk.manager)
    desk.answer(notice, desk.manager, "#done\nПодарок куплен", extra={"Cc": friend})
    assert desk.inbox(friend) == []
    assert {m.rcpt_tos for m in desk.sink.received} <= {(client,), (desk.manager,)}
