"""decide_bounce(): a DSN to one of our VERP senders -> what it changes. Pure.

Only a DSN whose envelope address carries a valid mac names an outbox row (parsers/verp.py);
any other bounce is dropped as before, so a forged DSN changes nothing. A failure marks
that row bounced, puts it on the ticket's timeline and tells the client's manager that the
client did not receive the mail; the N-th hard bounce of an address marks it undeliverable
(`client show`). A row is marked once: a second DSN about it changes nothing
(docs/reliability.md cases 12, 17).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from daemon.core import notice_kinds as kinds
from daemon.core.effects import Decision, Effect, MarkBounced, RecordEvent, SendNotice
from daemon.core.model import ClientRef, Notice, Route, TicketRef
from parsers.dsn import DsnReport

NOTICE = kinds.BOUNCED


@dataclass(frozen=True)
class SentMail:
    """The outbox row a verified DSN names, as the store has it."""

    outbox_id: int
    kind: str
    recipients: tuple[str, ...]
    created_at: datetime
    bounced: bool
    ticket: TicketRef | None = None
    client: ClientRef | None = None
    # Hard bounces of each recipient address recorded so far.
    hard_bounces: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class BouncePolicy:
    hard_bounce_limit: int
    language_of: Callable[[str], str]


def decide_bounce(route: Route, sent: SentMail | None, report: DsnReport, policy: BouncePolicy) -> Decision:
    if sent is None:
        # A valid mac for a row that no longer exists (or never did): nothing to mark.
        return Decision(outcome="bounce", route=route)
    routed = Route("bounce", via="verp", ticket=sent.ticket, client=sent.client, reason="delivery status notification")
    # The report's recipient only counts if we sent to it: its text is the remote MTA's.
    address = report.recipient if report.recipient in sent.recipients else sent.recipients[0]
    what = f"{sent.kind} #{sent.outbox_id} to {address}"
    code = " ".join(part for part in (report.status, report.diagnostic) if part) or "no reason given"
    if not report.failed:
        return Decision(outcome="bounce-report", route=routed, effects=(
            RecordEvent("delivery-report", f"{what}: {report.action or 'report'} ({code})"),))
    if sent.bounced:
        return Decision(outcome="bounce-repeat", route=routed)
    before = dict(sent.hard_bounces).get(address, 0)
    mark = report.hard and before + 1 >= policy.hard_bounce_limit and before < policy.hard_bounce_limit
    effects: list = [
        MarkBounced(sent.outbox_id, address, report.hard, report.status, report.diagnostic, mark),
        RecordEvent("bounce", f"{what} was not delivered ({'hard' if report.hard else 'soft'}): {code}"),
    ]
    if mark:
        effects.append(RecordEvent("undeliverable", f"{address}: {before + 1} hard bounce(s), marked undeliverable"))
    manager = sent.ticket.manager_email if sent.ticket else (sent.client.manager_email if sent.client else "")
    if sent.kind.startswith("client.") and manager:
        effects.append(SendNotice(Notice(
            template=NOTICE, to=(manager,), language=policy.language_of(manager), autoreply=False,
            context=(("address", address), ("sent_kind", sent.kind), ("outbox_id", sent.outbox_id),
                     ("sent_at", sent.created_at), ("reason", code), ("hard", report.hard),
                     ("marked", mark), ("hard_bounces", before + int(report.hard))))))
    return Decision(outcome="bounce-recorded", route=routed, effects=tuple(effects))


def hold_undeliverable(decision: Decision, client: ClientRef | None) -> Decision:
    """Automatic client mail (an ack, a reminder) to an address marked undeliverable is not sent:
    the timeline says so instead (docs/reliability.md case 17: after its hard bounces, no more notices to it).

    Called on the decisions of client mail and timers only; a staff member's answer still goes.
    """
    if client is None or not client.undeliverable:
        return decision
    marked = set(client.undeliverable)
    effects: list[Effect] = []
    for effect in decision.effects:
        notice = effect.notice if isinstance(effect, SendNotice) else None
        if notice is not None and notice.template.startswith("client.") and set(notice.to) <= marked:
            effects.append(RecordEvent("not-sent", f"{notice.template} to {', '.join(notice.to)}: the address "
                                                   "is marked undeliverable after its hard bounces"))
        else:
            effects.append(effect)
    return Decision(outcome=decision.outcome, route=decision.route, effects=tuple(effects))
