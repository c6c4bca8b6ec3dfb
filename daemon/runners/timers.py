"""tick(): fire every timer whose time has passed, each in its own transaction.

Deadlines live in the store (store.models.Timer), so a restarted daemon sends
each reminder, escalation and notice exactly once, and one that was down past
a deadline sends what is owed on its first tick. The `schedule` package only
decides when tick() runs; `now` comes from the injected clock.
"""

from __future__ import annotations

import logging
from collections import Counter as Tally
from collections.abc import Iterable
from datetime import datetime

from daemon.clock import Clock
from daemon.config import Settings
from daemon.core.effects import HoldNotice, ReleaseQuota, SendNotice
from daemon.core.model import TicketRef
from daemon.core.timers import TimerPolicy, alert_source, fire, plan
from daemon.core.workflow import FloodCaps, digest_notice
from daemon.render.notices import Notifier, render_or_park
from store import absences, floods, once, queries
from store.apply import apply_timer
from store.db import from_db, write_transaction
from store.once import claim_once, timer_key
from store.outbox import enqueue
from store.rows import NoticeWindow
from store.timers import BATCH, DueTimer, claim_timer, due_timers, unfired_timers

log = logging.getLogger("oneassist.scheduler")

def flood_caps(settings: Settings) -> FloodCaps:
    """The configured hourly caps (issue 9): one place for the scheduler and the outbox."""
    service = settings.service
    return FloodCaps(alerts_per_source=service.alerts_per_source_per_hour,
                     staff_notifications_per_source=service.staff_notifications_per_source_per_hour,
                     join_replies=service.join_replies_per_hour)


def timer_policy(settings: Settings) -> TimerPolicy:
    sla = settings.sla
    escalate = tuple(m.email for m in settings.admins) + ((sla.backup_manager,) if sla.backup_manager else ())
    return TimerPolicy(
        reminder_minutes=sla.reminder_minutes, due_warning_minutes=sla.due_warning_minutes,
        client_notice_minutes=sla.client_notice_minutes, client_reminder_days=sla.client_reminder_days,
        auto_close_days=sla.auto_close_days,
        staff_languages=tuple((m.email, m.language) for m in settings.staff),
        escalate_to=tuple(dict.fromkeys(escalate)), default_language=settings.service.language,
        caps=flood_caps(settings),
    )


def calendar_for(settings: Settings, tariff_code: str) -> object | None:
    tariff = settings.tariff(tariff_code)
    return None if tariff is not None and tariff.around_the_clock else settings.sla.calendar


class TimerPlanner:
    """The ticket's core view -> the pure plan(); handed to store.apply so every change replans."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.policy = timer_policy(settings)

    def __call__(self, ticket: TicketRef, tariff_code: str) -> Iterable[tuple[str, datetime]]:
        return plan(ticket, self.policy, calendar_for(self.settings, tariff_code))


class Scheduler:
    def __init__(self, settings: Settings, clock: Clock, notifier: Notifier) -> None:
        self.settings = settings
        self.clock = clock
        self.notifier = notifier
        self.planner = TimerPlanner(settings)

    def fire_one(self, timer: DueTimer, now: datetime) -> str:
        with write_transaction():
            if not claim_timer(timer.id, now) or not claim_once(timer_key(timer.id), now):
                return "taken"
            ticket = queries.ticket_by_id(timer.ticket_id)
            ref, thread = queries.ticket_ref(ticket), queries.thread_info(ticket.id)
            # Read in the transaction that counts: two ticks cannot both take the last slot.
            sent = queries.notices_this_hour(alert_source(ref, thread), now)
            # The timers the replan replaces (this one is claimed: fired, so not among them).
            timers = unfired_timers(ticket.id)
            decision = fire(timer.kind, timer.fire_at, ref, thread, now, self.planner.policy, sent,
                            data=timer.data, absences=absences.active(now))
            money = (self.notifier.money_view(thread.client.id, thread.client.tariff, now,
                                              ticket.id if decision.of(ReleaseQuota) else None)
                     if decision.of(SendNotice) else None)
            # A notice that cannot be rendered is parked dead, not a timer that fails every
            # tick (docs/reliability.md case 14).
            apply_timer(decision, ticket, now, lambda n, t, m, v: render_or_park(self.notifier, n, t, m, now, v),
                        self.planner, money, timers=timers)
        late = (now - timer.fire_at).total_seconds()
        log.info("timer=%s ticket=%s kind=%s outcome=%s%s%s", timer.id, ticket.key, timer.kind, decision.outcome,
                 f" late={late:.0f}s" if late > 60 else "",
                 f" held={len(decision.of(HoldNotice))}" if decision.of(HoldNotice) else "")
        return decision.outcome

    def send_digest(self, window: NoticeWindow, now: datetime) -> bool:
        """One digest for a closed window that held notices back; False when already sent."""
        with write_transaction():
            if not floods.claim_digest(window.id, now):
                return False
            notice = digest_notice(window.kind, window.source, tuple(window.recipients.split("\n")),
                                   window.language, window.held, from_db(window.opened_at),
                                   from_db(window.closes_at), tuple(x for x in window.labels.split("\n") if x))
            enqueue(self.notifier.render(notice, None, None, now), now)
        log.info("digest window=%s kind=%s held=%s", window.id, window.kind, window.held)
        return True

    def digests(self, now: datetime) -> Tally[str]:
        """Digests owed by hour windows that closed; the rows stay until pruned, so a restart resends none."""
        tally: Tally[str] = Tally()
        for window in floods.due_digests(now):
            try:
                if self.send_digest(window, now):
                    tally["digest"] += 1
            except Exception:  # noqa: BLE001 - one bad digest must not stop timers or the others
                log.exception("digest window=%s failed; it stays due", window.id)
                tally["error"] += 1
        with write_transaction():
            floods.prune(now)
            once.prune(now)
        return tally

    def tick(self) -> Tally[str]:
        """One pass: everything due now (timers, then flood digests). Returns outcome counts."""
        now = self.clock.now()
        tally = self.timers(now)
        tally.update(self.digests(now))
        return tally

    def timers(self, now: datetime) -> Tally[str]:
        tally: Tally[str] = Tally()
        while True:
            # One commit for the pass; each timer is its own savepoint, so a failing one
            # rolls back alone and stays due for the next tick.
            with write_transaction():
                timers = due_timers(now)
                for timer in timers:
                    try:
                        tally[self.fire_one(timer, now)] += 1
                    except Exception:  # noqa: BLE001 - one bad timer must not stop the others
                        log.exception("timer=%s failed; it stays due and is retried next tick", timer.id)
                        tally["error"] += 1
            if len(timers) < BATCH or tally["error"]:
                return tally
