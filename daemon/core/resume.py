"""A ticket waiting in `payment` resumes when the deposit covers its pending #expense. Pure.

`#expense` with a short deposit charges nothing, mails a top-up invoice and parks the
ticket in status `payment` (docs/service-rules.md rule 7). The expense and the status it
left are written into the ticket's timeline as an `expense-pending` event; after a payment
(`payment add`) the runner reads those events back, and resume_plan() says which tickets
the new deposit now covers: their expenses are charged, each returns to the status it had,
and its manager is told. A ticket whose expenses the deposit does not cover yet waits on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from daemon.core.billing import money
from parsers.oneline import one_line

PENDING = "expense-pending"
RESUMED = "payment-resumed"
# The status a resumed ticket takes when the one before `payment` is not known.
FALLBACK_STATUS = "open"
_DETAIL = re.compile(r"amount=(?P<amount>[0-9.]+) previous=(?P<previous>[a-z-]+) what=(?P<what>.*)", re.S)


@dataclass(frozen=True)
class Pending:
    amount: Decimal
    what: str
    previous: str  # "" when the ticket already waited in `payment`


def pending_detail(amount: Decimal, what: str, previous: str) -> str:
    """The event detail `ticket show` prints, and parse_pending() reads back."""
    return f"amount={money(amount)} previous={previous if previous != 'payment' else '-'} what={one_line(what)}"


def parse_pending(detail: str) -> Pending | None:
    match = _DETAIL.fullmatch(detail)
    if match is None:
        return None
    try:
        amount = money(Decimal(match["amount"]))
    except InvalidOperation:
        return None
    previous = match["previous"]
    return Pending(amount, match["what"], "" if previous == "-" else previous)


def open_pendings(events: Iterable[tuple[str, str]]) -> list[Pending]:
    """The ticket's pending expenses since it last resumed, oldest first (events in time order)."""
    found: list[Pending] = []
    for kind, detail in events:
        if kind == RESUMED:
            found = []
        elif kind == PENDING and (pending := parse_pending(detail)) is not None:
            found.append(pending)
    return found


def status_after(pendings: list[Pending]) -> str:
    """The status the ticket had before its first pending expense parked it."""
    return next((p.previous for p in pendings if p.previous), FALLBACK_STATUS)


@dataclass(frozen=True)
class Resume:
    ticket_key: str
    charges: tuple[Pending, ...]
    status: str
    deposit_left: Decimal

    @property
    def total(self) -> Decimal:
        return sum((p.amount for p in self.charges), Decimal("0.00"))


def resume_plan(waiting: list[tuple[str, list[Pending]]], deposit: Decimal) -> list[Resume]:
    """The tickets (oldest first) whose pending expenses the deposit covers, each charged in full.

    A ticket is charged all or nothing; one the deposit does not cover is skipped, and a
    younger, cheaper one may still resume.
    """
    plan: list[Resume] = []
    for key, pendings in waiting:
        total = sum((p.amount for p in pendings), Decimal("0.00"))
        if not pendings or total > deposit:
            continue
        deposit -= total
        plan.append(Resume(key, tuple(pendings), status_after(pendings), money(deposit)))
    return plan
