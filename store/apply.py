"""apply(): one transaction writes the ticket change, the timeline and the outbox rows.

A notice is rendered inside the transaction (the ticket key is allocated here).
A notice the template or the encoder cannot make comes back parked (the runner's
renderer, daemon/render/notices.py render_or_park): its outbox row is written
dead and the ticket change commits, so the client's mail is kept and its ticket
made (docs/reliability.md case 14).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import peewee

from daemon.core import effects as fx
from daemon.core import notice_kinds as kinds
from daemon.core.billing import money as to_money
from daemon.core.effects import Decision
from daemon.core.model import (
    IssuedInvoice,
    MoneyView,
    Notice,
    OneOffTimer,
    OutboundMail,
    TicketRef,
    is_one_off,
)
from parsers.mail import InboundMail
from store import floods, prepared
from store.apply_moves import add_event, create_ticket, merge_into, split_off
from store.apply_rows import (
    AttachmentRow,
    AutoReplyRow,
    MessageRow,
    SpoolDoneRow,
    TimerRow,
    _client_by_id,
    _delete_unfired,
    _insert_attachment,
    _insert_autoreply,
    _insert_message,
    _insert_timer,
    _spool_done,
    _ticket_by_id,
)
from store.db import database, to_db, write_transaction
from store.models import (
    Client,
    Ticket,
)
from store.once import notice_once
from store.outbox import enqueue
from store.queries import ticket_ref
from store.timers import UnfiredTimer, unfired_timers

# Renders a notice from the values given, reading nothing: the money view is the one read
# before the transaction, carried forward through the decision's effects.
Renderer = Callable[[Notice, Ticket | None, InboundMail | None, MoneyView | None], OutboundMail]
# Invoices asked for in a mail (top-ups, #invoice) are due in a week.
INVOICE_DUE = timedelta(days=7)
# The ticket as the pure core sees it, and its client's tariff code -> (kind, fire_at) wanted.
TimerPlanner = Callable[[TicketRef, str], Iterable[tuple[str, datetime]]]
CLOSED = ("done", "cancelled", "rejected", "merged", "closed")


class AlreadyIngested(Exception):
    """A concurrent writer stored the same mail first; the caller records a duplicate."""


class AlreadyProcessed(Exception):
    """Another worker finished this spool entry first; everything of this attempt rolled back."""


def record_outgoing(ticket: Ticket | None, mail: OutboundMail, subject: str, now: datetime) -> None:
    """Our own mails join the timeline, so replies to them thread by In-Reply-To."""
    if ticket is None:
        return
    prepared.execute_row(_insert_message, MessageRow(
        ticket=ticket.id, direction="out", kind=mail.kind, dedupe_key=None, message_id=mail.message_id,
        sender=mail.envelope_from, recipients="\n".join(mail.recipients), subject=subject, text="", spool=None,
        created_at=to_db(now)))


@dataclass(frozen=True)
class Applied:
    outcome: str
    ticket_key: str | None
    outbox_ids: tuple[int, ...]


def _record_inbound(effect: fx.RecordMessage, mail: InboundMail, ticket: Ticket, entry_id: int, *,
                    dedupe_key: str, stored_text: str, now: datetime) -> None:
    text = effect.text if effect.text is not None else stored_text
    try:
        with database.atomic():
            message_id = prepared.insert_row(_insert_message, MessageRow(
                ticket=ticket.id, direction=effect.direction, kind="mail", dedupe_key=dedupe_key,
                message_id=mail.message_id, sender=mail.from_addr, recipients="\n".join(mail.recipients),
                subject=mail.subject, text=text, spool=entry_id, created_at=to_db(now)))
    except peewee.IntegrityError:
        raise AlreadyIngested(dedupe_key) from None
    for att in mail.attachments:
        prepared.execute_row(_insert_attachment, AttachmentRow(
            message=message_id, filename=att.filename[:255], content_type=att.content_type[:255], size=att.size,
            sha256=att.sha256))


def set_fields(ticket: Ticket, changes: tuple[tuple[str, object], ...], now: datetime) -> None:
    new_status = dict(changes).get("status")
    if new_status is not None and new_status != ticket.status and ticket.id is not None:
        # State changes are part of the timeline `ticket show` prints.
        add_event(ticket, "status", f"{ticket.status} -> {new_status}", now)
    for name, value in changes:
        setattr(ticket, name, to_db(value) if isinstance(value, datetime) else value)
    if dict(changes).get("status") in CLOSED:
        ticket.closed_at = to_db(now)
    ticket.updated_at = to_db(now)
    # Only what changed: a full-row UPDATE is mostly peewee writing SQL for unchanged columns.
    ticket.save(only=ticket.dirty_fields)


def sync_timers(ticket: Ticket, planner: TimerPlanner | None, now: datetime,
                unfired: tuple[UnfiredTimer, ...]) -> None:
    """Replace the ticket's unfired timers (`unfired`, read before the decision) by what its state implies now.

    A deadline that is planned again keeps its row (unique ticket+kind+fire_at),
    so a timer that already fired is never created a second time.
    """
    if planner is None:
        return
    wanted = {(kind, to_db(at)) for kind, at in planner(ticket_ref(ticket), ticket.client.tariff)}
    for timer in unfired:
        # A one-off timer (#remind) is not derived from the state: it stays until it fires.
        if (timer.kind, timer.fire_at) not in wanted and not is_one_off(timer.kind):
            prepared.execute(_delete_unfired, timer.id)
    for kind, at in sorted(wanted):
        prepared.execute_row(_insert_timer, TimerRow(ticket=ticket.id, kind=kind, fire_at=at, created_at=to_db(now)))


def add_timers(ticket: Ticket, timers: tuple[OneOffTimer, ...], now: datetime) -> None:
    """The one-off timers a decision set; each fires once, whatever the ticket does meanwhile."""
    for timer in timers:
        prepared.execute_row(_insert_timer, TimerRow(
            ticket=ticket.id, kind=timer.kind, fire_at=to_db(timer.fire_at), created_at=to_db(now),
            data=json.dumps(dict(timer.data), ensure_ascii=False, sort_keys=True)))


def _send(notice: Notice, about: Ticket | None, mail: InboundMail | None, render: Renderer,
          now: datetime, money: MoneyView | None) -> int:
    out = render(notice, about, mail, money)
    outbox_id = enqueue(out, now)
    if out.parked:
        # Not rendered: the row is dead and sent to no one, so it is neither an outgoing
        # message of the ticket nor an autoreply; the timeline says what happened.
        add_event(about, "notice-parked", f"{notice.template}: outbox #{outbox_id}", now)
        return outbox_id
    record_outgoing(about, out, notice.template, now)
    if notice.autoreply:
        for address in notice.to:
            prepared.execute_row(_insert_autoreply,
                                 AutoReplyRow(address=address, kind=_autoreply_kind(notice), sent_at=to_db(now)))
    if notice.source:
        floods.count_sent(notice, now)
    return outbox_id


@dataclass
class _Txn:
    """What the handlers of one decision share inside its transaction."""

    mail: InboundMail | None
    now: datetime
    render: Renderer
    prefix: str | None
    held_label: str
    entry_id: int | None = None
    dedupe_key: str = ""
    stored_text: str = ""
    client_id: int | None = None
    ticket: Ticket | None = None
    split_ticket: Ticket | None = None
    merge_ticket: Ticket | None = None
    money: MoneyView | None = None
    # The routed ticket's unfired timers, read before the decision.
    timers: tuple[UnfiredTimer, ...] = ()
    invoices: list[IssuedInvoice] = field(default_factory=list)
    outbox_ids: list[int] = field(default_factory=list)


def _open_ticket(t: _Txn, e: fx.OpenTicket) -> None:
    assert t.mail is not None and t.prefix is not None and t.client_id is not None
    client = prepared.model(Client, _client_by_id, t.client_id)
    # One INSERT with every column the decision sets: no UPDATE right after it.
    t.ticket = create_ticket(client, t.mail.subject, t.prefix, t.now, e.first_response_due,
                             assignee_email=e.assignee_email, **dict(e.fields))


def _set_fields(t: _Txn, e: fx.SetFields) -> None:
    if t.ticket is not None:
        set_fields(t.ticket, e.changes, t.now)


def _record_message(t: _Txn, e: fx.RecordMessage) -> None:
    if t.ticket is not None and t.mail is not None and t.entry_id is not None:
        _record_inbound(e, t.mail, t.ticket, t.entry_id, dedupe_key=t.dedupe_key, stored_text=t.stored_text,
                        now=t.now)


def _record_note(t: _Txn, e: fx.RecordNote) -> None:
    if t.ticket is not None and e.text:
        prepared.execute_row(_insert_message, MessageRow(
            ticket=t.ticket.id, direction="note", kind="note", dedupe_key=None, message_id=None,
            sender=t.mail.from_addr if t.mail else "", recipients="", subject="", text=e.text, spool=None,
            created_at=to_db(t.now)))


def _record_event(t: _Txn, e: fx.RecordEvent) -> None:
    add_event(t.ticket, e.kind, e.detail, t.now)


def _split_off(t: _Txn, e: fx.SplitOff) -> None:
    if t.ticket is not None and t.prefix is not None and e.subject:
        t.split_ticket = split_off(t.ticket, e, t.prefix, t.now)


def _merge_into(t: _Txn, e: fx.MergeInto) -> None:
    if t.ticket is not None:
        t.merge_ticket = merge_into(t.ticket, e.target.id, t.now)


def _release_quota(t: _Txn, e: fx.ReleaseQuota) -> None:
    from store import billing

    if t.ticket is not None:
        billing.release_quota(t.ticket, t.now)
        t.money = t.money.released() if t.money else None


def _count_quota(t: _Txn, e: fx.CountQuota) -> None:
    from store import billing

    if t.ticket is not None:
        billing.count_quota(t.ticket, e.period_start, e.forced, t.now)
        t.money = t.money.counted(e.period_start) if t.money else None


def _ledger_entry(t: _Txn, e: fx.LedgerEntry) -> None:
    from store import billing

    if t.ticket is not None:
        billing.add_ledger(t.ticket.client_id, e.kind, e.amount, e.note, t.now, ticket=t.ticket)
        t.money = t.money.booked(e.amount) if t.money else None


def _issue_invoice(t: _Txn, e: fx.IssueInvoice) -> None:
    from store import billing

    if t.ticket is None:
        return
    spec, client = e.spec, t.ticket.client
    number = billing.issue_invoice(client, spec, spec.currency, t.now, t.now + INVOICE_DUE, ticket=t.ticket).number
    # The notice shows the invoice from these values and its number: nothing is read back.
    t.invoices.append(IssuedInvoice(number=number, kind=spec.kind, amount=to_money(spec.amount),
                                    currency=spec.currency, issued_at=t.now, due_at=t.now + INVOICE_DUE,
                                    lines=spec.lines, client_name=client.name, client_email=client.email))
    if t.money is not None:
        # issue_invoice() books the deposit that pays a renewal.
        t.money = t.money.booked(sum((total for *_, total in spec.lines if spec.kind == "renewal" and total < 0),
                                     Decimal("0.00")))


def _send_notice(t: _Txn, e: fx.SendNotice) -> None:
    notice = e.notice
    if not notice_once(notice, t.entry_id, t.now):
        return  # another daemon sent it (a join reply today, this mail's transcript)
    refs = dict(notice.context)
    if "invoice_ref" in refs:
        # The invoice got its number in this transaction; the notice now names it.
        notice = replace(notice, context=notice.context + (("invoice", t.invoices[refs["invoice_ref"]]),))
    about = {"split": t.split_ticket, "merge": t.merge_ticket}.get(notice.scope, t.ticket)
    t.outbox_ids.append(_send(notice, about, t.mail, t.render, t.now, t.money))


def _hold_notice(t: _Txn, e: fx.HoldNotice) -> None:
    # Over its hourly cap: the window's digest says it was held back, and about what.
    floods.count_held(e.notice, t.held_label, t.now)


def _mark_bounced(t: _Txn, e: fx.MarkBounced) -> None:
    from store import bounces

    bounces.mark_bounced(e, t.now)


def _plan_timer(t: _Txn, e: fx.PlanTimer) -> None:
    if t.ticket is not None:
        add_timers(t.ticket, (e.timer,), t.now)


# One small handler per kind of effect, run in the decision's order inside one transaction.
HANDLERS: dict[type, Callable[[_Txn, Any], None]] = {
    fx.OpenTicket: _open_ticket,
    fx.SetFields: _set_fields,
    fx.RecordMessage: _record_message,
    fx.RecordNote: _record_note,
    fx.RecordEvent: _record_event,
    fx.SplitOff: _split_off,
    fx.MergeInto: _merge_into,
    fx.ReleaseQuota: _release_quota,
    fx.CountQuota: _count_quota,
    fx.LedgerEntry: _ledger_entry,
    fx.IssueInvoice: _issue_invoice,
    fx.SendNotice: _send_notice,
    fx.HoldNotice: _hold_notice,
    fx.PlanTimer: _plan_timer,
    fx.MarkBounced: _mark_bounced,
}


def _run(decision: Decision, t: _Txn, planner: TimerPlanner | None) -> None:
    """Every effect by its handler, then the timers the ticket's new state implies."""
    for effect in decision.effects:
        HANDLERS[type(effect)](t, effect)
    # A ticket this decision opened (or split off) has no timers yet; a merge target's are
    # replaced whole by what its new state implies.
    for changed, unfired in ((t.ticket, t.timers), (t.split_ticket, ()), (t.merge_ticket, None)):
        if changed is not None:
            # A merge target is known only from the decision: its timers are read here (rare path).
            sync_timers(changed, planner, t.now, unfired_timers(changed.id) if unfired is None else unfired)


def apply(decision: Decision, mail: InboundMail, entry_id: int, *, dedupe_key: str,
          stored_text: str, prefix: str, now: datetime, render: Renderer,
          planner: TimerPlanner | None = None, money: MoneyView | None = None,
          timers: tuple[UnfiredTimer, ...]) -> Applied:
    """Write everything the decision says, and mark the spool entry done, atomically.

    `money` and `timers` (the routed ticket's unfired timers, store.timers.unfired_timers)
    are read before the decision: apply writes and reads nothing back.
    """
    with write_transaction():
        route, opens = decision.route, decision.of(fx.OpenTicket)
        t = _Txn(mail=mail, now=now, render=render, prefix=prefix, held_label=f"spool #{entry_id}",
                 entry_id=entry_id, dedupe_key=dedupe_key, stored_text=stored_text,
                 client_id=route.client.id if route.client else None, money=money,
                 timers=() if opens else timers)
        if not opens and route.ticket is not None:
            t.ticket = prepared.model(Ticket, _ticket_by_id, route.ticket.id)
            # The notices read the client: one prepared SELECT instead of peewee's lazy one.
            t.ticket.client = prepared.model(Client, _client_by_id, t.ticket.client_id)
            t.held_label = t.ticket.key
            if not decision.of(fx.SetFields):
                # A mail on a ticket touches it even when it changes no field.
                set_fields(t.ticket, (), now)
        if opens:
            # The ticket is opened first: every other effect is about it.
            _open_ticket(t, opens[0])
            t.held_label = t.ticket.key if t.ticket else t.held_label
            decision = replace(decision, effects=tuple(e for e in decision.effects
                                                        if not isinstance(e, fx.OpenTicket)))
        _run(decision, t, planner)
        ticket = t.ticket
        marked = prepared.execute_row(_spool_done, SpoolDoneRow(
            state="done" if ticket else "ignored", outcome=decision.outcome, message_id=mail.message_id,
            sender=mail.from_addr, ticket=ticket.id if ticket else None, processed_at=to_db(now),
            entry_id=entry_id)).rowcount
        if not marked:
            raise AlreadyProcessed(entry_id)
    return Applied(decision.outcome, ticket.key if ticket else None, tuple(t.outbox_ids))


def apply_timer(decision: Decision, ticket: Ticket, now: datetime, render: Renderer,
                planner: TimerPlanner | None, money: MoneyView | None = None, *,
                timers: tuple[UnfiredTimer, ...]) -> list[int]:
    """A fired timer's decision; the caller holds the transaction that claimed the timer and
    read the ticket's other unfired `timers` in it."""
    t = _Txn(mail=None, now=now, render=render, prefix=None, held_label=ticket.key, ticket=ticket, money=money,
             timers=timers)
    _run(decision, t, planner)
    return t.outbox_ids


def _autoreply_kind(notice: Notice) -> str:
    return {kinds.ACK: "ack", kinds.JOIN: "join"}.get(notice.template, notice.template)
