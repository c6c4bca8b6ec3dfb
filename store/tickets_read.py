"""Tickets as the CLI lists, shows and exports them: read-only, every row fetched here."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import peewee

from parsers.addresses import normalize
from store.db import to_db
from store.models import AttachmentMeta, Client, Event, Message, Outbox, Ticket
from store.queries import ticket_by_key

# A ticket in one of these states is no longer due.
CLOSED_STATUSES = ("done", "cancelled", "rejected", "merged", "closed")


@dataclass(frozen=True)
class Timeline:
    """One ticket with everything its timeline shows, read in one go."""

    ticket: Ticket
    client: Client
    messages: list[Message]
    attachments: dict[int, list[AttachmentMeta]]
    events: list[Event]
    outbox: list[Outbox]


def tickets_matching(*, status: str | None = None, client: str | None = None, limit: int = 100,
                     breached: bool = False, due_before: datetime | None = None) -> list[Ticket]:
    """Newest first, with each ticket's client joined in."""
    query = Ticket.select(Ticket, Client).join(Client).order_by(Ticket.number.desc()).limit(limit)
    if status:
        query = query.where(Ticket.status == status)
    if breached:
        query = query.where(Ticket.breached_at.is_null(False))
    if due_before is not None:
        query = query.where(Ticket.due_at < to_db(due_before), Ticket.status.not_in(CLOSED_STATUSES))
    if client:
        query = query.where(Client.email == normalize(client))
    return list(query)


def inbound_counts() -> dict[int, int]:
    """Ticket id -> how many mails the client sent on it."""
    return dict(Message.select(Message.ticket, peewee.fn.COUNT(Message.id))
                .where(Message.direction == "in").group_by(Message.ticket).tuples())


def ticket_with_key(key: str) -> Ticket | None:
    return ticket_by_key(key)


def all_tickets() -> list[Ticket]:
    return list(Ticket.select().order_by(Ticket.number))


def _attachments_of(message_ids: Iterable[int]) -> dict[int, list[AttachmentMeta]]:
    found: dict[int, list[AttachmentMeta]] = {}
    ids = list(message_ids)
    if ids:
        for a in AttachmentMeta.select().where(AttachmentMeta.message.in_(ids)).order_by(AttachmentMeta.id):
            found.setdefault(a.message_id, []).append(a)
    return found


def timeline_of(ticket: Ticket) -> Timeline:
    messages = list(Message.select().where(Message.ticket == ticket).order_by(Message.created_at, Message.id))
    return Timeline(
        ticket=ticket,
        client=Client.get_by_id(ticket.client_id),
        messages=messages,
        attachments=_attachments_of(m.id for m in messages),
        events=list(Event.select().where(Event.ticket == ticket).order_by(Event.at, Event.id)),
        outbox=list(Outbox.select().where(Outbox.ticket == ticket).order_by(Outbox.id)),
    )
