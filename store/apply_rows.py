"""The hot-path writes of the apply transaction: typed rows and the statements they bind.

Each row is built by keyword at its call site and is itself the parameter tuple of a
statement peewee writes once per dialect (store/prepared.py); a row whose fields are
out of their columns' order is refused on first use, so no value lands in the wrong column.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

import peewee

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
    # The fence: only a still-pending entry is marked, so of two workers that processed
    # one mail (the first outlived its lease) one commits and the other rolls back.
    was: str = "pending"


def _insert_message(row: MessageRow) -> peewee.Query:
    return Message.insert(**row._asdict())


def _insert_event(row: EventRow) -> peewee.Query:
    return Event.insert(**row._asdict())


def _insert_attachment(row: AttachmentRow) -> peewee.Query:
    return AttachmentMeta.insert(**row._asdict())


def _insert_autoreply(row: AutoReplyRow) -> peewee.Query:
    return AutoReplyLog.insert(**row._asdict())


def _delete_unfired(timer_id):
    return Timer.delete().where(Timer.id == timer_id, Timer.fired_at.is_null())


def _insert_timer(row: TimerRow) -> peewee.Query:
    return Timer.insert(**row._asdict()).on_conflict_ignore()


def _move_message(ticket, message_id, from_ticket):
    return Message.update(ticket=ticket).where(Message.id == message_id, Message.ticket == from_ticket)


def _spool_done(row: SpoolDoneRow) -> peewee.Query:
    values = row._asdict()
    entry_id, was = values.pop("entry_id"), values.pop("was")
    return SpoolEntry.update(**values).where(SpoolEntry.id == entry_id, SpoolEntry.state == was)


def _client_by_id(client_id):
    return Client.select().where(Client.id == client_id)


def _ticket_by_id(ticket_id):
    return Ticket.select().where(Ticket.id == ticket_id)
