"""Frozen value types of the pure core, shared with the store and the edges.

Nothing here does I/O: these are the nouns the pipeline passes between its
stages (InboundMail -> Route -> Decision -> OutboundMail). The parsed mail itself
(InboundMail, Attachment) belongs to the layer that makes it: parsers/mail.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal

from daemon.core.notice_kinds import NoticeKind
from parsers.mail import Attachment


@dataclass(frozen=True)
class OutboundMail:
    """A mail ready for the outbox: fully rendered, with a Message-ID chosen before sending."""

    message_id: str
    envelope_from: str
    recipients: tuple[str, ...]
    raw: bytes = field(repr=False)
    kind: str = "notice"
    ticket_id: int | None = None
    # Non-empty: the notice could not be rendered or encoded (the reason, no mail content);
    # its outbox row is written dead, with no body (docs/reliability.md case 14).
    parked: str = ""


@dataclass(frozen=True)
class ClientRef:
    id: int
    email: str
    name: str
    tariff: str
    manager_email: str
    language: str
    active: bool
    addresses: tuple[str, ...]
    assistant_email: str | None = None
    # Addresses marked undeliverable after their hard bounces: no automatic mail to them.
    undeliverable: tuple[str, ...] = ()


@dataclass(frozen=True)
class TicketRef:
    id: int
    key: str
    client_id: int
    subject: str
    subject_norm: str
    status: str
    manager_email: str
    created_at: datetime
    assignee_email: str | None = None
    due_at: datetime | None = None
    first_response_at: datetime | None = None
    first_response_due: datetime | None = None
    response_started_at: datetime | None = None
    waiting_since: datetime | None = None
    breached_at: datetime | None = None


@dataclass(frozen=True)
class ClientMail:
    """One client mail of a ticket, numbered as `ticket show` numbers them (1 = the first).

    `followers`: our mails sent right after it (its staff notifications, an ack), as
    (row id, Message-ID): a staff answer to one of them is about this mail, and a #split
    moves them with it so that replies to them thread to the new ticket.
    """

    number: int
    row_id: int
    message_id: str | None
    at: datetime
    subject: str
    followers: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True)
class ThreadInfo:
    """What a staff decision needs to know of a ticket's conversation."""

    client: ClientRef
    # Message-IDs of the ticket, oldest first: the References of a relayed answer.
    message_ids: tuple[str, ...]
    last_client_message_id: str | None
    last_client_entry_id: int | None
    last_client_subject: str
    billing: BillingView | None = None
    client_mails: tuple[ClientMail, ...] = ()


@dataclass(frozen=True)
class BillingView:
    """The client's quota and money as a staff decision sees them."""

    quota: int | None
    used_this: int
    used_next: int
    this_period: tuple[datetime, datetime]
    next_period: tuple[datetime, datetime]
    deposit: Decimal
    currency: str
    tariff_name: str
    tariff_price: Decimal
    deposit_pays_tariff: bool
    # Whether this ticket is counted in a quota period now.
    ticket_counted: bool
    # (amount, what) charged on this ticket so far.
    expenses: tuple[tuple[Decimal, str], ...] = ()


@dataclass(frozen=True)
class Absence:
    """A staff member away until `until` (exclusive), with `deputy` standing in (core/absence.py)."""

    email: str
    deputy: str
    until: datetime

    def active(self, now: datetime) -> bool:
        return now < self.until


@dataclass(frozen=True)
class RouteView:
    """The read-only snapshot of the store that a routing decision may look at.

    Built by store.queries.route_view() in one read; the router sees nothing else.
    """

    sender_client: ClientRef | None
    sender_is_staff: bool
    token_ticket: TicketRef | None
    thread_tickets: tuple[TicketRef, ...]
    tag_ticket: TicketRef | None
    subject_candidates: tuple[TicketRef, ...]
    already_ingested: bool
    autoreplies_to_sender_24h: int
    join_notices_to_sender_24h: int
    # A valid staff reply token (different secret from the clients' token) names this ticket.
    staff_token_ticket: TicketRef | None = None
    # Tickets named in staff tags (#merge OA-N), by key.
    named_tickets: tuple[TicketRef, ...] = ()
    # The conversation of the ticket a staff mail is about (filled in after routing).
    thread: ThreadInfo | None = None
    # A suspended sender's oldest open invoice, sent with the "subscription inactive" reply.
    open_invoice: IssuedInvoice | None = None
    # Flood caps (filled in by the pipeline from store.queries): notices of this mail's
    # source sent in their open hour window, as (kind, recipients joined by LF, count),
    # and "how to join" replies sent to anyone in the last hour.
    notices_this_hour: tuple[tuple[str, str, int], ...] = ()
    join_replies_last_hour: int = 0
    # (Message-ID, ticket) for each Message-ID of In-Reply-To/References that the desk itself
    # minted for a mail it sent; filled in for staff mail only. Clients choose their own
    # Message-IDs (two can share one), so staff mail is threaded by these alone.
    minted_tickets: tuple[tuple[str, TicketRef], ...] = ()
    # Staff away at the time of the mail, and who stands in (`oneassist staff away`).
    absences: tuple[Absence, ...] = ()


@dataclass(frozen=True)
class Route:
    """Who sent a mail and where it belongs.

    kind: client_new | client_reply | staff | unknown | automatic | loop |
          bounce | duplicate | unreadable (no sender address could be read: quarantined)
    via: how the ticket was found (token, staff-token, thread, subject-tag, subject, new) or ''.
    """

    kind: str
    via: str = ""
    client: ClientRef | None = None
    ticket: TicketRef | None = None
    reason: str = ""


@dataclass(frozen=True)
class Notice:
    """A mail the decision asks for; rendered from templates inside the apply transaction.

    `scope` says which ticket the notice is about: the routed one ('route') or the
    one a #split creates ('split'). Threading headers are chosen by the decision.
    """

    # Its kind: an entry of daemon/core/notice_kinds.py (or a tag's own), never a literal.
    template: NoticeKind
    to: tuple[str, ...]
    language: str
    autoreply: bool = True
    context: tuple[tuple[str, object], ...] = ()
    attachments: tuple[Attachment, ...] = ()
    scope: str = "route"
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    # Set on a capped kind (admin alerts, staff notifications): who caused it, so the
    # store counts it in that source's hour window.
    source: str = ""


@dataclass(frozen=True)
class InvoiceSpec:
    """An invoice a decision asks for; numbered inside the apply transaction."""

    kind: str  # renewal / topup
    amount: Decimal
    lines: tuple[tuple[str, int, Decimal, Decimal], ...]
    period: tuple[datetime, datetime] | None = None
    currency: str = "RUB"


# A timer a tag sets itself is named after the tag ("#remind"): the store keeps it across
# replans (only derived timers are replaced) and core/timers.fire() hands it to that tag.
ONE_OFF_PREFIX = "#"


def is_one_off(kind: str) -> bool:
    return kind.startswith(ONE_OFF_PREFIX)


@dataclass(frozen=True)
class OneOffTimer:
    """A timer at a time a staff mail named (#remind +2h), not one derived from the ticket's state.

    `kind` is ONE_OFF_PREFIX + the tag's name; `data` is what its firing needs, as text.
    """

    kind: str
    fire_at: datetime
    data: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class MoneyView:
    """A client's quota count and deposit, read before a decision is applied.

    apply() carries it forward through the decision's own effects (a count, a release, a
    ledger line), so a notice rendered in the transaction shows the values after the
    decision without reading them back.
    """

    period_start: datetime
    quota: int | None
    quota_used: int
    deposit: Decimal
    currency: str
    # The quota period the ticket is counted in now, if any: what a release gives back.
    ticket_counted_in: datetime | None = None

    def counted(self, period_start: datetime) -> MoneyView:
        if period_start != self.period_start:
            return self
        return replace(self, quota_used=self.quota_used + 1)

    def released(self) -> MoneyView:
        if self.ticket_counted_in != self.period_start:
            return replace(self, ticket_counted_in=None)
        return replace(self, quota_used=max(0, self.quota_used - 1), ticket_counted_in=None)

    def booked(self, amount: Decimal) -> MoneyView:
        return replace(self, deposit=self.deposit + amount)


@dataclass(frozen=True)
class IssuedInvoice:
    """An invoice as issued in the transaction: what its notice and PDF show."""

    number: str
    kind: str
    amount: Decimal
    currency: str
    issued_at: datetime
    due_at: datetime
    lines: tuple[tuple[str, int, Decimal, Decimal], ...]
    client_name: str
    client_email: str
