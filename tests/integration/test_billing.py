"""Tariffs, quotas, the deposit and invoices, through Dovecot and SMTP."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime, timedelta

import pytest

from daemon.render.notices import Notifier
from daemon.runners.billing import billing_tick
from store.models import Client, Invoice, LedgerEntry, QuotaUse, Ticket
from tests.integration.deskrig import client_mail


def text_of(mail) -> str:
    return mail.get_body(("plain",)).get_content()


def pdf_text(data: bytes, tmp_path) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext is missing (apt-get install poppler-utils)")
    path = tmp_path / "invoice.pdf"
    path.write_bytes(data)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True,
                          text=True).stdout


def invoice_pdf(mail) -> bytes:
    (pdf,) = [p for p in mail.iter_attachments() if p.get_content_type() == "application/pdf"]
    return pdf.get_content()


def accept(desk, notice, body="#accept +1d"):
    desk.answer(notice, desk.manager, body)
    return desk.latest(desk.manager)


def test_quota_counts_on_accept_refuses_when_used_up_and_next_schedules(desk):
    client = desk.add_client()
    notices = []
    for n in range(4):
        ack, notice = desk.new_task(client, f"Задача {n}", "Текст")
        notices.append(notice)
    # Sending and discussing does not count: every ack still shows the full quota.
    assert "сегодня: 3 из 3" in text_of(desk.inbox(client)[0])
    for notice in notices[:3]:
        accept(desk, notice)
    assert QuotaUse.select().count() == 3
    refusal = accept(desk, notices[3])
    assert "не применены" in refusal["Subject"]
    assert "#accept next" in text_of(refusal) and "исчерпан (3 из 3)" in text_of(refusal)
    assert Ticket.get(Ticket.key == "OA-4").status == "new"
    accept(desk, notices[3], "#accept next")
    scheduled = desk.latest(client)
    assert "принята в работу" in scheduled["Subject"]
    assert "следующий период" in text_of(scheduled) and "тариф с большим лимитом" in text_of(scheduled)
    assert QuotaUse.select().count() == 4
    # The manager's next notification shows the quota used.
    desk.new_task(client, "Пятая", "Текст")
    assert "сегодня: 0 из 3" in text_of(desk.latest(desk.manager))


def test_cancel_gives_the_count_back_and_force_is_for_admins(desk):
    client = desk.add_client()
    notices = [desk.new_task(client, f"Задача {n}", "Текст")[1] for n in range(4)]
    for notice in notices[:3]:
        accept(desk, notice)
    refused = accept(desk, notices[3], "#accept force")
    assert "доступен только админу" in text_of(refused)
    desk.answer(notices[3], desk.admin, "#accept force +1d", name="Ops")
    assert Ticket.get(Ticket.key == "OA-4").status == "accepted"
    assert QuotaUse.get(QuotaUse.ticket == Ticket.get(Ticket.key == "OA-4")).forced
    desk.answer(notices[0], desk.manager, "#cancel клиент передумал")
    assert QuotaUse.select().where(QuotaUse.released_at.is_null()).count() == 3


def test_expense_from_the_deposit_and_the_completion_notice(desk):
    client = desk.add_client()
    assert desk.run_process("payment", "add", client, "5000", "--deposit").returncode == 0
    _, notice = desk.new_task(client, "Такси", "В аэропорт")
    accept(desk, notice)
    transcript = accept(desk, notice, "#expense 1 500,50 такси в аэропорт")
    assert "списано 1500.50 RUB" in text_of(transcript)
    desk.answer(notice, desk.manager, "#done\nТакси заказано, машина будет в 6:00")
    done = text_of(desk.latest(client))
    assert "такси в аэропорт — 1 500,50 ₽" in done and "Остаток депозита: 3 499,50 ₽" in done
    shown = json.loads(desk.run_process("--json", "client", "show", client).stdout)
    assert shown["deposit"] == "3499.50"
    assert [e["kind"] for e in shown["ledger"]] == ["payment", "expense"]


def test_short_deposit_sends_a_top_up_invoice_and_the_ticket_waits(desk, tmp_path):
    client = desk.add_client(name="Иван Петров")
    desk.run_process("payment", "add", client, "1000", "--deposit")
    _, notice = desk.new_task(client, "Билеты", "Два билета")
    transcript = accept(desk, notice, "#expense 1500 билеты в театр")
    assert "не хватает 500.00" in text_of(transcript)
    invoice_mail = desk.latest(client)
    assert invoice_mail["Subject"].startswith("Счёт 20")
    assert invoice_mail.get_body(("html",)) is not None
    text = pdf_text(invoice_pdf(invoice_mail), tmp_path)
    assert "Иван Петров" in text and "1 000,00 ₽" in text
    assert LedgerEntry.select().where(LedgerEntry.kind == "expense").count() == 0
    assert Ticket.get().status == "payment"


def test_invoice_issue_pdf_has_the_cyrillic_name_and_total(desk, tmp_path):
    client = desk.add_client(name="Мария Сидорова")
    made = desk.run_process("--json", "invoice", "issue", client)
    assert made.returncode == 0, made.stderr
    number = json.loads(made.stdout)["number"]
    desk.run_process("run", "--once")
    mail = desk.latest(client)
    assert number in mail["Subject"] and "4 900,00 ₽" in mail["Subject"]
    text = pdf_text(invoice_pdf(mail), tmp_path)
    assert "Мария Сидорова" in text and "4 900,00 ₽" in text and number in text


def test_deposit_pays_the_tariff_where_the_client_chose_that(desk):
    client = desk.add_client()
    desk.run_process("payment", "add", client, "3000", "--deposit")
    assert desk.run_process("client", "set", client, "--deposit-pays-tariff").returncode == 0
    made = json.loads(desk.run_process("--json", "invoice", "issue", client).stdout)
    assert made["amount"] == "1900.00"
    assert json.loads(desk.run_process("--json", "client", "show", client).stdout)["deposit"] == "0.00"


def test_unpaid_suspends_and_payment_reactivates(desk):
    client = desk.add_client()
    desk.run_process("invoice", "issue", client, "--amount", "2000")
    invoice = Invoice.get()
    notifier = Notifier(desk.settings)
    due = invoice.due_at.replace(tzinfo=UTC)
    assert billing_tick(desk.settings, notifier, due + timedelta(minutes=1))["reminder"] == 1
    assert billing_tick(desk.settings, notifier, due + timedelta(days=8))["suspended"] == 1
    assert not Client.get(Client.email == client).active
    desk.deliver(client_mail(client, desk.support, "Новая задача", "Текст"))
    desk.run_once()
    assert Ticket.select().count() == 0
    # The suspension notice and this reply leave in the same flush, in either order.
    (inactive,) = [m for m in desk.inbox(client) if "неактивна" in str(m["Subject"])]
    assert invoice.number in text_of(inactive)
    paid = json.loads(desk.run_process("--json", "payment", "add", client, "2000").stdout)
    assert paid["reactivated"] and paid["invoice"] == invoice.number
    desk.deliver(client_mail(client, desk.support, "Ещё задача", "Текст"))
    desk.run_once()
    assert Ticket.select().count() == 1


def test_bad_money_input_changes_nothing(desk):
    client = desk.add_client()
    for args, message in ((["payment", "add", client, "-100", "--deposit"], b"amount"),
                          (["payment", "add", client, "12,345.6.7", "--deposit"], b"Accepted forms"),
                          (["payment", "add", "nobody@x.test", "100"], b"no client"),
                          (["invoice", "issue", "nobody@x.test"], b"no client"),
                          (["client", "set", client, "--tariff", "gold"], b"unknown tariff")):
        done = desk.run_process(*args)
        assert done.returncode == 2 and message in done.stderr, (args, done.stderr)
    assert LedgerEntry.select().count() == 0 and Invoice.select().count() == 0


def test_report_billing(desk):
    client = desk.add_client()
    desk.run_process("payment", "add", client, "700", "--deposit")
    desk.run_process("invoice", "issue", client)
    report = json.loads(desk.run_process("--json", "report", "billing").stdout)
    (row,) = report["tariffs"]
    assert row == {"tariff": "basis", "clients": 1, "suspended": 0, "deposits": "700.00", "open_invoices": 1,
                   "open_amount": "4900.00", "overdue_invoices": 0}


def test_renewal_invoices_before_the_period_ends(desk):
    from dataclasses import replace

    client = desk.add_client()
    desk.settings = replace(desk.settings, billing=replace(desk.settings.billing, auto_renewal=True))
    notifier = Notifier(desk.settings)
    assert billing_tick(desk.settings, notifier, datetime(2026, 12, 20, 12, 0, tzinfo=UTC)) == {}
    late_month = datetime(2026, 12, 28, 12, 0, tzinfo=UTC)
    assert billing_tick(desk.settings, notifier, late_month)["renewal"] == 1
    assert billing_tick(desk.settings, notifier, late_month) == {}
    (invoice,) = Invoice.select()
    assert invoice.kind == "renewal" and invoice.client.email == client
    assert invoice.number.startswith("2026-")
