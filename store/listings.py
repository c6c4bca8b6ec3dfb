"""What the CLI lists besides clients and tickets: outgoing mail, quarantine, invoices."""

from __future__ import annotations

import peewee

from parsers.addresses import normalize
from store.models import Client, Invoice, Outbox, SpoolEntry, Ticket


def outgoing_mail(*, status: str | None = None, limit: int = 100) -> list[Outbox]:
    """Newest first; each row's ticket (if any) joined in, so its key costs no query."""
    query = (Outbox.select(Outbox, Ticket).join(Ticket, peewee.JOIN.LEFT_OUTER)
             .order_by(Outbox.id.desc()).limit(limit))
    if status:
        query = query.where(Outbox.status == status)
    return list(query)


def quarantined_entry(entry_id: int) -> SpoolEntry | None:
    """The spool entry, if it is in quarantine (its raw bytes: store.spool.raw_of)."""
    entry = SpoolEntry.get_or_none(SpoolEntry.id == entry_id)
    return entry if entry is not None and entry.state == "quarantined" else None


def invoices_matching(*, client: str | None = None, status: str | None = None) -> list[Invoice]:
    """Newest first, with each invoice's client joined in."""
    query = Invoice.select(Invoice, Client).join(Client).order_by(Invoice.id.desc())
    if client:
        query = query.where(Client.email == normalize(client))
    if status:
        query = query.where(Invoice.status == status)
    return list(query)
