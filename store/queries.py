"""Read-only snapshots for the pure core, and listings for the CLI."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import peewee

from daemon.core.model import ClientMail, ClientRef, IssuedInvoice, RouteView, ThreadInfo, TicketRef
from daemon.core.settings import Settings
from parsers.addresses import safe_lower
from parsers.mail import InboundMail
from parsers.subjects import has_reply_prefix, normalize_subject, ticket_keys_in_subject
from parsers.tokens import ticket_key_from_recipients
from store import floods, prepared
from store.db import from_db, to_db
from store.models import (
    AutoReplyLog,
    Client,
    ClientAddress,
    Message,
    SpoolEntry,
    Ticket,
)

SUBJECT_WINDOW = timedelta(days=30)


def _addresses_of(client_id):
    return (ClientAddress.select(ClientAddress.email, ClientAddress.undeliverable_since)
            .where(ClientAddress.client == client_id))


def _client_of_address(address):
    return Client.select().join(ClientAddress).where(ClientAddress.email == address)


def _client_of_id(client_id):
    return Client.select().where(Client.id == client_id)


def _message_with_key(key, limit):
    return Message.select(Message.id).where(Message.dedupe_key == key).limit(limit)


def _autoreplies(address, since):
    return (AutoReplyLog.select(AutoReplyLog.kind, peewee.fn.COUNT(AutoReplyLog.id))
            .where(AutoReplyLog.address == address, AutoReplyLog.sent_at >= since)
            .group_by(AutoReplyLog.kind))


def _ticket_with_key(key):
    return Ticket.select().where(Ticket.key == key)


def _subject_candidates(client_id, norm, since):
    return Ticket.select().where(Ticket.client == client_id, Ticket.subject_norm == norm,
                                 Ticket.created_at >= since)


def tariff_of(client_id: int) -> str:
    return prepared.model(Client, _client_of_id, client_id).tariff


def client_ref(client: Client) -> ClientRef:
    return ClientRef(
        id=client.id, email=client.email, name=client.name, tariff=client.tariff,
        manager_email=client.manager_email, language=client.language, active=client.active,
        assistant_email=client.assistant_email,
        **_addresses(client.id),
    )


def _addresses(client_id: int) -> dict[str, tuple[str, ...]]:
    rows = prepared.rows(_addresses_of, client_id)
    return {"addresses": tuple(email for email, _ in rows),
            "undeliverable": tuple(email for email, marked in rows if marked is not None)}


def ticket_ref(ticket: Ticket) -> TicketRef:
    return TicketRef(
        id=ticket.id, key=ticket.key, client_id=ticket.client_id, subject=ticket.subject,
        subject_norm=ticket.subject_norm, status=ticket.status,
        manager_email=ticket.manager_email, created_at=from_db(ticket.created_at),
        assignee_email=ticket.assignee_email, due_at=from_db(ticket.due_at),
        first_response_at=from_db(ticket.first_response_at),
        first_response_due=from_db(ticket.first_response_due),
        response_started_at=from_db(ticket.response_started_at),
        waiting_since=from_db(ticket.waiting_since), breached_at=from_db(ticket.breached_at),
    )


def thread_info(ticket_id: int, settings: Settings | None = None, now: datetime | None = None) -> ThreadInfo:
    """The conversation of one ticket (and, given settings, the client's quota and money)."""
    from store.billing import billing_view

    ticket = Ticket.get_by_id(ticket_id)
    billing = None
    if settings is not None and now is not None:
        tariff = settings.tariff(ticket.client.tariff)
        if tariff is not None:
            billing = billing_view(ticket, tariff, settings.service.timezone, now)
    messages = list(Message.select(Message.id, Message.message_id, Message.direction, Message.subject,
                                   Message.spool, Message.created_at)
                    # The order `ticket show` numbers the client's mails in (a merge interleaves two).
                    .where(Message.ticket == ticket).order_by(Message.created_at, Message.id))
    last_client = next((m for m in reversed(messages) if m.direction == "in"), None)
    return ThreadInfo(
        client_mails=_client_mails(messages),
        client=client_ref(ticket.client),
        message_ids=tuple(m.message_id for m in messages if m.message_id and m.direction in ("in", "out"))[-20:],
        last_client_message_id=last_client.message_id if last_client else None,
        last_client_entry_id=last_client.id if last_client else None,
        last_client_subject=last_client.subject if last_client else "",
        billing=billing,
    )


def _client_mails(messages: list[Message]) -> tuple[ClientMail, ...]:
    """The client's mails of a timeline, numbered, each with our mails that followed it.

    A mail's time is its arrival in the mailbox (the spool's INTERNALDATE), as the response
    clock counts it (runners/ingest.py), else when it was stored.
    """
    spool_ids = [m.spool_id for m in messages if m.direction == "in" and m.spool_id]
    arrived = dict(SpoolEntry.select(SpoolEntry.id, SpoolEntry.internaldate)
                   .where(SpoolEntry.id.in_(spool_ids)).tuples()) if spool_ids else {}
    mails: list[ClientMail] = []
    for m in messages:
        if m.direction == "in":
            at = from_db(arrived.get(m.spool_id)) or from_db(m.created_at)
            mails.append(ClientMail(len(mails) + 1, m.id, m.message_id, at, m.subject or ""))
        elif m.direction == "out" and mails and m.message_id:
            last = mails[-1]
            mails[-1] = replace(last, followers=(*last.followers, (m.id, m.message_id)))
    return tuple(mails)


def client_by_address(address: str) -> Client | None:
    # safe_lower: str.lower() would turn a Kelvin sign into 'k' (issue 9 finding 11).
    return prepared.model(Client, _client_of_address, safe_lower(address))


def ticket_by_key(key: str) -> Ticket | None:
    return prepared.model(Ticket, _ticket_with_key, key.upper())


def _ticket_of_id(ticket_id):
    return Ticket.select().where(Ticket.id == ticket_id)


def ticket_by_id(ticket_id: int) -> Ticket:
    """One ticket with its client (the notices and the timer plan read the client)."""
    ticket = prepared.model(Ticket, _ticket_of_id, ticket_id)
    if ticket is None:
        raise Ticket.DoesNotExist(f"ticket {ticket_id}")
    ticket.client = prepared.model(Client, _client_of_id, ticket.client_id)
    return ticket


def ticket_count() -> int:
    return Ticket.select().count()


# A merge of a merged ticket's target is followed this far; a longer chain is not made by
# #merge (it refuses closed targets), so the cap only bounds a hand-edited store.
_MERGE_HOPS = 8


def resolved(ticket: Ticket) -> Ticket:
    """The ticket a merged ticket lives on in: its tokens, subject tag and Message-IDs name it."""
    for _ in range(_MERGE_HOPS):
        if ticket.status != "merged" or not ticket.merged_into:
            break
        target = ticket_by_key(ticket.merged_into)
        if target is None or target.client_id != ticket.client_id:
            # Never across clients, whatever the store says (docs/reliability.md I5).
            break
        ticket = target
    return ticket


def _ref_of_key(key: str | None) -> TicketRef | None:
    row = ticket_by_key(key) if key else None
    return ticket_ref(resolved(row)) if row else None


def dedupe_exists(key: str) -> bool:
    return bool(prepared.rows(_message_with_key, key, 1))


def autoreplies_since(address: str, since: datetime) -> dict[str, int]:
    """Automatic mails sent to an address since a moment, by kind (ack, join), in one query."""
    return dict(prepared.rows(_autoreplies, address, to_db(since)))


def _open_invoice(client: Client) -> IssuedInvoice | None:
    from store.billing import issued, open_invoice

    invoice = open_invoice(client)
    return issued(invoice, client) if invoice else None


def route_view(mail: InboundMail, settings: Settings, now: datetime, dedupe_key: str,
               named_keys: tuple[str, ...] = ()) -> RouteView:
    """Everything route() and decide() may know about the store, read at once."""
    prefix = settings.service.ticket_prefix
    client = client_by_address(mail.from_addr) if mail.from_addr else None

    # The client's and the staff's reply tokens are signed with different keys.
    token_ticket = _ref_of_key(ticket_key_from_recipients(
        mail.recipients, settings.smtp.from_address, settings.service.reply_token_secret))
    staff_token_ticket = _ref_of_key(ticket_key_from_recipients(
        mail.recipients, settings.smtp.from_address, settings.service.staff_token_secret))

    thread: list[TicketRef] = []
    ids = list(dict.fromkeys((mail.in_reply_to + mail.references)[-30:]))
    if ids:
        rows = (Ticket.select().join(Message).where(Message.message_id.in_(ids)).distinct())
        thread = list({t.id: t for t in (ticket_ref(resolved(t)) for t in rows)}.values())

    is_staff = settings.staff_by_email(mail.from_addr) is not None
    minted: list[tuple[str, TicketRef]] = []
    if is_staff:
        # Only ids the desk minted for mail it sent (direction 'out'): a client's own
        # Message-ID never routes staff mail, since another client can reuse it.
        wanted = list(dict.fromkeys(mail.in_reply_to[:5] + mail.references[-30:]))
        if wanted:
            rows = (Message.select(Message.message_id, Ticket).join(Ticket)
                    .where(Message.message_id.in_(wanted), Message.direction == "out"))
            minted = [(row.message_id, ticket_ref(resolved(row.ticket))) for row in rows]

    keys = ticket_keys_in_subject(mail.subject, prefix)
    tag_ticket = _ref_of_key(keys[0] if keys else None)

    candidates: list[TicketRef] = []
    if client is not None and has_reply_prefix(mail.subject):
        norm = normalize_subject(mail.subject, prefix)
        rows = prepared.models(Ticket, _subject_candidates, client.id, norm, to_db(now - SUBJECT_WINDOW))
        candidates = [ticket_ref(t) for t in rows]

    sent = autoreplies_since(mail.from_addr, now - timedelta(hours=24))
    return RouteView(
        sender_client=client_ref(client) if client else None,
        sender_is_staff=is_staff,
        token_ticket=token_ticket,
        thread_tickets=tuple(thread),
        tag_ticket=tag_ticket,
        subject_candidates=tuple(candidates),
        already_ingested=dedupe_exists(dedupe_key),
        autoreplies_to_sender_24h=sent.get("ack", 0),
        join_notices_to_sender_24h=sent.get("join", 0),
        staff_token_ticket=staff_token_ticket,
        open_invoice=_open_invoice(client) if client is not None and not client.active else None,
        named_tickets=tuple(ticket_ref(t) for t in Ticket.select().where(Ticket.key.in_(list(named_keys))))
        if named_keys else (),
        minted_tickets=tuple(minted),
    )


def notices_this_hour(source: str, now: datetime) -> tuple[tuple[str, str, int], ...]:
    """(kind, recipients, sent) of every open hour window of one source, for the flood caps."""
    return floods.sent_this_hour(source, now)


def join_replies_since(since: datetime) -> int:
    """"How to join" replies sent to anyone since a moment (the global backscatter cap)."""
    return (AutoReplyLog.select()
            .where(AutoReplyLog.kind == "join", AutoReplyLog.sent_at >= to_db(since)).count())
