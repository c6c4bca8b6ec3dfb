"""decide(): turn a Route into a Decision (ticket change + notices). Pure.

The service rules (docs/service-rules.md) for client mail live here: a new task opens a
ticket and gets one acknowledgement; a reply joins its ticket silently; an
unknown sender gets at most one "how to join" reply per 24 h; automatic mail
is never answered.

Floods (issue 9, finding 9): admin alerts and staff notifications are capped per
source and hour by coalesce(); the surplus is held, counted in the store and
mailed as one digest when the hour ends (digest_notice()). "How to join"
replies are capped for all senders together, and none goes to an address our
MX says is forged (SPF and DMARC both failed).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from daemon.core import notice_kinds as kinds
from daemon.core.absence import away, cover_decision
from daemon.core.bounces import hold_undeliverable
from daemon.core.effects import (
    Decision,
    HoldNotice,
    OpenTicket,
    RecordEvent,
    RecordMessage,
    SendNotice,
    SetFields,
    sends,
)
from daemon.core.model import ClientRef, Notice, Route, RouteView, TicketRef
from daemon.core.notice_kinds import RateClass
from daemon.core.routing import CLOSED_STATUSES
from daemon.core.sla import first_response_deadline
from parsers.auth_results import mx_saw_forgery
from parsers.mail import InboundMail

# At most this many labels (ticket keys, spool ids) are listed in a digest; the count is exact.
DIGEST_LABELS = 20


@dataclass(frozen=True)
class FloodCaps:
    """Per hour: alerts and staff notifications per (kind, source, recipients); join replies in all."""

    alerts_per_source: int = 3
    staff_notifications_per_source: int = 10
    join_replies: int = 20

    def cap_of(self, kind: str) -> int | None:
        """The hourly cap per source of a notice kind, by its rate-limit class; None: not capped so.

        A name read from the store is looked up; an undeclared one is an error (UnknownNoticeKind).
        """
        rate = kinds.named(kind).rate
        if rate is RateClass.ALERT:
            return self.alerts_per_source
        if rate is RateClass.STAFF:
            return self.staff_notifications_per_source
        # JOIN is capped for all senders together (decide() reads the count), NONE never.
        return None


def window_key(notice: Notice) -> tuple[str, str]:
    """(kind, recipients): with the source, what one hour window of the store counts."""
    return notice.template, "\n".join(notice.to)


def coalesce(notices: tuple[Notice, ...], source: str, sent: Mapping[tuple[str, str], int],
             caps: FloodCaps) -> tuple[tuple[Notice, ...], tuple[Notice, ...]]:
    """(to send, to hold): capped kinds over their source's hourly count are held for the digest.

    `sent` maps window_key() to what this source already had sent in the open window.
    Notices of capped kinds that are sent carry `source`, so the store counts them.
    """
    verdicts = _verdicts(notices, source, sent, caps)
    return (tuple(n for held, n in verdicts if not held), tuple(n for held, n in verdicts if held))


def _verdicts(notices: tuple[Notice, ...], source: str, sent: Mapping[tuple[str, str], int],
              caps: FloodCaps) -> list[tuple[bool, Notice]]:
    """(held, notice) for each notice, in order: coalesce() without splitting the list."""
    out: list[tuple[bool, Notice]] = []
    counted = dict(sent)
    for notice in notices:
        cap = caps.cap_of(notice.template)
        if cap is None:
            out.append((False, notice))
            continue
        key = window_key(notice)
        notice = replace(notice, source=source)
        if counted.get(key, 0) >= cap:
            out.append((True, notice))
        else:
            counted[key] = counted.get(key, 0) + 1
            out.append((False, notice))
    return out


def coalesce_decision(decision: Decision, source: str, view: RouteView, caps: FloodCaps) -> Decision:
    """The decision with its capped notices over the hourly count moved to `held`."""
    return cap_decision(decision, source, view.notices_this_hour, caps)


def cap_decision(decision: Decision, source: str, notices_this_hour: tuple[tuple[str, str, int], ...],
                 caps: FloodCaps) -> Decision:
    """coalesce_decision() for callers without a RouteView (timers, the outbox).

    `notices_this_hour` is store.queries.notices_this_hour(source, now): (kind, recipients, sent).
    """
    sent = {(kind, to): count for kind, to, count in notices_this_hour}
    verdicts = iter(_verdicts(tuple(e.notice for e in decision.of(SendNotice)), source, sent, caps))
    effects = []
    for effect in decision.effects:
        if isinstance(effect, SendNotice):
            # Each notice keeps its place; one over its cap becomes a HoldNotice there.
            held, notice = next(verdicts)
            effect = HoldNotice(notice) if held else SendNotice(notice)
        effects.append(effect)
    return replace(decision, effects=tuple(effects))


def digest_notice(kind: str, source: str, recipients: tuple[str, ...], language: str, held: int,
                  opened_at: datetime, closes_at: datetime, labels: tuple[str, ...]) -> Notice:
    """The one mail that stands for every notice of a window that was held back."""
    return Notice(template=kinds.DIGEST, to=recipients, language=language, autoreply=False,
                  context=(("kind", kind), ("source", source), ("count", held), ("opened_at", opened_at),
                           ("closes_at", closes_at), ("labels", labels[:DIGEST_LABELS]),
                           ("more_labels", max(0, len(labels) - DIGEST_LABELS))))


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
    caps: FloodCaps = FloodCaps()
    # Our MX's authserv-ids: its Authentication-Results may veto a "how to join" reply.
    trusted_authserv_ids: frozenset[str] = frozenset()
    # service.late_ack_hours: a task that waited longer gets no "within 15 minutes" ack,
    # but its client one "we are back" notice later (docs/reliability.md case 35). 0: off.
    late_ack_hours: float = 0.0

    def calendar_for(self, client: ClientRef) -> object | None:
        return None if client.tariff in self.around_the_clock else self.calendar

    def deadline(self, arrived: datetime, client: ClientRef) -> datetime:
        return first_response_deadline(arrived, self.first_response_minutes, self.calendar_for(client))

    def language_of(self, email: str) -> str:
        return dict(self.staff_languages).get(email, self.default_language)


def staff_notification(event: str, mail: InboundMail, text: str, ticket: TicketRef | None,
                       client: ClientRef, policy: Policy, assignee: str | None) -> tuple[Notice, ...]:
    """The client's mail, forwarded to whoever works the ticket (docs/service-rules.md rule 2)."""
    recipients: list[str] = []
    if assignee:
        recipients.append(assignee)
    manager = ticket.manager_email if ticket else client.manager_email
    # A dedicated ("One") client's work goes to that assistant only.
    if not (client.assistant_email and assignee == client.assistant_email) and manager not in recipients:
        recipients.append(manager)
    return tuple(
        Notice(template=kinds.STAFF_TICKET, to=(who,), language=policy.language_of(who), autoreply=False,
               context=(("event", event), ("by", ""), ("text", text)), attachments=mail.attachments,
               in_reply_to=mail.message_id)
        for who in recipients
    )


def decide(route: Route, mail: InboundMail, view: RouteView, arrived: datetime, policy: Policy,
           text: str = "", now: datetime | None = None) -> Decision:
    """What one inbound mail changes and which mails it causes (staff notices within their caps).

    Notifications for staff who are away go to their deputies before the caps count them.
    `now` (the processing time) matters only for a task that waited past policy.late_ack_hours.
    """
    late = (now is not None and policy.late_ack_hours > 0
            and (now - arrived).total_seconds() > policy.late_ack_hours * 3600)
    decision = cover_decision(_decide(route, mail, view, arrived, policy, text, late), view.absences, arrived,
                              dict(policy.staff_languages))
    decision = hold_undeliverable(decision, route.client)
    return coalesce_decision(decision, mail.from_addr, view, policy.caps)


def _decide(route: Route, mail: InboundMail, view: RouteView, arrived: datetime, policy: Policy,
            text: str, late: bool = False) -> Decision:
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
        if mx_saw_forgery(mail, policy.trusted_authserv_ids):
            # The sender is most likely forged: a reply would be backscatter to a bystander.
            return Decision(outcome="unknown-forged", route=route)
        if view.join_replies_last_hour >= policy.caps.join_replies:
            return Decision(outcome="unknown-capped", route=route)
        language = route.client.language if route.client else policy.default_language
        notice = Notice(template=kinds.JOIN, to=(mail.from_addr,), language=language,
                        context=(("inactive", route.client is not None),
                                 *((("invoice", view.open_invoice),) if view.open_invoice else ())),
                        in_reply_to=mail.message_id)
        return Decision(outcome="unknown-join", route=route, effects=(SendNotice(notice),))
    client = route.client
    assert client is not None
    if kind == "client_reply":
        ticket = route.ticket
        assert ticket is not None
        if route.reason:
            # An out-of-office on a ticket is kept in the timeline; nobody is bothered with it.
            return Decision(outcome="reply-automatic", route=route, effects=(
                RecordMessage(), RecordEvent("client-reply", f"automatic ({route.reason}) via {route.via}")))
        changes: dict[str, object] = {}
        events = [("client-reply", f"via {route.via}")]
        if ticket.first_response_due is None:
            # A reply that needs an answer starts the response clock again, from its arrival.
            changes.update(response_started_at=arrived, first_response_due=policy.deadline(arrived, client))
        if ticket.status in CLOSED_STATUSES - {"merged"} or ticket.status == "waiting":
            # The client wrote again: a closed ticket reopens, a waiting one has its answer.
            changes.update(status="open", closed_at=None, waiting_since=None)
            events.append(("reopened" if ticket.status != "waiting" else "answered", f"was {ticket.status}"))
            if ticket.status == "waiting" and ticket.due_at is not None:
                # A ticket in work (it has a due time) that asked the client goes back to work
                # with its due timers, not to `open` (#accept then #ask, or both in one mail).
                changes["status"] = "accepted"
                if ticket.waiting_since and policy.pause_due_while_waiting:
                    # The due time paused while we waited for the client.
                    changes["due_at"] = ticket.due_at + (arrived - ticket.waiting_since)
        return Decision(outcome="reply", route=route, effects=(
            SetFields(tuple(changes.items())), RecordMessage(), *(RecordEvent(*e) for e in events),
            *sends(staff_notification("reply", mail, text, ticket, client, policy, ticket.assignee_email)),
        ))
    # A new task: ticket, SLA clock from arrival, and an acknowledgement unless capped.
    notices: tuple[Notice, ...] = ()
    outcome = "new-ticket"
    events: tuple[RecordEvent, ...] = ()
    if late:
        # "Within 15 minutes" would be false: the client hears once, for all late tasks.
        outcome = "new-ticket-late"
        events = (RecordEvent("late-ack", f"arrived {arrived.isoformat(timespec='minutes')}"),)
    elif view.autoreplies_to_sender_24h < policy.autoreply_limit_per_day:
        # Still in the manager's name; while they are away the ack says until when, and who answers.
        absence = away(client.manager_email, view.absences, arrived)
        context = (("away_until", absence.until), ("deputy_email", absence.deputy)) if absence else ()
        notices = (Notice(template=kinds.ACK, to=(mail.from_addr,), language=client.language,
                          in_reply_to=mail.message_id, references=mail.references, context=context),)
    else:
        outcome = "new-ticket-ack-capped"
    assignee = client.assistant_email
    notices += staff_notification("new", mail, text, None, client, policy, assignee)
    return Decision(outcome=outcome, route=route, effects=(
        OpenTicket(policy.deadline(arrived, client), assignee, (("response_started_at", arrived),)),
        RecordMessage(), RecordEvent("created", "by mail"), *events, *sends(notices),
    ))
