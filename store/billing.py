"""Quota counts, the deposit ledger and invoices in the store.

Sums are computed from append-only rows (LedgerEntry, QuotaUse) inside the
caller's transaction; invoice numbers come from a per-year Counter row that
is incremented in the same transaction as the invoice, so they have no gaps
and never repeat.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal

import peewee

from daemon.core.billing import ZERO, invoice_number, money
from daemon.core.model import BillingView, InvoiceSpec, IssuedInvoice
from daemon.core.quota import next_period, period_of
from store import prepared
from store.apply_counters import next_number
from store.db import from_db, to_db
from store.models import Client, Invoice, LedgerEntry, QuotaUse, Ticket


def _deposit(client_id):
    return LedgerEntry.select(peewee.fn.SUM(LedgerEntry.amount)).where(LedgerEntry.client == client_id)


def _quota_used(client_id, period_start):
    return QuotaUse.select(peewee.fn.COUNT(QuotaUse.id)).where(
        QuotaUse.client == client_id, QuotaUse.period_start == period_start, QuotaUse.released_at.is_null())


def _id_of(client: Client | int) -> int:
    return client.id if isinstance(client, Client) else client


def deposit_of(client: Client | int) -> Decimal:
    total = prepared.scalar(_deposit, _id_of(client))
    return money(Decimal(str(total))) if total is not None else ZERO


def quota_used(client: Client | int, period_start: datetime) -> int:
    return prepared.scalar(_quota_used, _id_of(client), to_db(period_start))


def counted_period(ticket_id: int) -> datetime | None:
    """The quota period the ticket is counted in now, if any."""
    row = (QuotaUse.select(QuotaUse.period_start)
           .where(QuotaUse.ticket == ticket_id, QuotaUse.released_at.is_null()).first())
    return from_db(row.period_start) if row is not None else None


def billing_view(ticket: Ticket, tariff, tz, now: datetime) -> BillingView:
    client = ticket.client
    this, nxt = period_of(now, tariff.quota_period, tz), next_period(now, tariff.quota_period, tz)
    expenses = tuple((-Decimal(str(e.amount)), e.note.split(": ", 1)[-1])
                     for e in LedgerEntry.select().where(LedgerEntry.ticket == ticket, LedgerEntry.kind == "expense")
                     .order_by(LedgerEntry.id))
    counted = QuotaUse.select().where(QuotaUse.ticket == ticket, QuotaUse.released_at.is_null()).exists()
    return BillingView(
        quota=tariff.quota, used_this=quota_used(client, this[0]), used_next=quota_used(client, nxt[0]),
        this_period=this, next_period=nxt, deposit=deposit_of(client), currency=tariff.currency,
        tariff_name=tariff.name, tariff_price=money(tariff.price),
        deposit_pays_tariff=bool(client.deposit_pays_tariff), ticket_counted=counted, expenses=expenses,
    )


def count_quota(ticket: Ticket, period_start: datetime, forced: bool, now: datetime) -> None:
    QuotaUse.create(client=ticket.client_id, ticket=ticket, period_start=to_db(period_start),
                    counted_at=to_db(now), forced=forced)


def release_quota(ticket: Ticket, now: datetime) -> int:
    return (QuotaUse.update(released_at=to_db(now))
            .where(QuotaUse.ticket == ticket, QuotaUse.released_at.is_null()).execute())


def add_ledger(client: Client | int, kind: str, amount: Decimal, note: str, now: datetime,
               ticket: Ticket | None = None, invoice: Invoice | None = None) -> LedgerEntry:
    return LedgerEntry.create(client=client, kind=kind, amount=money(amount), at=to_db(now), note=note[:500],
                              ticket=ticket, invoice=invoice)


def issue_invoice(client: Client, spec: InvoiceSpec, currency: str, now: datetime, due: datetime,
                  ticket: Ticket | None = None) -> Invoice:
    """Number and store an invoice; the caller's transaction holds the counter row."""
    year = now.year
    seq = next_number(f"invoice-{year}")
    invoice = Invoice.create(
        number=invoice_number(year, seq), client=client, ticket=ticket, kind=spec.kind, amount=money(spec.amount),
        currency=currency, lines=json.dumps([[d, q, str(u), str(t)] for d, q, u, t in spec.lines],
                                            ensure_ascii=False),
        issued_at=to_db(now), due_at=to_db(due),
        period_start=to_db(spec.period[0]) if spec.period else None,
        period_end=to_db(spec.period[1]) if spec.period else None,
        status="open" if spec.amount > 0 else "paid", paid_at=None if spec.amount > 0 else to_db(now),
    )
    # The deposit that pays a renewal is spent when the invoice is issued.
    for description, _qty, _unit, total in spec.lines:
        if spec.kind == "renewal" and total < 0:
            add_ledger(client, "tariff", total, f"{invoice.number}: {description}", now, invoice=invoice)
    return invoice


def invoice_lines_of(invoice: Invoice) -> list[tuple[str, int, Decimal, Decimal]]:
    return [(d, int(q), Decimal(u), Decimal(t)) for d, q, u, t in json.loads(invoice.lines)]


def record_payment(client: Client, amount: Decimal, now: datetime, *, to_deposit: bool,
                   invoice: Invoice | None = None) -> dict:
    """A payment: against an open invoice (oldest first unless named) or onto the deposit.

    Top-up invoices and any excess go to the deposit; a renewal invoice is settled.
    Paying everything overdue lifts a suspension.
    """
    amount = money(amount)
    if amount <= 0:
        raise ValueError(f"a payment must be more than zero, not {amount}")
    settled = None
    if not to_deposit:
        if invoice is None:
            invoice = (Invoice.select().where(Invoice.client == client, Invoice.status == "open")
                       .order_by(Invoice.issued_at, Invoice.id).first())
        if invoice is not None:
            due = money(Decimal(str(invoice.amount)))
            if amount < due:
                raise ValueError(f"{amount} does not cover invoice {invoice.number} ({due}); "
                                 f"record it with --deposit or pay the full amount")
            invoice.status, invoice.paid_at = "paid", to_db(now)
            invoice.save()
            settled = invoice.number
            if invoice.kind != "topup":
                amount -= due
    if amount > 0:
        add_ledger(client, "payment", amount, f"payment{' for ' + settled if settled else ''}", now,
                   invoice=invoice if settled else None)
    reactivated = False
    if client.suspended_at is not None and not overdue_invoices(client, now, grace=timedelta(0)):
        client.suspended_at, client.active = None, True
        client.save()
        reactivated = True
    return {"client": client.email, "invoice": settled, "deposit": str(deposit_of(client)),
            "reactivated": reactivated}


def overdue_invoices(client: Client, now: datetime, grace: timedelta) -> list[Invoice]:
    return list(Invoice.select().where(Invoice.client == client, Invoice.status == "open",
                                       Invoice.due_at <= to_db(now - grace)))


def open_invoice(client: Client) -> Invoice | None:
    return (Invoice.select().where(Invoice.client == client, Invoice.status == "open")
            .order_by(Invoice.issued_at).first())


def issued_for_period(client: Client, period_start: datetime) -> bool:
    return Invoice.select().where(Invoice.client == client, Invoice.kind == "renewal",
                                  Invoice.period_start == to_db(period_start)).exists()



def issued(invoice: Invoice, client: Client) -> IssuedInvoice:
    """An invoice as its notice shows it, read before the transaction that mails it."""
    return IssuedInvoice(
        number=invoice.number, kind=invoice.kind, amount=Decimal(str(invoice.amount)),
        currency=invoice.currency, issued_at=from_db(invoice.issued_at), due_at=from_db(invoice.due_at),
        lines=tuple(invoice_lines_of(invoice)), client_name=client.name, client_email=client.email)


def invoice_by_id(invoice_id: int) -> Invoice:
    """One invoice with its client (its mail and PDF name the client)."""
    return Invoice.select(Invoice, Client).join(Client).where(Invoice.id == invoice_id).get()


def open_invoice_by_number(client: Client, number: str) -> Invoice | None:
    """The client's invoice `number` while it is still open, else None."""
    return Invoice.get_or_none(Invoice.number == number, Invoice.client == client, Invoice.status == "open")


def active_clients() -> list[Client]:
    return list(Client.select().where(Client.active == True))  # noqa: E712 - SQL, not Python


def invoices_to_remind(now: datetime) -> list[Invoice]:
    """Open invoices due by `now` that had no reminder yet, with their clients."""
    return list(Invoice.select(Invoice, Client).join(Client)
                .where(Invoice.status == "open", Invoice.due_at <= to_db(now), Invoice.reminded_at.is_null()))


def mark_reminded(invoice_id: int, now: datetime) -> bool:
    """Stamp the reminder; False when another pass already sent it."""
    return bool(Invoice.update(reminded_at=to_db(now))
                .where(Invoice.id == invoice_id, Invoice.reminded_at.is_null()).execute())


def unpaid_past(cutoff: datetime) -> list[Invoice]:
    """Open invoices due before `cutoff` whose client is not suspended yet, with their clients."""
    return list(Invoice.select(Invoice, Client).join(Client)
                .where(Invoice.status == "open", Invoice.due_at <= to_db(cutoff),
                       Client.suspended_at.is_null()))


def suspend(client: Client, now: datetime) -> bool:
    """Suspend a client not suspended yet; False when it already was (two overdue invoices,
    or another daemon)."""
    client.active, client.suspended_at = False, to_db(now)
    return bool(Client.update(active=False, suspended_at=to_db(now))
                .where(Client.id == client.id, Client.suspended_at.is_null()).execute())


def latest_paid_renewal_end(client: Client) -> datetime | None:
    """The end (exclusive) of the latest period a paid renewal invoice covered, if any."""
    value = (Invoice.select(peewee.fn.MAX(Invoice.period_end))
             .where(Invoice.client == client, Invoice.kind == "renewal", Invoice.status == "paid").scalar())
    return from_db(value)
