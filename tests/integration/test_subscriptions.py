"""Subscriptions run from the client's own start date (issue 12), through Dovecot and SMTP:
`client add` records the start and the paid-until day, no invoice goes out at registration,
the renewal invoice goes out `renewal_days` before paid-until for the client's next period,
and paying it moves paid-until on. A one-off tariff (quota 1, no period) never renews."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from daemon.cli import main
from daemon.clock import FrozenClock
from daemon.config import load
from daemon.service import Service
from store.models import Invoice, Ticket

# 15 March 2027, 10:00 in Moscow.
T0 = datetime(2027, 3, 15, 7, 0, tzinfo=UTC)
ONE_OFF = """
[[tariffs]]
code = "task"
name = "Разовая задача"
price = "1500.00"
quota = 1
quota_period = "none"
billing_period = "none"
"""


def text_of(mail) -> str:
    return mail.get_body(("plain",)).get_content().replace("\r\n", "\n")


def invoices_in(desk, user: str) -> list:
    return [m for m in desk.inbox(user) if str(m["Subject"]).startswith("Счёт ")]


def cli_json(desk, clock, *argv: str, capsys) -> dict:
    capsys.readouterr()
    assert main(["--config", str(desk.config_path), "--json", *argv], clock) == 0
    return json.loads(capsys.readouterr().out)


def test_periods_run_from_the_clients_own_start_date(desk, capsys):
    desk.config_path.write_text(desk.config_path.read_text().replace("auto_renewal = false", "auto_renewal = true")
                                + ONE_OFF)
    desk.settings = load(desk.config_path)
    clock = FrozenClock(T0)
    client = desk.new_user("client")
    added = cli_json(desk, clock, "client", "add", client, "--name", "Иван Петров", "--tariff", "basis",
                     "--manager", desk.manager, capsys=capsys)
    assert added["subscription_start"] == "2027-03-15" and added["paid_until"] == "2027-04-14"
    one_off = desk.new_user("once")
    added = cli_json(desk, clock, "client", "add", one_off, "--name", "Мария", "--tariff", "task",
                     "--manager", desk.manager, capsys=capsys)
    assert added["paid_until"] is None

    service = Service(desk.settings, clock)
    service.run_once()
    assert invoices_in(desk, client) == []           # never at registration
    clock.advance(days=25, hours=2)                  # 9 April
    service.run_once()
    assert invoices_in(desk, client) == []           # 6 days before paid-until ends: not yet
    clock.advance(days=1)                            # 10 April
    service.run_once()
    (renewal,) = invoices_in(desk, client)
    body = text_of(renewal)
    assert "15.04.2027–14.05.2027" in body and "15.04.2027" in body
    (invoice,) = Invoice.select()
    assert invoice.kind == "renewal"
    service.run_once()
    assert len(invoices_in(desk, client)) == 1        # once per period

    paid = cli_json(desk, clock, "payment", "add", client, "4900", capsys=capsys)
    assert paid["invoice"] == invoice.number
    shown = cli_json(desk, clock, "client", "show", client, capsys=capsys)
    assert shown["paid_until"] == "2027-05-14"
    clock.advance(days=30)                           # 10 May
    service.run_once()
    assert "15.05.2027–14.06.2027" in text_of(invoices_in(desk, client)[-1])
    # The one-off client is never invoiced for a renewal.
    assert invoices_in(desk, one_off) == []
    assert Invoice.select().where(Invoice.kind == "renewal").count() == 2


def test_a_one_off_tariff_takes_one_task(desk):
    desk.config_path.write_text(desk.config_path.read_text() + ONE_OFF)
    desk.settings = load(desk.config_path)
    client = desk.add_client("once", tariff="task")
    _, first = desk.new_task(client, "Подарок", "Купить подарок маме")
    desk.answer(first, desk.manager, "#accept +1d")
    assert Ticket.get(Ticket.key == "OA-1").status == "accepted"
    _, second = desk.new_task(client, "Ещё подарок", "И папе")
    assert "всего: 0 из 1" in text_of([m for m in desk.inbox(client) if "OA-2" in str(m["Subject"])][0])
    desk.answer(second, desk.manager, "#accept +1d")
    assert Ticket.get(Ticket.key == "OA-2").status == "new"
    assert "лимит на этот период исчерпан (1 из 1" in text_of(desk.latest(desk.manager))
    desk.answer(second, desk.manager, "#accept next")
    assert "у тарифа клиента нет периодов" in text_of(desk.latest(desk.manager))


def test_from_a_one_off_tariff_to_a_monthly_one_the_first_invoice_goes_out_at_once(desk, capsys):
    desk.config_path.write_text(desk.config_path.read_text().replace("auto_renewal = false", "auto_renewal = true")
                                + ONE_OFF)
    desk.settings = load(desk.config_path)
    clock = FrozenClock(T0)
    client = desk.new_user("client")
    cli_json(desk, clock, "client", "add", client, "--name", "Иван", "--tariff", "task", "--manager", desk.manager,
             capsys=capsys)
    clock.advance(days=10)                                   # 25 March
    changed = cli_json(desk, clock, "client", "set", client, "--tariff", "basis", capsys=capsys)
    assert changed["subscription_start"] == "2027-03-25" and changed["paid_until"] == "2027-03-24"
    Service(desk.settings, clock).run_once()
    (invoice,) = invoices_in(desk, client)
    assert "25.03.2027–24.04.2027" in text_of(invoice)
