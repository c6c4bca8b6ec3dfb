"""Reading a Decision in tests: one question about its effects at a time.

A Decision is its outcome, its route and its effects (daemon/core/effects.py), with no
other fields; these helpers ask the common questions of the effects so assertions stay
one line. Anything rarer is asked with `one(d, SomeEffect)` or `d.of(SomeEffect)`.
"""

from __future__ import annotations

from daemon.core import effects as fx
from daemon.core.effects import Decision
from daemon.core.model import InvoiceSpec, Notice, OneOffTimer


def notices(d: Decision) -> tuple[Notice, ...]:
    """The notices it sends, in order."""
    return tuple(e.notice for e in d.of(fx.SendNotice))


def held(d: Decision) -> tuple[Notice, ...]:
    """The notices it holds back for a flood window's digest."""
    return tuple(e.notice for e in d.of(fx.HoldNotice))


def events(d: Decision) -> tuple[tuple[str, str], ...]:
    return tuple((e.kind, e.detail) for e in d.of(fx.RecordEvent))


def ticket_changes(d: Decision) -> tuple[tuple[str, object], ...]:
    """(field, value) it writes to the ticket: a new ticket's columns, then every SetFields."""
    opened = one(d, fx.OpenTicket)
    return (opened.fields if opened else ()) + tuple(pair for e in d.of(fx.SetFields) for pair in e.changes)


def timers(d: Decision) -> tuple[OneOffTimer, ...]:
    return tuple(e.timer for e in d.of(fx.PlanTimer))


def invoices(d: Decision) -> tuple[InvoiceSpec, ...]:
    return tuple(e.spec for e in d.of(fx.IssueInvoice))


def ledger(d: Decision) -> tuple[tuple[str, object, str], ...]:
    return tuple((e.kind, e.amount, e.note) for e in d.of(fx.LedgerEntry))


def one(d: Decision, kind: type):
    """The decision's only effect of `kind`, or None; two of them fail the test."""
    found = d.of(kind)
    assert len(found) <= 1, f"{len(found)} effects of {kind.__name__}: {found}"
    return found[0] if found else None


def has(d: Decision, kind: type) -> bool:
    return bool(d.of(kind))


def note_text(d: Decision) -> str:
    """The staff note it records (one at most), or ""."""
    return "\n".join(e.text for e in d.of(fx.RecordNote))
