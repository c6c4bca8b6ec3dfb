"""decide(): turn a Route into a Decision (ticket change + notices). Pure.

The rules of DESIGN section 1 for client mail live here: a new task opens a
ticket and gets one acknowledgement; a reply joins its ticket silently; an
unknown sender gets at most one "how to join" reply per 24 h; automatic mail
is never answered.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from daemon.core.sla import first_response_deadline
from daemon.model import Decision, InboundMail, Notice, Route, RouteView


@dataclass(frozen=True)
class Policy:
    first_response_minutes: float
    autoreply_limit_per_day: int
    default_language: str


def decide(route: Route, mail: InboundMail, view: RouteView, arrived: datetime, policy: Policy) -> Decision:
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
                        context=(("inactive", route.client is not None),))
        return Decision(outcome="unknown-join", route=route, notices=(notice,))
    client = route.client
    assert client is not None
    if kind == "client_reply":
        return Decision(
            outcome="reply" if not route.reason else "reply-automatic",
            route=route,
            record_message=True,
            events=(("client-reply", f"via {route.via}"),),
        )
    # A new task: ticket, SLA clock from arrival, and an acknowledgement unless capped.
    notices: tuple[Notice, ...] = ()
    outcome = "new-ticket"
    if view.autoreplies_to_sender_24h < policy.autoreply_limit_per_day:
        notices = (Notice(template="client.notice.ack", to=(mail.from_addr,), language=client.language),)
    else:
        outcome = "new-ticket-ack-capped"
    return Decision(
        outcome=outcome,
        route=route,
        create_ticket=True,
        record_message=True,
        notices=notices,
        first_response_due=first_response_deadline(arrived, policy.first_response_minutes),
        events=(("created", "by mail"),),
    )
