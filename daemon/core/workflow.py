"""decide(): turn a Route into a Decision (ticket change + notices). Pure.

The rules of DESIGN section 1 for client mail live here: a new task opens a
ticket and gets one acknowledgement; a reply joins its ticket silently; an
unknown sender gets at most one "how to join" reply per 24 h; automatic mail
is never answered.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from daemon.core.routing import CLOSED_STATUSES
from daemon.core.sla import first_response_deadline
from daemon.model import ClientRef, Decision, InboundMail, Notice, Route, RouteView, TicketRef


@dataclass(frozen=True)
class Policy:
    first_response_minutes: float
    autoreply_limit_per_day: int
    default_language: str
    # (email, language) of every staff member, for notifications in their language.
    staff_languages: tuple[tuple[str, str], ...] = ()
    # The working-hours calendar (None: 24/7) and the tariffs that ignore it.
    calendar: object | None = None
    around_the_clock: frozenset[str] = frozenset()
    pause_due_while_waiting: bool = True

    def calendar_for(self, client: ClientRef) -> object | None:
        return None if client.tariff in self.around_the_clock else self.calendar

    def deadline(self, arrived: datetime, client: ClientRef) -> datetime:
        return first_response_deadline(arrived, self.first_response_minutes, self.calendar_for(client))

    def language_of(self, email: str) -> str:
        return dict(self.staff_languages).get(email, self.default_language)


def staff_notification(event: str, mail: InboundMail, text: str, ticket: TicketRef | None,
                       client: ClientRef, policy: Policy, assignee: str | None) -> tuple[Notice, ...]:
    """The client's mail, forwarded to whoever works the ticket (DESIGN rule 2)."""
    recipients: list[str] = []
    if assignee:
        recipients.append(assignee)
    manager = ticket.manager_email if ticket else client.manager_email
    # A dedicated ("One") client's work goes to that assistant only.
    if not (client.assistant_email and assignee == client.assistant_email) and manager not in recipients:
        recipients.append(manager)
    return tuple(
        Notice(template="staff.notice.ticket", to=(who,), language=policy.language_of(who), autoreply=False,
               context=(("event", event), ("by", ""), ("text", text)), attachments=mail.attachments,
               in_reply_to=mail.message_id)
        for who in recipients
    )


def decide(route: Route, mail: InboundMail, view: RouteView, arrived: datetime, policy: Policy,
           text: str = "") -> Decision:
    """What one inbound mail changes and which mails it causes."""
    kind = route.kind
    if kind in ("loop", "bounce", "duplicate"):
        return Decision(outcome=kind, route=route)
    if kind == "staff":
        # Staff commands arrive with the manager-tags work; until then a staff mail
        # on a ticket is kept in the spool and changes nothing.
        return Decision(outcome="staff-held", route=route)
    if kind == "automatic":
        return Decision(outcome="automatic", route=route)
    if kind == "unknown":
        if view.join_notices_to_sender_24h > 0:
            return Decision(outcome="unknown-limited", route=route)
        language = route.client.language if route.client else policy.default_language
        notice = Notice(template="unknown.notice.join", to=(mail.from_addr,), language=language,
                        context=(("inactive", route.client is not None),
                                 *((("invoice_id", view.open_invoice_id),) if view.open_invoice_id else ())),
                        in_reply_to=mail.message_id)
        return Decision(outcome="unknown-join", route=route, notices=(notice,))
    client = route.client
    assert client is not None
    if kind == "client_reply":
        ticket = route.ticket
        assert ticket is not None
        if route.reason:
            # An out-of-office on a ticket is kept in the timeline; nobody is bothered with it.
            return Decision(outcome="reply-automatic", route=route, record_message=True,
                            events=(("client-reply", f"automatic ({route.reason}) via {route.via}"),))
        changes: dict[str, object] = {}
        events = [("client-reply", f"via {route.via}")]
        if ticket.first_response_due is None:
            # A reply that needs an answer starts the response clock again, from its arrival.
            changes.update(response_started_at=arrived, first_response_due=policy.deadline(arrived, client))
        if ticket.status in CLOSED_STATUSES - {"merged"} or ticket.status == "waiting":
            # The client wrote again: a closed ticket reopens, a waiting one has its answer.
            changes.update(status="open", closed_at=None, waiting_since=None)
            events.append(("reopened" if ticket.status != "waiting" else "answered", f"was {ticket.status}"))
            if ticket.status == "waiting" and ticket.waiting_since and ticket.due_at \
                    and policy.pause_due_while_waiting:
                # The due time paused while we waited for the client.
                changes["due_at"] = ticket.due_at + (arrived - ticket.waiting_since)
                changes["status"] = "accepted"
        return Decision(
            outcome="reply", route=route, record_message=True, ticket_changes=tuple(changes.items()),
            events=tuple(events),
            notices=staff_notification("reply", mail, text, ticket, client, policy, ticket.assignee_email),
        )
    # A new task: ticket, SLA clock from arrival, and an acknowledgement unless capped.
    notices: tuple[Notice, ...] = ()
    outcome = "new-ticket"
    if view.autoreplies_to_sender_24h < policy.autoreply_limit_per_day:
        notices = (Notice(template="client.notice.ack", to=(mail.from_addr,), language=client.language,
                          in_reply_to=mail.message_id, references=mail.references),)
    else:
        outcome = "new-ticket-ack-capped"
    assignee = client.assistant_email
    notices += staff_notification("new", mail, text, None, client, policy, assignee)
    return Decision(
        outcome=outcome,
        route=route,
        create_ticket=True,
        record_message=True,
        notices=notices,
        first_response_due=policy.deadline(arrived, client),
        ticket_changes=(("response_started_at", arrived),),
        events=(("created", "by mail"),),
        assignee_email=assignee,
    )
