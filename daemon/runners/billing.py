"""Billing actions that touch the store and the outbox: invoices on request and on
renewal, payments, reminders and suspension. Each runs in one transaction with the
mail it causes, like the pipeline's apply step.
"""

from __future__ import annotations

import logging
from collections import Counter as Tally
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from daemon.config import Settings
from daemon.core import notice_kinds as kinds
from daemon.core.billing import invoice_lines, money, parse_amount
from daemon.core.model import InvoiceSpec, Notice
from daemon.core.quota import local_midnight
from daemon.core.subscription import NO_PERIOD, period_after, renewal_due
from daemon.render.notices import Notifier
from parsers.addresses import normalize
from store import billing
from store.apply import add_event
from store.clients import extend_paid_until
from store.db import from_db, write_transaction
from store.once import claim_once, renewal_key, suspension_key
from store.outbox import enqueue
from store.queries import client_by_address
from store.rows import Client, Invoice

log = logging.getLogger("oneassist.billing")


def client_or_fail(email: str) -> Client:
    client = client_by_address(normalize(email) or email)
    if client is None:
        raise ValueError(f"no client with address {email!r} (see: oneassist client list)")
    return client


def next_subscription_period(settings: Settings, client: Client) -> tuple[datetime, datetime] | None:
    """The period after the client's paid-until day, from their own start date (core/subscription.py),
    as local midnights (end exclusive); None for a tariff without periods."""
    tariff = settings.tariff(client.tariff)
    if client.paid_until is None or client.subscription_start is None or \
            (tariff is not None and tariff.billing_period == NO_PERIOD):
        return None
    first, last = period_after(client.subscription_start, client.paid_until)
    tz = settings.service.timezone
    return local_midnight(first, tz), local_midnight(last + timedelta(days=1), tz)


def sync_paid_until(settings: Settings, client: Client) -> None:
    """A paid renewal invoice moves the client's paid-until day to the end of its period."""
    end = billing.latest_paid_renewal_end(client)
    if end is not None:
        last_day = (end.astimezone(settings.service.timezone) - timedelta(days=1)).date()
        if extend_paid_until(client, last_day):
            log.info("client=%s paid until %s", client.id, last_day.isoformat())


def renewal_spec(settings: Settings, client: Client, period: tuple[datetime, datetime]) -> InvoiceSpec:
    tariff = settings.tariff(client.tariff)
    if tariff is None:
        raise ValueError(f"client {client.email} has tariff {client.tariff!r}, which is not in [[tariffs]]")
    totals = invoice_lines("renewal", tariff.price, client.language, tariff_name=tariff.name,
                           period=(period[0].date(), period[1].date()), deposit=billing.deposit_of(client),
                           deposit_pays_tariff=bool(client.deposit_pays_tariff))
    return InvoiceSpec("renewal", totals.total, tuple((ln.description, ln.qty, ln.unit_price, ln.total)
                                                      for ln in totals.lines), period=period,
                       currency=tariff.currency)


def topup_spec(settings: Settings, client: Client, amount: Decimal, note: str) -> InvoiceSpec:
    tariff = settings.tariff(client.tariff)
    totals = invoice_lines("topup", amount, client.language, note=note)
    return InvoiceSpec("topup", totals.total, tuple((ln.description, ln.qty, ln.unit_price, ln.total)
                                                    for ln in totals.lines),
                       currency=tariff.currency if tariff else "RUB")


def _mail(notifier: Notifier, client: Client, template: kinds.NoticeKind, now: datetime,
          context: tuple[tuple[str, object], ...]) -> None:
    notice = Notice(template=template, to=(client.email,), language=client.language, autoreply=False,
                    context=(("client_name", client.name), ("manager_name", notifier.staff_name(client.manager_email)),
                             *context))
    enqueue(notifier.render(notice, None, None, now), now)


def issue(settings: Settings, notifier: Notifier, client: Client, spec: InvoiceSpec, now: datetime,
          due: datetime, reason: str = "", *, once: bool = False) -> Invoice | None:
    """Number the invoice and queue its mail (text + HTML + PDF), in one transaction.

    With `once` a renewal is issued only if none was for its client and period (the
    once-key, store/once.py): None when another daemon or pass did it first."""
    with write_transaction():
        key = renewal_key(client.id, spec.period[0]) if spec.kind == "renewal" and spec.period else None
        if key is not None and not claim_once(key, now) and once:
            return None
        invoice = billing.issue_invoice(client, spec, spec.currency, now, due)
        if spec.amount > 0:
            _mail(notifier, client, kinds.INVOICE, now, (("invoice_id", invoice.id), ("reason", reason)))
        else:
            # Paid in full from the deposit at issue: the subscription is paid on.
            sync_paid_until(settings, client)
    log.info("invoice=%s client=%s kind=%s issued", invoice.number, client.id, invoice.kind)
    return invoice


def issue_on_request(settings: Settings, notifier: Notifier, email: str, amount: str | None,
                     now: datetime) -> dict[str, Any]:
    client = client_or_fail(email)
    if amount:
        spec = topup_spec(settings, client, parse_amount(amount), "")
        invoice = issue(settings, notifier, client, spec, now, now + timedelta(days=7))
    else:
        nxt = next_subscription_period(settings, client)
        if nxt is None:
            raise ValueError(f"client {client.email} has no subscription period to renew (a one-off tariff); "
                             "give an amount: invoice issue CLIENT --amount A")
        invoice = issue(settings, notifier, client, renewal_spec(settings, client, nxt), now, nxt[0])
    return invoice_dict(invoice)


def invoice_dict(invoice: Invoice) -> dict[str, Any]:
    return {"number": invoice.number, "client": invoice.client.email, "kind": invoice.kind,
            "amount": str(money(Decimal(str(invoice.amount)))), "currency": invoice.currency,
            "status": invoice.status, "issued_at": from_db(invoice.issued_at).isoformat(),
            "due_at": from_db(invoice.due_at).isoformat(),
            "paid_at": from_db(invoice.paid_at).isoformat() if invoice.paid_at else None}


def add_payment(settings: Settings, email: str, amount: str, now: datetime, *, to_deposit: bool,
                invoice_number: str | None) -> dict[str, Any]:
    client = client_or_fail(email)
    value = parse_amount(amount)
    with write_transaction():
        invoice = None
        if invoice_number:
            invoice = billing.open_invoice_by_number(client, invoice_number)
            if invoice is None:
                raise ValueError(f"no open invoice {invoice_number!r} of {client.email}")
        result = billing.record_payment(client, value, now, to_deposit=to_deposit, invoice=invoice)
        sync_paid_until(settings, client)
        add_event(None, "payment", f"client={client.id} amount={value} invoice={result['invoice'] or '-'}", now)
        # Tickets parked by a short deposit go on once it covers their expense (issue 12).
        from daemon.runners.resume import resume_paid_tickets

        result["resumed"] = resume_paid_tickets(settings, Notifier(settings), client, now)
        if result["resumed"]:
            result["deposit"] = str(billing.deposit_of(client))
    log.info("payment client=%s amount=%s invoice=%s reactivated=%s", client.id, value, result["invoice"] or "-",
             result["reactivated"])
    return result


def billing_tick(settings: Settings, notifier: Notifier, now: datetime) -> Tally[str]:
    """Renewal invoices, due-date reminders and suspensions; idempotent, safe to run often."""
    tally: Tally[str] = Tally()
    if settings.billing.auto_renewal:
        # Each client renews on their own date: `renewal_days` before their paid time runs out.
        today = now.astimezone(settings.service.timezone).date()
        for client in billing.active_clients():
            if client.paid_until is None or not renewal_due(today, client.paid_until, settings.billing.renewal_days):
                continue
            nxt = next_subscription_period(settings, client)
            if nxt is None or billing.issued_for_period(client, nxt[0]):
                continue
            if issue(settings, notifier, client, renewal_spec(settings, client, nxt), now, nxt[0],
                     once=True) is not None:
                tally["renewal"] += 1
    for invoice in billing.invoices_to_remind(now):
        with write_transaction():
            if billing.mark_reminded(invoice.id, now):
                _mail(notifier, invoice.client, kinds.INVOICE_REMINDER, now, (("invoice_id", invoice.id),))
                tally["reminder"] += 1
    grace = timedelta(days=settings.billing.grace_days)
    for invoice in billing.unpaid_past(now - grace):
        client = invoice.client
        with write_transaction():
            # One suspension and one notice, whichever daemon or pass comes first.
            if not claim_once(suspension_key(client.id, invoice.id), now) or not billing.suspend(client, now):
                continue
            _mail(notifier, client, kinds.SUSPENDED, now, (("invoice_id", invoice.id),))
            add_event(None, "suspended", f"client={client.id} invoice={invoice.number}", now)
        log.warning("client=%s suspended: invoice %s unpaid past the grace period", client.id, invoice.number)
        tally["suspended"] += 1
    return tally
