"""Tickets made and mail moved inside the apply transaction: a new ticket, #split, #merge.

Kept apart from store/apply.py (which runs the effects) so each stays one job; apply.py
re-exports create_ticket and add_event, which other runners use.
"""

from __future__ import annotations

from datetime import datetime

from daemon.core import effects as fx
from parsers.subjects import normalize_subject
from store import prepared
from store.apply_counters import next_number
from store.apply_rows import EventRow, _insert_event
from store.db import from_db, to_db
from store.models import Client, Message, Ticket


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


def add_event(ticket: Ticket | int | None, kind: str, detail: str, now: datetime) -> None:
    ticket_id = ticket.id if isinstance(ticket, Ticket) else ticket
    prepared.execute_row(_insert_event, EventRow(ticket=ticket_id, at=to_db(now), kind=kind, detail=detail))


def _stamp(moment: object) -> str:
    value = from_db(moment) if moment is not None else None
    return value.isoformat(timespec="minutes") if isinstance(value, datetime) else "-"


def split_off(ticket: Ticket, effect: fx.SplitOff, prefix: str, now: datetime) -> Ticket:
    """#split: the chosen mails (and our mails that followed them) move to a new ticket."""
    rows = list(effect.rows)
    if not rows:
        # A decision made without the numbered mails: the ticket's last client mail moves.
        last = (Message.select(Message.id).where(Message.ticket == ticket, Message.direction == "in")
                .order_by(Message.id.desc()).first())
        rows = [last.id] if last is not None else []
    new = create_ticket(ticket.client, effect.subject or ticket.subject, prefix, now, effect.first_response_due,
                        manager_email=ticket.manager_email, assignee_email=ticket.assignee_email,
                        response_started_at=effect.response_started_at)
    client_mails = effect.mails or len(rows)
    Message.update(ticket=new).where(Message.id.in_(rows), Message.ticket == ticket).execute()
    add_event(ticket, "split", f"{client_mails} client mail(s) moved to {new.key} \"{new.subject}\"", now)
    add_event(new, "created", f"split from {ticket.key}; first response due {_stamp(new.first_response_due)}"
                              f" (clock from the mail's arrival, {_stamp(new.response_started_at)})", now)
    return new


def merge_into(ticket: Ticket, target_id: int, now: datetime) -> Ticket:
    """#merge: every mail of `ticket` moves to the target, which takes its waiting response clock."""
    target = Ticket.get_by_id(target_id)
    target.client = Client.get_by_id(target.client_id)
    moved = Message.update(ticket=target).where(Message.ticket == ticket).execute()
    due, started = ticket.first_response_due, ticket.response_started_at
    if due is not None and (target.first_response_due is None or from_db(due) < from_db(target.first_response_due)):
        # A client mail of the merged ticket still waits for its answer: the target answers it now.
        target.first_response_due, target.response_started_at = due, started
    target.updated_at = to_db(now)
    target.save()
    ticket.first_response_due = ticket.response_started_at = None
    ticket.save(only=ticket.dirty_fields)
    add_event(ticket, "merged", f"into {target.key} \"{target.subject}\"; its {moved} mail(s) moved there; "
                                f"later mail on this ticket goes to {target.key}", now)
    add_event(target, "merged", f"{ticket.key} \"{ticket.subject}\" was merged into this ticket; "
                                f"its {moved} mail(s) moved here", now)
    return target
