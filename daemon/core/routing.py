"""route(): who sent a mail and which ticket it belongs to, per docs/threading.md.

Pure: it reads only the InboundMail, the RouteView snapshot and settings values.
The cross-client rule (docs/reliability.md I5) is enforced here: every way of finding
a ticket is filtered to tickets of the sender's own client.
"""

from __future__ import annotations

import hashlib

from daemon.core.model import ClientRef, Route, RouteView, TicketRef
from parsers.mail import InboundMail
from parsers.subjects import has_reply_prefix, normalize_subject

OPEN_STATUSES = frozenset({"new", "open", "accepted", "waiting", "payment"})
CLOSED_STATUSES = frozenset({"done", "cancelled", "rejected", "merged", "closed"})
# A status as a Russian-speaking member of staff reads it in her mail and transcripts.
STATUS_RU = {"new": "новая", "open": "открыта", "accepted": "в работе", "waiting": "ждёт ответа клиента",
             "payment": "ждёт оплаты", "done": "выполнена", "cancelled": "отменена",
             "rejected": "отклонена", "merged": "объединена", "closed": "закрыта"}


def status_word(status: str, language: str) -> str:
    """The status in `language`: the stored name in English, a word in Russian."""
    return STATUS_RU.get(status, status) if language == "ru" else status


def _own(tickets: tuple[TicketRef, ...] | list[TicketRef], client: ClientRef) -> list[TicketRef]:
    return [t for t in tickets if t.client_id == client.id]


def find_ticket(mail: InboundMail, view: RouteView, client: ClientRef, prefix: str) -> tuple[TicketRef | None, str]:
    """The threading order: token, In-Reply-To/References, subject tag, Re:-subject."""
    if view.token_ticket is not None and view.token_ticket.client_id == client.id:
        return view.token_ticket, "token"
    threaded = _own(view.thread_tickets, client)
    if threaded:
        # The most recent ticket wins when a thread was split or merged.
        return max(threaded, key=lambda t: t.id), "thread"
    if view.tag_ticket is not None and view.tag_ticket.client_id == client.id:
        return view.tag_ticket, "subject-tag"
    if has_reply_prefix(mail.subject):
        norm = normalize_subject(mail.subject, prefix)
        candidates = [t for t in _own(view.subject_candidates, client)
                      if t.status in OPEN_STATUSES and norm and t.subject_norm == norm]
        if candidates:
            return max(candidates, key=lambda t: t.id), "subject"
    return None, "new"


NO_STAFF_TICKET = ("no ticket found: nothing was applied. Reply to the desk's mail about the "
                   "ticket (its staff reply address or its thread); a subject tag or a "
                   "client's Message-ID does not name a ticket for staff mail")


def find_staff_ticket(mail: InboundMail, view: RouteView) -> tuple[TicketRef | None, str, str]:
    """(ticket, via, why none) for staff mail: their token, else Message-IDs the desk minted.

    Staff may act on any ticket, so nothing a client chose may name it (docs/reliability.md case 37):
    not a client's Message-ID (client B can reuse client A's) and not a subject tag.
    When the desk's own Message-IDs name several tickets, none is guessed.
    """
    if view.staff_token_ticket is not None:
        return view.staff_token_ticket, "staff-token", ""
    wanted = set(mail.in_reply_to) | set(mail.references)
    named = {ticket.id: ticket for msg_id, ticket in view.minted_tickets if msg_id in wanted}
    if len(named) == 1:
        return next(iter(named.values())), "thread", ""
    if named:
        keys = ", ".join(sorted(t.key for t in named.values()))
        return None, "", (f"this mail's thread names several tickets ({keys}): nothing was "
                          "applied. Reply to the desk's latest mail about the one you mean")
    return None, "", NO_STAFF_TICKET


def route(mail: InboundMail, view: RouteView, automatic: str | None, prefix: str) -> Route:
    """Classify one mail. `automatic` is parsers.automatic's reason or None."""
    if automatic == "loop":
        return Route("loop", reason="our own mail came back")
    if automatic == "bounce":
        return Route("bounce", reason="delivery status notification")
    if not mail.from_addr:
        # Nobody to answer and nobody to attribute it to: a client whose From we misread
        # must not be dropped as automatic, so it is quarantined where admins see it.
        return Route("unreadable", reason="no sender address could be read")
    if view.already_ingested:
        return Route("duplicate", reason="same sender and Message-ID already on a ticket")
    if view.sender_is_staff:
        ticket, via, why_none = find_staff_ticket(mail, view)
        return Route("staff", via=via, ticket=ticket, reason=why_none or "staff mail")
    client = view.sender_client
    if client is None or not client.active:
        if automatic:
            return Route("automatic", reason=automatic)
        return Route("unknown", reason="sender is not a member" if client is None else "membership inactive",
                     client=client)
    ticket, via = find_ticket(mail, view, client, prefix)
    if ticket is not None:
        return Route("client_reply", via=via, client=client, ticket=ticket, reason=automatic or "")
    if automatic:
        # An automatic mail never opens a ticket (it would ack a robot); it is kept in the spool.
        return Route("automatic", client=client, reason=automatic)
    return Route("client_new", via="new", client=client)


def dedupe_key(mail: InboundMail) -> str:
    """The duplicate key of docs/threading.md: sender + Message-ID, never Message-ID alone.

    Without a Message-ID, a hash of sender, date, subject and body stands in.
    """
    if mail.message_id:
        basis = "mid\0" + mail.from_addr + "\0" + mail.message_id.strip()
    else:
        date = mail.date.isoformat() if mail.date else ""
        basis = "fp\0" + "\0".join((mail.from_addr, date, mail.subject, mail.text))
    return hashlib.sha256(basis.encode("utf-8", "surrogatepass")).hexdigest()
