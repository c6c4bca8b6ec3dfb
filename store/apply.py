"""apply(): one transaction writes the ticket change, the timeline and the outbox rows.

A notice is rendered inside the transaction (the ticket key is allocated here),
so a template or encoding failure rolls back the ticket change with it
(RELIABILITY test 14): no ticket state without its notice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import peewee

from daemon.model import Decision, InboundMail, Notice, OutboundMail
from parsers.subjects import normalize_subject
from store.db import database, to_db
from store.models import (
    AttachmentMeta,
    AutoReplyLog,
    Client,
    Counter,
    Event,
    Message,
    Outbox,
    SpoolEntry,
    Ticket,
)

Renderer = Callable[[Notice, Ticket | None, InboundMail | None], OutboundMail]


class AlreadyIngested(Exception):
    """A concurrent writer stored the same mail first; the caller records a duplicate."""


def next_number(name: str) -> int:
    """Gapless counter: the row is locked by the UPDATE until the transaction ends."""
    updated = Counter.update(value=Counter.value + 1).where(Counter.name == name).execute()
    if not updated:
        try:
            with database.atomic():
                Counter.create(name=name, value=1)
            return 1
        except peewee.IntegrityError:
            Counter.update(value=Counter.value + 1).where(Counter.name == name).execute()
    return Counter.get_by_id(name).value


def create_ticket(client: Client, subject: str, prefix: str, now: datetime,
                  first_response_due: datetime | None) -> Ticket:
    number = next_number("ticket")
    return Ticket.create(
        number=number, key=f"{prefix}-{number}", client=client, subject=subject,
        subject_norm=normalize_subject(subject, prefix), status="new",
        manager_email=client.manager_email, created_at=to_db(now), updated_at=to_db(now),
        first_response_due=to_db(first_response_due),
    )


def enqueue(mail: OutboundMail, now: datetime) -> Outbox:
    return Outbox.create(
        message_id=mail.message_id, ticket=mail.ticket_id, kind=mail.kind,
        envelope_from=mail.envelope_from, recipients="\n".join(mail.recipients), raw=mail.raw,
        status="pending", next_attempt_at=to_db(now), created_at=to_db(now),
    )


def record_outgoing(ticket: Ticket | None, mail: OutboundMail, subject: str, now: datetime) -> None:
    """Our own mails join the timeline, so replies to them thread by In-Reply-To."""
    if ticket is None:
        return
    Message.create(ticket=ticket, direction="out", kind=mail.kind, message_id=mail.message_id,
                   sender=mail.envelope_from, recipients="\n".join(mail.recipients),
                   subject=subject, created_at=to_db(now))


@dataclass(frozen=True)
class Applied:
    outcome: str
    ticket_key: str | None
    outbox_ids: tuple[int, ...]


def apply(decision: Decision, mail: InboundMail, entry_id: int, *, dedupe_key: str,
          stored_text: str, prefix: str, now: datetime, render: Renderer) -> Applied:
    """Write everything the decision says, and mark the spool entry done, atomically."""
    with database.atomic():
        ticket: Ticket | None = None
        route = decision.route
        if decision.create_ticket:
            client = Client.get_by_id(route.client.id)
            ticket = create_ticket(client, mail.subject, prefix, now, decision.first_response_due)
        elif route.ticket is not None:
            ticket = Ticket.get_by_id(route.ticket.id)
            ticket.updated_at = to_db(now)
            ticket.save()
        if decision.record_message and ticket is not None:
            try:
                with database.atomic():
                    message = Message.create(
                        ticket=ticket, direction="in", kind="mail", dedupe_key=dedupe_key,
                        message_id=mail.message_id, sender=mail.from_addr,
                        recipients="\n".join(mail.recipients), subject=mail.subject,
                        text=stored_text, spool=entry_id, created_at=to_db(now))
            except peewee.IntegrityError:
                raise AlreadyIngested(dedupe_key) from None
            for att in mail.attachments:
                AttachmentMeta.create(message=message, filename=att.filename[:255],
                                      content_type=att.content_type[:255], size=att.size,
                                      sha256=att.sha256)
        for kind, detail in decision.events:
            Event.create(ticket=ticket, at=to_db(now), kind=kind, detail=detail)
        outbox_ids = []
        for notice in decision.notices:
            out = render(notice, ticket, mail)
            row = enqueue(out, now)
            outbox_ids.append(row.id)
            record_outgoing(ticket, out, notice.template, now)
            if notice.autoreply:
                for address in notice.to:
                    AutoReplyLog.create(address=address, kind=_autoreply_kind(notice), sent_at=to_db(now))
        (SpoolEntry.update(state="done" if ticket else "ignored", outcome=decision.outcome,
                           ticket=ticket, processed_at=to_db(now), message_id=mail.message_id,
                           sender=mail.from_addr)
         .where(SpoolEntry.id == entry_id).execute())
    return Applied(decision.outcome, ticket.key if ticket else None, tuple(outbox_ids))


def _autoreply_kind(notice: Notice) -> str:
    return {"client.notice.ack": "ack", "unknown.notice.join": "join"}.get(notice.template, notice.template)
