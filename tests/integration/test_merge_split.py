"""#merge and #split that hold, and a question asked of a ticket in work, through Dovecot and SMTP.

A merge: the merged ticket's mail, tokens and Message-IDs lead to the target, so a
client's follow-up and a manager's answer on the old thread both land there, and the
client is told once. A split: the new ticket has its own clock and timers, the old one
no false breach. `ticket show` of each is printed with -s for a person to read.
"""

from __future__ import annotations

from store.models import Message, Ticket, Timer
from tests.integration.deskrig import client_mail, reply_to
from tests.integration.test_staff_answers import show


def text_of(mail) -> str:
    return mail.get_body(("plain",)).get_content()


def token_of(mail) -> str:
    return str(mail["Reply-To"].addresses[0].addr_spec)


def test_merge_holds_for_later_mail_on_either_thread(desk):
    client = desk.add_client()
    ack1, n1 = desk.new_task(client, "Билеты в театр", "Два билета на субботу")
    ack2, n2 = desk.new_task(client, "Ещё про театр", "Лучше партер")
    desk.answer(n2, desk.manager, "#merge OA-1\nЭто та же задача.")
    merged, target = Ticket.get(Ticket.key == "OA-2"), Ticket.get(Ticket.key == "OA-1")
    assert merged.status == "merged" and merged.merged_into == "OA-1"
    assert not Message.select().where(Message.ticket == merged, Message.direction.in_(("in", "staff"))).exists()
    told = [m for m in desk.inbox(client) if "объединены" in m["Subject"]]
    assert len(told) == 1 and told[0]["Subject"].startswith("[OA-1]")
    assert "OA-2" in text_of(told[0]) and token_of(told[0]) == token_of(ack1)

    # The client answers on the old thread (its token and Message-ID): the mail joins OA-1.
    desk.deliver(client_mail(client, token_of(ack2), "Re: " + ack2["Subject"], "И программку, пожалуйста",
                             in_reply_to=ack2["Message-ID"]))
    desk.run_once()
    (follow_up,) = Message.select().where(Message.text.contains("программку"))
    assert follow_up.ticket_id == target.id
    assert Ticket.get(Ticket.key == "OA-2").status == "merged"
    assert "[OA-1]" in desk.latest(desk.manager)["Subject"]

    # The manager answers the old ticket's notification: applied to OA-1, not refused.
    desk.answer(n2, desk.manager, "Партер выкуплен, программка будет.")
    answer = desk.latest(client)
    assert text_of(answer).startswith("Партер выкуплен") and answer["Subject"].startswith("[OA-1]")
    assert token_of(answer) == token_of(ack1)
    assert "не применены" not in desk.latest(desk.manager)["Subject"]
    assert len([m for m in desk.inbox(client) if "объединены" in m["Subject"]]) == 1
    shown = show("OA-1")
    assert "OA-2 \"Ещё про театр\" was merged into this ticket" in shown and "Партер выкуплен" in shown
    print(shown, show("OA-2"), sep="\n\n")


def test_split_gives_the_new_ticket_its_clock_and_the_old_one_no_false_breach(desk):
    client = desk.add_client()
    ack, notice = desk.new_task(client, "Билеты в театр", "Два билета на субботу")
    desk.answer(notice, desk.manager, "#accept\nБерём.")
    assert Ticket.get().first_response_due is None
    for text in ("И ещё: закажите такси на субботу", "Такси к 18:30, к театру"):
        desk.deliver(client_mail(client, token_of(ack), "Re: " + ack["Subject"], text, in_reply_to=ack["Message-ID"]))
        desk.run_once()
    about_taxi = [m for m in desk.inbox(desk.manager) if "такси" in text_of(m)][0]
    old = Ticket.get(Ticket.key == "OA-1")
    assert old.first_response_due is not None  # the taxi mails started the clock again
    desk.answer(about_taxi, desk.manager, "#split Такси на субботу")

    new, old = Ticket.get(Ticket.key == "OA-2"), Ticket.get(Ticket.key == "OA-1")
    moved = [m.text for m in new.messages.order_by(Message.id) if m.direction == "in"]
    assert len(moved) == 2 and "такси" in moved[0] and "18:30" in moved[1]
    # Its clock runs from the first moved mail's arrival (the mailbox's INTERNALDATE, to the second).
    first_stored = min(m.created_at for m in new.messages if m.direction == "in")
    assert new.response_started_at.replace(microsecond=0) <= first_stored
    assert new.first_response_due > first_stored
    assert {t.kind for t in Timer.select().where(Timer.ticket == new, Timer.fired_at.is_null())} \
        >= {"sla-breach"}
    # The old ticket keeps only its answered mail: no clock, no SLA timer, so no false breach.
    assert old.first_response_due is None and old.status == "accepted"
    assert not Timer.select().where(Timer.ticket == old, Timer.kind.startswith("sla"),
                                    Timer.fired_at.is_null()).exists()
    assert any(m["Subject"].startswith("[OA-2]") for m in desk.inbox(client))
    # The client writes on the new ticket's thread and the manager answers there: its clock stops.
    new_ack = [m for m in desk.inbox(client) if m["Subject"].startswith("[OA-2]")][0]
    desk.deliver(client_mail(client, token_of(new_ack), "Re: " + new_ack["Subject"], "Спасибо!",
                             in_reply_to=new_ack["Message-ID"]))
    desk.run_once()
    desk.answer(desk.latest(desk.manager), desk.manager, "Такси заказано.")
    assert desk.latest(client)["Subject"].startswith("[OA-2]")
    assert Ticket.get(Ticket.key == "OA-2").first_response_due is None
    shown = show("OA-2")
    assert "split from OA-1" in shown and "client mail 2" in shown
    print(show("OA-1"), shown, sep="\n\n")


def test_accept_and_ask_in_one_mail_then_the_answer_returns_the_ticket_to_work(desk):
    client = desk.add_client()
    _, notice = desk.new_task(client)
    desk.answer(notice, desk.manager, "#ask\n#accept 2026-12-20 12:00\nНа какое время?")
    ticket = Ticket.get()
    assert ticket.status == "waiting" and ticket.due_at is not None
    question = desk.latest(client)
    desk.deliver(client_mail(client, token_of(question), "Re: " + question["Subject"], "На 19:00",
                             in_reply_to=question["Message-ID"]))
    desk.run_once()
    ticket = Ticket.get()
    assert ticket.status == "accepted"
    assert Timer.select().where(Timer.ticket == ticket, Timer.kind.startswith("due"),
                                Timer.fired_at.is_null()).exists()


def test_assign_body_is_recorded(desk):
    client = desk.add_client()
    _, notice = desk.new_task(client)
    desk.deliver(reply_to(notice, desk.manager, f"#assign {desk.assistant}\nПётр, позвони в кассу до 18:00"))
    desk.run_once()
    (note,) = Message.select().where(Message.direction == "note")
    assert "позвони в кассу" in note.text
