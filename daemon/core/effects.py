"""The effects a decision is made of: small frozen values, applied in order by store/apply.py.

A decision is `outcome`, `route` and a tuple of these. Each type has one handler in
store.apply.HANDLERS, so a new kind of change is one type here and one handler there.
Order matters and is the producer's: the ticket is opened (OpenTicket) or its fields set
before anything refers to it, an invoice is issued before the notice that names it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from daemon.core.model import InvoiceSpec, Notice, OneOffTimer, Route, TicketRef


@dataclass(frozen=True)
class OpenTicket:
    """A new ticket for the route's client, with these columns in its one INSERT."""

    first_response_due: datetime | None
    assignee_email: str | None = None
    fields: tuple[tuple[str, object], ...] = ()


@dataclass(frozen=True)
class SetFields:
    """(field, value) pairs written to the routed ticket."""

    changes: tuple[tuple[str, object], ...]


@dataclass(frozen=True)
class RecordMessage:
    """The inbound mail joins the ticket's timeline; `text` overrides the stored text."""

    direction: str = "in"
    text: str | None = None


@dataclass(frozen=True)
class RecordNote:
    """A staff note on the timeline, never sent to anyone."""

    text: str


@dataclass(frozen=True)
class RecordEvent:
    kind: str
    detail: str


@dataclass(frozen=True)
class SplitOff:
    """#split: a new ticket of the same client takes these mails (timeline row ids), with its
    own first-response clock from the first moved mail's arrival."""

    subject: str
    rows: tuple[int, ...] = ()
    response_started_at: datetime | None = None
    first_response_due: datetime | None = None
    # How many of `rows` are client mails: the timeline says so without counting them in apply.
    mails: int = 0


@dataclass(frozen=True)
class MergeInto:
    """#merge: the target's timeline says what was merged into it."""

    target: TicketRef


@dataclass(frozen=True)
class ReleaseQuota:
    """The ticket's quota count is given back."""


@dataclass(frozen=True)
class CountQuota:
    """The ticket counts in the quota period `period` ('this'/'next') starting at `period_start`."""

    period: str
    period_start: datetime
    forced: bool = False


@dataclass(frozen=True)
class LedgerEntry:
    kind: str
    amount: Decimal
    note: str


@dataclass(frozen=True)
class IssueInvoice:
    """An invoice numbered in the transaction; notices name it by its index among the decision's."""

    spec: InvoiceSpec


@dataclass(frozen=True)
class SendNotice:
    notice: Notice


@dataclass(frozen=True)
class HoldNotice:
    """A notice over its source's hourly cap: not sent, counted for the window's digest."""

    notice: Notice


@dataclass(frozen=True)
class MarkBounced:
    """A DSN about outbox row `outbox_id`: the row is bounced, the address's bounce counted,
    and with `mark_address` the client's address is marked undeliverable."""

    outbox_id: int
    address: str
    hard: bool
    status: str
    diagnostic: str
    mark_address: bool = False


@dataclass(frozen=True)
class PlanTimer:
    """A one-off timer a tag set (#remind), kept until it fires."""

    timer: OneOffTimer


Effect = (OpenTicket | SetFields | RecordMessage | RecordNote | RecordEvent | SplitOff | MergeInto
          | ReleaseQuota | CountQuota | LedgerEntry | IssueInvoice | SendNotice | HoldNotice | PlanTimer
          | MarkBounced)


@dataclass(frozen=True)
class Decision:
    """What to do with one inbound mail or fired timer: its outcome and the effects, in order.

    Nothing else: a question about it ("which notices?") is asked of its effects, `of(SendNotice)`.
    """

    outcome: str
    route: Route
    effects: tuple[Effect, ...] = ()

    def of(self, kind: type) -> tuple:
        """Its effects of one kind, in order."""
        return tuple(e for e in self.effects if isinstance(e, kind))


def sends(notices: tuple[Notice, ...] | list[Notice]) -> tuple[SendNotice, ...]:
    return tuple(SendNotice(n) for n in notices)
