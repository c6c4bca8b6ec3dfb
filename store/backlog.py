"""The morning after an outage: tasks whose ack was held because they waited too long
(docs/reliability.md case 35), and the one "we are back" notice per client that replaces them.

A late task's ticket carries a `late-ack` event (written by apply with the ticket); once
its client got the notice, a `back-notice` event. Both live in the event table, so the
notice is sent once per client and backlog, whatever restarts happen in between.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from daemon.core import notice_kinds as kinds
from daemon.core.model import OutboundMail
from store.apply import add_event, record_outgoing
from store.db import write_transaction
from store.models import Client, Event, Ticket
from store.outbox import enqueue
from store.queries import ticket_by_key
from store.rows import Ticket as TicketRow


def late_tasks_by_client() -> dict[int, tuple[str, str, list[tuple[str, str]]]]:
    """client id -> (email, language, [(ticket key, subject)]) of late tasks whose client was not told yet."""
    told = Event.select(Event.ticket).where(Event.kind == "back-notice", Event.ticket.is_null(False))
    query = (Ticket.select(Ticket.client, Client.email, Client.language, Ticket.key, Ticket.subject)
             .join(Client, on=(Ticket.client == Client.id)).switch(Ticket)
             .join(Event, on=(Event.ticket == Ticket.id))
             .where(Event.kind == "late-ack", Ticket.id.not_in(told)).order_by(Ticket.created_at, Ticket.id))
    found: dict[int, tuple[str, str, list[tuple[str, str]]]] = {}
    for client_id, email, language, key, subject in query.tuples():
        found.setdefault(client_id, (email, language, []))[2].append((key, subject))
    return found


def send_back_notice(tasks: list[tuple[str, str]], render: Callable[[TicketRow], OutboundMail],
                     now: datetime) -> int | None:
    """Enqueue the notice rendered about the first task, and mark every task told; the outbox id."""
    first = ticket_by_key(tasks[0][0])
    if first is None:
        return None
    with write_transaction():
        out = render(first)
        outbox_id = enqueue(out, now)
        if not out.parked:
            record_outgoing(first, out, kinds.BACK, now)
        for key, _subject in tasks:
            ticket = ticket_by_key(key)
            if ticket is not None:
                add_event(ticket.id, "back-notice", f"outbox #{outbox_id}", now)
    return outbox_id
