"""Tickets waiting in status `payment` and what they wait for (core/resume.py reads it)."""

from __future__ import annotations

from datetime import datetime

from store.db import to_db
from store.models import Event, Invoice, Ticket
from store.rows import Client


def waiting_for_payment(client: Client) -> list[Ticket]:
    """The client's tickets parked by a short deposit, oldest first."""
    return list(Ticket.select().where(Ticket.client == client, Ticket.status == "payment")
                .order_by(Ticket.number))


def events_of(ticket: Ticket, kinds: tuple[str, ...]) -> list[tuple[str, str]]:
    """(kind, detail) of the ticket's events of these kinds, in the order they happened."""
    return list(Event.select(Event.kind, Event.detail).where(Event.ticket == ticket, Event.kind.in_(kinds))
                .order_by(Event.at, Event.id).tuples())


def settle_topups(ticket: Ticket, now: datetime) -> list[str]:
    """The ticket's open top-up invoices, paid by the deposit payment that resumes it."""
    invoices = list(Invoice.select().where(Invoice.ticket == ticket, Invoice.kind == "topup",
                                           Invoice.status == "open"))
    for invoice in invoices:
        invoice.status, invoice.paid_at = "paid", to_db(now)
        invoice.save(only=[Invoice.status, Invoice.paid_at])
    return [invoice.number for invoice in invoices]
