"""The rows the SLA and billing reports are computed from."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from store.billing import deposit_of
from store.db import to_db
from store.models import Client, Event, Invoice, Ticket


def _in_range(query, field, start: datetime | None, end: datetime | None):
    if start is not None:
        query = query.where(field >= to_db(start))
    if end is not None:
        query = query.where(field < to_db(end))
    return query


def tickets_created(start: datetime | None, end: datetime | None) -> list[Ticket]:
    """Tickets created in [start, end); an open end is unbounded."""
    return list(_in_range(Ticket.select(), Ticket.created_at, start, end))


def events_between(start: datetime | None, end: datetime | None) -> list[Event]:
    """Ticket events in [start, end), each with its ticket joined in."""
    return list(_in_range(Event.select(Event, Ticket).join(Ticket), Event.at, start, end))


def money_by_client() -> list[tuple[Client, Decimal, list[Invoice]]]:
    """Every client with its deposit and its open invoices."""
    return [(client, deposit_of(client),
             list(Invoice.select().where(Invoice.client == client, Invoice.status == "open")))
            for client in Client.select()]
