"""Bounces in the store: the outbox row a DSN names, marking it, and what `client show` lists."""

from __future__ import annotations

from datetime import datetime

import peewee

from daemon.core.bounces import SentMail
from daemon.core.effects import MarkBounced
from store.db import from_db, to_db
from store.models import Bounce, ClientAddress, Outbox, Ticket
from store.queries import client_by_address, client_ref, ticket_by_id, ticket_ref


def _hard_counts(addresses: list[str]) -> dict[str, int]:
    if not addresses:
        return {}
    return dict(Bounce.select(Bounce.address, peewee.fn.COUNT(Bounce.id))
                .where(Bounce.address.in_(addresses), Bounce.hard == True)  # noqa: E712 - peewee SQL
                .group_by(Bounce.address).tuples())


def sent_mail(outbox_id: int) -> SentMail | None:
    """The outbox row a verified DSN names, with its ticket, client and the recipients' hard bounces."""
    row = Outbox.get_or_none(Outbox.id == outbox_id)
    if row is None:
        return None
    recipients = tuple(r for r in row.recipients.split("\n") if r)
    if not recipients:
        return None
    ticket = ticket_by_id(row.ticket_id) if row.ticket_id else None
    client = ticket.client if ticket is not None else client_by_address(recipients[0])
    return SentMail(
        outbox_id=row.id, kind=row.kind, recipients=recipients, created_at=from_db(row.created_at),
        bounced=Bounce.select().where(Bounce.outbox == row.id).exists(),
        ticket=ticket_ref(ticket) if ticket is not None else None,
        client=client_ref(client) if client is not None else None,
        hard_bounces=tuple(_hard_counts(list(recipients)).items()))


def mark_bounced(effect: MarkBounced, now: datetime) -> None:
    """In the apply transaction: the row is bounced (never sent again), the bounce kept."""
    # A row our relay refused stays `dead` (outbox list --status dead); a DSN'd one is `bounced`.
    (Outbox.update(status="bounced", last_error=f"bounced: {effect.status} {effect.diagnostic}".strip()[:500])
     .where(Outbox.id == effect.outbox_id, Outbox.status != "dead").execute())
    Bounce.insert(outbox=effect.outbox_id, address=effect.address, hard=effect.hard, status=effect.status[:16],
                  diagnostic=effect.diagnostic, at=to_db(now)).on_conflict_ignore().execute()
    if effect.mark_address:
        (ClientAddress.update(undeliverable_since=to_db(now))
         .where(ClientAddress.email == effect.address, ClientAddress.undeliverable_since.is_null()).execute())


def bounces_of(addresses: list[str]) -> list[dict[str, object]]:
    """Per address of a client: hard bounces, the last one, and since when it is marked undeliverable."""
    marked = dict(ClientAddress.select(ClientAddress.email, ClientAddress.undeliverable_since)
                  .where(ClientAddress.email.in_(addresses)).tuples()) if addresses else {}
    hard = _hard_counts(addresses)
    found = []
    for address in addresses:
        last = Bounce.select().where(Bounce.address == address).order_by(Bounce.id.desc()).first()
        if last is None and not marked.get(address):
            continue
        sent = Outbox.get_by_id(last.outbox_id) if last is not None else None
        ticket = Ticket.get_or_none(Ticket.id == sent.ticket_id) if sent is not None and sent.ticket_id else None
        found.append({
            "address": address, "hard_bounces": hard.get(address, 0),
            "undeliverable_since": from_db(marked.get(address)),
            "last": None if last is None else {
                "at": from_db(last.at), "status": last.status, "diagnostic": last.diagnostic,
                "kind": sent.kind if sent else "", "ticket": ticket.key if ticket else None},
        })
    return found
