"""A ticket waiting in `payment` resumes after the top-up (issue 12), through Dovecot and SMTP:
the pending #expense is charged, the top-up invoice settled, the ticket returns to its
previous status, and the manager is told."""

from __future__ import annotations

import json
from decimal import Decimal

from store.models import Event, Invoice, LedgerEntry, Ticket, Timer


def text_of(mail) -> str:
    return mail.get_body(("plain",)).get_content().replace("\r\n", "\n")


def test_top_up_resumes_the_ticket_charges_the_expense_and_tells_the_manager(desk):
    client = desk.add_client(name="Иван Петров")
    assert desk.run_process("payment", "add", client, "1000", "--deposit").returncode == 0
    _, notice = desk.new_task(client, "Билеты", "Два билета")
    desk.answer(notice, desk.manager, "#accept +2d")
    desk.answer(notice, desk.manager, "#expense 1500 билеты в театр")
    assert Ticket.get().status == "payment"
    assert not Timer.select().where(Timer.kind == "due-warning", Timer.fired_at.is_null()).exists()
    (topup,) = Invoice.select().where(Invoice.kind == "topup")
    manager_mails = len(desk.inbox(desk.manager))

    # Too little: nothing is charged and the ticket waits on.
    small = desk.run_process("--json", "payment", "add", client, "200", "--deposit")
    assert json.loads(small.stdout)["resumed"] == []
    assert Ticket.get().status == "payment" and LedgerEntry.select().where(LedgerEntry.kind == "expense").count() == 0

    paid = desk.run_process("payment", "add", client, "800", "--deposit")
    assert paid.returncode == 0, paid.stderr
    assert "resumed OA-1 (expense charged, manager told)" in paid.stdout.decode()
    ticket = Ticket.get()
    assert ticket.status == "accepted"
    (expense,) = LedgerEntry.select().where(LedgerEntry.kind == "expense")
    assert expense.amount == Decimal("-1500.00") and expense.note == "OA-1: билеты в театр"
    assert Invoice.get_by_id(topup.id).status == "paid"
    # The due-time timers of an accepted ticket are back.
    assert Timer.select().where(Timer.kind == "due-warning", Timer.fired_at.is_null()).exists()
    assert json.loads(desk.run_process("--json", "client", "show", client).stdout)["deposit"] == "500.00"

    desk.run_process("run", "--once")
    assert len(desk.inbox(desk.manager)) == manager_mails + 1
    told = desk.latest(desk.manager)
    assert "Оплата поступила" in str(told["Subject"]) and "[OA-1]" in str(told["Subject"])
    body = text_of(told)
    assert "снова в работе (статус: в работе)" in body and "билеты в театр — 1 500,00 ₽" in body
    assert "Остаток депозита: 500,00 ₽" in body
    # A second payment resumes nothing twice.
    again = desk.run_process("--json", "payment", "add", client, "5000", "--deposit")
    assert json.loads(again.stdout)["resumed"] == []
    assert LedgerEntry.select().where(LedgerEntry.kind == "expense").count() == 1
    kinds = [e.kind for e in Event.select().where(Event.ticket == ticket).order_by(Event.id)]
    assert kinds.count("payment-resumed") == 1 and "expense-pending" in kinds
    show = desk.run_process("ticket", "show", "OA-1").stdout.decode()
    assert "* payment-resumed charged 1500.00 for билеты в театр" in show and "status payment -> accepted" in show
