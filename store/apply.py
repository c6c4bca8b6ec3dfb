"""apply(): one transaction writes the ticket change, the timeline and the outbox rows.

A notice is rendered inside the transaction (the ticket key is allocated here),
so a template or encoding failure rolls back the ticket change with it
(docs/reliability.md case 14): no ticket state without its notice.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import NamedTuple

import peewee

from daemon.core.model import Decision, Notice, OneOffTimer, OutboundMail, TicketRef, is_one_off
from parsers.mail import InboundMail
from parsers.subjects import normalize_subject
from store import floods, prepared
from store.apply_counters import next_number
from store.db import database, to_db, write_transaction
from store.models import (
    AttachmentMeta,
    AutoReplyLog,
    Client,
    Event,
    Message,
    SpoolEntry,
    Ticket,
    Timer,
)
from store.outbox import enqueue
from store.queries import ticket_ref

Renderer = Callable[[Notice, Ticket | None, InboundMail | None], OutboundMail]
# Invoices asked for in a mail (top-ups, #invoice) are due in a week.
INVOICE_DUE = timedelta(days=7)
# The ticket as the pure core sees it, and its client's tariff code -> (kind, fire_at) wanted.
TimerPlanner = Callable[[TicketRef, str], Iterable[tuple[str, datetime]]]
CLOSED = ("done", "cancelled", "rejected", "merged", "closed")


class AlreadyIngested(Exception):
    """A concurrent writer stored the same mail first; the caller records a duplicate."""


def create_ticket(client: Client, subject: str, prefix: str, now: datetime,
                  first_response_due: datetime | None, **fields: object) -> Ticket:
    """Insert a ticket with its number; `fields` set further columns in the same INSERT."""
    number = next_number("ticket")
    values = {name: to_db(value) if isinstance(value, datetime) else value for name, value in fields.items()}
    values.setdefault("manager_email", client.manager_email)
    return Ticket.create(
        number=number, key=f"{prefix}-{number}", client=client, subject=subject,
        subject_norm=normalize_subject(subject, prefix), status="new",
        created_at=to_db(now), updated_at=to_db(now), first_response_due=to_db(first_response_due), **values,
    )


class MessageRow(NamedTuple):
    """A timeline entry: a mail in or out, or a staff note (fields in peewee's binding order)."""

    ticket: int
    direction: str
    kind: str
    dedupe_key: str | None
    message_id: str | None
    sender: str
    recipients: str
    subject: str
    text: str
    spool: int | None
    created_at: datetime


class EventRow(NamedTuple):
    ticket: int | None
    at: datetime
    kind: str
    detail: str


class AttachmentRow(NamedTuple):
    message: int
    filename: str
    content_type: str
    size: int
    sha256: str


class AutoReplyRow(NamedTuple):
    address: str
    kind: str
    sent_at: datetime


class TimerRow(NamedTuple):
    ticket: int
    kind: str
    fire_at: datetime
    created_at: datetime
    # What a one-off timer's tag needs when it fires (JSON); "" for a timer derived from state.
    data: str = ""


class SpoolDoneRow(NamedTuple):
    state: str
    outcome: str
    message_id: str | None
    sender: str
    ticket: int | None
    processed_at: datetime
    entry_id: int


def _insert_message(row: MessageRow) -> peewee.Query:
    return Message.insert(**row._asdict())


def _insert_event(row: EventRow) -> peewee.Query:
    return Event.insert(**row._asdict())


def _insert_attachment(row: AttachmentRow) -> peewee.Query:
    return AttachmentMeta.insert(**row._asdict())


def _insert_autoreply(row: AutoReplyRow) -> peewee.Query:
    return AutoReplyLog.insert(**row._asdict())


def _unfired_timers(ticket):
    return Timer.select().where(Timer.ticket == ticket, Timer.fired_at.is_null())


def _insert_timer(row: TimerRow) -> peewee.Query:
    return Timer.insert(**row._asdict()).on_conflict_ignore()


def _spool_done(row: SpoolDoneRow) -> peewee.Query:
    values = row._asdict()
    entry_id = values.pop("entry_id")
    return SpoolEntry.update(**values).where(SpoolEntry.id == entry_id)


def _client_by_id(client_id):
    return Client.select().where(Client.id == client_id)


def _ticket_by_id(ticket_id):
    return Ticket.select().where(Ticket.id == ticket_id)


def add_event(ticket: Ticket | int | None, kind: str, detail: str, now: datetime) -> None:
    ticket_id = ticket.id if isinstance(ticket, Ticket) else ticket
    prepared.execute_row(_insert_event, EventRow(ticket=ticket_id, at=to_db(now), kind=kind, detail=detail))


def record_outgoing(ticket: Ticket | None, mail: OutboundMail, subject: str, now: datetime) -> None:
    """Our own mails join the timeline, so replies to them thread by In-Reply-To."""
    if ticket is None:
        return
    prepared.execute_row(_insert_message, MessageRow(
        ticket=ticket.id, direction="out", kind=mail.kind, dedupe_key=None, message_id=mail.message_id,
        sender=mail.envelope_from, recipients="\n".join(mail.recipients), subject=subject, text="", spool=None,
        created_at=to_db(now)))


@dataclass(frozen=True)
class Applied:
    outcome: str
    ticket_key: str | None
    outbox_ids: tuple[int, ...]


def _record_inbound(decision: Decision, mail: InboundMail, ticket: Ticket, entry_id: int, *,
                    dedupe_key: str, stored_text: str, now: datetime) -> None:
    text = decision.message_text if decision.message_text is not None else stored_text
    try:
        with database.atomic():
            message_id = prepared.insert_row(_insert_message, MessageRow(
                ticket=ticket.id, direction=decision.message_direction, kind="mail", dedupe_key=dedupe_key,
                message_id=mail.message_id, sender=mail.from_addr, recipients="\n".join(mail.recipients),
                subject=mail.subject, text=text, spool=entry_id, created_at=to_db(now)))
    except peewee.IntegrityError:
        raise AlreadyIngested(dedupe_key) from None
    for att in mail.attachments:
        prepared.execute_row(_insert_attachment, AttachmentRow(
            message=message_id, filename=att.filename[:255], content_type=att.content_type[:255], size=att.size,
            sha256=att.sha256))


def _split(decision: Decision, ticket: Ticket, prefix: str, now: datetime) -> Ticket:
    """#split: the ticket's last client mail moves to a new ticket of the same client."""
    source = (Message.select().where(Message.ticket == ticket, Message.direction == "in")
              .order_by(Message.id.desc()).first())
    new = create_ticket(ticket.client, decision.split_subject or ticket.subject, prefix, now, None,
                        manager_email=ticket.manager_email)
    if source is not None:
        source.ticket = new
        source.save()
    add_event(ticket, "split", f"last client mail moved to {new.key}", now)
    add_event(new, "created", f"split from {ticket.key}", now)
    return new


def set_fields(ticket: Ticket, changes: tuple[tuple[str, object], ...], now: datetime) -> None:
    new_status = dict(changes).get("status")
    if new_status is not None and new_status != ticket.status and ticket.id is not None:
        # State changes are part of the timeline `ticket show` prints.
        add_event(ticket, "status", f"{ticket.status} -> {new_status}", now)
    for name, value in changes:
        setattr(ticket, name, to_db(value) if isinstance(value, datetime) else value)
    if dict(changes).get("status") in CLOSED:
        ticket.closed_at = to_db(now)
    ticket.updated_at = to_db(now)
    # Only what changed: a full-row UPDATE is mostly peewee writing SQL for unchanged columns.
    ticket.save(only=ticket.dirty_fields)


def sync_timers(ticket: Ticket, planner: TimerPlanner | None, now: datetime) -> None:
    """Replace the ticket's unfired timers by what its state implies now.

    A deadline that is planned again keeps its row (unique ticket+kind+fire_at),
    so a timer that already fired is never created a second time.
    """
    if planner is None:
        return
    wanted = {(kind, to_db(at)) for kind, at in planner(ticket_ref(ticket), ticket.client.tariff)}
    for timer in prepared.models(Timer, _unfired_timers, ticket.id):
        # A one-off timer (#remind) is not derived from the state: it stays until it fires.
        if (timer.kind, timer.fire_at) not in wanted and not is_one_off(timer.kind):
            timer.delete_instance()
    for kind, at in sorted(wanted):
        prepared.execute_row(_insert_timer, TimerRow(ticket=ticket.id, kind=kind, fire_at=at, created_at=to_db(now)))


def add_timers(ticket: Ticket, timers: tuple[OneOffTimer, ...], now: datetime) -> None:
    """The one-off timers a decision set; each fires once, whatever the ticket does meanwhile."""
    for timer in timers:
        prepared.execute_row(_insert_timer, TimerRow(
            ticket=ticket.id, kind=timer.kind, fire_at=to_db(timer.fire_at), created_at=to_db(now),
            data=json.dumps(dict(timer.data), ensure_ascii=False, sort_keys=True)))


def apply_billing(decision: Decision, ticket: Ticket, now: datetime, due: datetime) -> list[int]:
    """Quota counts, ledger lines and invoices of a decision; returns the new invoice ids."""
    from store import billing

    if decision.quota_release:
        billing.release_quota(ticket, now)
    if decision.quota_count is not None and decision.quota_period_start is not None:
        billing.count_quota(ticket, decision.quota_period_start, decision.quota_forced, now)
    for kind, amount, note in decision.ledger:
        billing.add_ledger(ticket.client_id, kind, amount, note, now, ticket=ticket)
    return [billing.issue_invoice(ticket.client, spec, spec.currency, now, due, ticket=ticket).id
            for spec in decision.invoices]


def send_notices(decision: Decision, ticket: Ticket | None, split_ticket: Ticket | None,
                 mail: InboundMail | None, render: Renderer, now: datetime,
                 invoice_ids: list[int] | None = None) -> list[int]:
    outbox_ids = []
    for notice in decision.notices:
        refs = dict(notice.context)
        if "invoice_ref" in refs and invoice_ids is not None:
            # The invoice got its number in this transaction; the notice now names it.
            notice = replace(notice, context=notice.context + (("invoice_id", invoice_ids[refs["invoice_ref"]]),))
        about = split_ticket if notice.scope == "split" else ticket
        out = render(notice, about, mail)
        outbox_ids.append(enqueue(out, now))
        record_outgoing(about, out, notice.template, now)
        if notice.autoreply:
            for address in notice.to:
                prepared.execute_row(_insert_autoreply,
                                     AutoReplyRow(address=address, kind=_autoreply_kind(notice), sent_at=to_db(now)))
        if notice.source:
            floods.count_sent(notice, now)
    return outbox_ids


def apply(decision: Decision, mail: InboundMail, entry_id: int, *, dedupe_key: str,
          stored_text: str, prefix: str, now: datetime, render: Renderer,
          planner: TimerPlanner | None = None) -> Applied:
    """Write everything the decision says, and mark the spool entry done, atomically."""
    with write_transaction():
        ticket: Ticket | None = None
        route = decision.route
        if decision.create_ticket:
            client = prepared.model(Client, _client_by_id, route.client.id)
            # One INSERT with every column the decision sets: no UPDATE right after it.
            ticket = create_ticket(client, mail.subject, prefix, now, decision.first_response_due,
                                   assignee_email=decision.assignee_email, **dict(decision.ticket_changes))
        elif route.ticket is not None:
            ticket = prepared.model(Ticket, _ticket_by_id, route.ticket.id)
            # The notices read the client: one prepared SELECT instead of peewee's lazy one.
            ticket.client = prepared.model(Client, _client_by_id, ticket.client_id)
            set_fields(ticket, decision.ticket_changes, now)
        if decision.record_message and ticket is not None:
            _record_inbound(decision, mail, ticket, entry_id, dedupe_key=dedupe_key,
                            stored_text=stored_text, now=now)
        if decision.note_text and ticket is not None:
            prepared.execute_row(_insert_message, MessageRow(
                ticket=ticket.id, direction="note", kind="note", dedupe_key=None, message_id=None,
                sender=mail.from_addr, recipients="", subject="", text=decision.note_text, spool=None,
                created_at=to_db(now)))
        outbox_ids, _ = _effects(decision, ticket, mail, render, planner, now, prefix=prefix,
                                  held_label=ticket.key if ticket else f"spool #{entry_id}")
        prepared.execute_row(_spool_done, SpoolDoneRow(
            state="done" if ticket else "ignored", outcome=decision.outcome, message_id=mail.message_id,
            sender=mail.from_addr, ticket=ticket.id if ticket else None, processed_at=to_db(now),
            entry_id=entry_id))
    return Applied(decision.outcome, ticket.key if ticket else None, tuple(outbox_ids))


def apply_timer(decision: Decision, ticket: Ticket, now: datetime, render: Renderer,
                planner: TimerPlanner | None) -> list[int]:
    """A fired timer's decision; the caller holds the transaction that claimed the timer."""
    if decision.ticket_changes:
        set_fields(ticket, decision.ticket_changes, now)
    outbox_ids, _ = _effects(decision, ticket, None, render, planner, now, prefix=None, held_label=ticket.key)
    return outbox_ids


def _effects(decision: Decision, ticket: Ticket | None, mail: InboundMail | None, render: Renderer,
             planner: TimerPlanner | None, now: datetime, *, prefix: str | None,
             held_label: str) -> tuple[list[int], Ticket | None]:
    """What a mail's and a timer's decisions share, after the ticket's own fields: timeline
    events, split and merge, quota and money, the notices (sent or held over a cap) and the
    replanned timers. Returns the outbox ids and the ticket a #split made."""
    for kind, detail in decision.events:
        add_event(ticket, kind, detail, now)
    split_ticket = None
    if decision.split_subject and ticket is not None and prefix is not None:
        split_ticket = _split(decision, ticket, prefix, now)
    if decision.merge_into is not None and ticket is not None:
        add_event(decision.merge_into.id, "merged", f"{ticket.key} was merged into this ticket", now)
    invoice_ids = apply_billing(decision, ticket, now, now + INVOICE_DUE) if ticket is not None else []
    outbox_ids = send_notices(decision, ticket, split_ticket, mail, render, now, invoice_ids)
    for notice in decision.held:
        # Over its hourly cap: the window's digest says it was held back, and about what.
        floods.count_held(notice, held_label, now)
    if ticket is not None:
        add_timers(ticket, decision.timers, now)
    for changed in (ticket, split_ticket):
        if changed is not None:
            sync_timers(changed, planner, now)
    return outbox_ids, split_ticket


def _autoreply_kind(notice: Notice) -> str:
    return {"client.notice.ack": "ack", "unknown.notice.join": "join"}.get(notice.template, notice.template)
