"""After a payment, tickets waiting in `payment` whose expenses the deposit now covers resume
(core/resume.py decides which): the expense is charged, the top-up invoice is settled, the
ticket returns to its previous status with its timers, and the people working it are told.
Runs inside the payment's transaction, so a payment and what it resumes commit together.
"""

from __future__ import annotations

import logging
from datetime import datetime

from daemon.config import Settings
from daemon.core import notice_kinds as kinds
from daemon.core.absence import redirect
from daemon.core.billing import format_money
from daemon.core.model import Notice
from daemon.core.resume import PENDING, RESUMED, Resume, open_pendings, resume_plan
from daemon.render.notices import Notifier
from daemon.runners.timers import TimerPlanner
from store import absences, billing, waiting
from store.apply import add_event, record_outgoing, set_fields, sync_timers
from store.outbox import enqueue
from store.rows import Client, Ticket
from store.timers import unfired_timers

log = logging.getLogger("oneassist.billing")


def resume_paid_tickets(settings: Settings, notifier: Notifier, client: Client, now: datetime) -> list[str]:
    """Resume what the client's deposit now covers; the keys of the tickets resumed."""
    tickets = waiting.waiting_for_payment(client)
    if not tickets:
        return []
    queue = [(t.key, open_pendings(waiting.events_of(t, (PENDING, RESUMED)))) for t in tickets]
    plan = resume_plan(queue, billing.deposit_of(client))
    by_key = {t.key: t for t in tickets}
    for resume in plan:
        ticket = by_key[resume.ticket_key]
        ticket.client = client
        _resume(settings, notifier, ticket, resume, now)
    return [resume.ticket_key for resume in plan]


def _resume(settings: Settings, notifier: Notifier, ticket: Ticket, resume: Resume, now: datetime) -> None:
    client = ticket.client
    for pending in resume.charges:
        billing.add_ledger(client, "expense", -pending.amount, f"{ticket.key}: {pending.what}", now, ticket=ticket)
    settled = waiting.settle_topups(ticket, now)
    changes: tuple[tuple[str, object], ...] = (("status", resume.status),)
    if resume.status == "waiting":
        changes += (("waiting_since", now),)
    set_fields(ticket, changes, now)
    add_event(ticket, RESUMED, f"charged {resume.total} for " + "; ".join(p.what for p in resume.charges)
              + f"; deposit left {resume.deposit_left}; status {resume.status}"
              + (f"; top-up invoice {', '.join(settled)} settled" if settled else ""), now)
    sync_timers(ticket, TimerPlanner(settings), now, unfired_timers(ticket.id))
    tariff = settings.tariff(client.tariff)
    currency = tariff.currency if tariff else "RUB"
    languages = {m.email: m.language for m in settings.staff}
    covers = absences.active(now)
    workers = tuple(dict.fromkeys(w for w in (ticket.assignee_email, ticket.manager_email) if w))
    for who in dict.fromkeys(redirect(_notice(who, languages, settings, resume, currency), covers, now,
                                      languages) for who in workers):
        out = notifier.render(who, ticket, None, now)
        enqueue(out, now)
        record_outgoing(ticket, out, who.template, now)
    log.info("ticket=%s resumed after payment: charged %s, status %s", ticket.key, resume.total, resume.status)


def _notice(who: str, languages: dict[str, str], settings: Settings, resume: Resume, currency: str) -> Notice:
    language = languages.get(who, settings.service.language)
    return Notice(template=kinds.PAYMENT_RESUMED, to=(who,), language=language, autoreply=False,
                  context=(("charges", tuple((format_money(p.amount, currency, language), p.what)
                                             for p in resume.charges)),
                           ("deposit_left", format_money(resume.deposit_left, currency, language))))
