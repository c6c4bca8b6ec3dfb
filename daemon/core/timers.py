"""Which deadlines a ticket has, and what happens when one passes. Pure.

plan() derives the ticket's timers from its state alone, so they can always be
rebuilt from the store after a restart; fire() turns one passed timer into a
Decision (reminders and escalations to staff, delay notices only to the
ticket's client), or into nothing when the ticket has moved on meanwhile.

Floods (issue 9): the staff alerts a timer raises are capped per client and hour
like every other alert (workflow.coalesce), so thirty forged tasks cost the staff
a few reminders and one digest, not ninety mails. What goes to the client (delay
notice, waiting reminder, auto-close) is never held: it keeps a promise made to them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from daemon.core import notice_kinds as kinds
from daemon.core.absence import cover_decision
from daemon.core.bounces import hold_undeliverable
from daemon.core.effects import Decision, RecordEvent, ReleaseQuota, SendNotice, SetFields, sends
from daemon.core.model import (
    ONE_OFF_PREFIX,
    Absence,
    Notice,
    Route,
    ThreadInfo,
    TicketRef,
    is_one_off,
)
from daemon.core.routing import CLOSED_STATUSES
from daemon.core.sla import add_working_time
from daemon.core.tags import TAGS, FiredTimer
from daemon.core.workflow import FloodCaps, cap_decision

# A timer fired this much after its time says so: the daemon was down (issue: "says it is late").
LATE_AFTER = timedelta(minutes=1)


@dataclass(frozen=True)
class TimerPolicy:
    reminder_minutes: float
    due_warning_minutes: float
    client_notice_minutes: float
    client_reminder_days: float
    auto_close_days: float
    # (email, language) of staff; admins and a backup manager get escalations.
    staff_languages: tuple[tuple[str, str], ...]
    escalate_to: tuple[str, ...]
    default_language: str
    caps: FloodCaps = FloodCaps()

    def language_of(self, email: str) -> str:
        return dict(self.staff_languages).get(email, self.default_language)


def plan(ticket: TicketRef, policy: TimerPolicy, calendar: object | None) -> tuple[tuple[str, datetime], ...]:
    """Every deadline the ticket's present state implies."""
    timers: list[tuple[str, datetime]] = []
    if ticket.status in CLOSED_STATUSES:
        return ()
    if ticket.first_response_due is not None and ticket.response_started_at is not None:
        timers.append(("sla-reminder", add_working_time(
            ticket.response_started_at, timedelta(minutes=policy.reminder_minutes), calendar)))
        timers.append(("sla-breach", ticket.first_response_due))
    if ticket.status == "accepted" and ticket.due_at is not None:
        # Due-time warnings count wall-clock time: the promise to the client is a clock time.
        timers.append(("due-warning", ticket.due_at - timedelta(minutes=policy.due_warning_minutes)))
        timers.append(("due-client-notice", ticket.due_at - timedelta(minutes=policy.client_notice_minutes)))
    if ticket.status == "waiting" and ticket.waiting_since is not None:
        timers.append(("client-reminder", ticket.waiting_since + timedelta(days=policy.client_reminder_days)))
        timers.append(("auto-close", ticket.waiting_since + timedelta(days=policy.auto_close_days)))
    return tuple(timers)


def _workers(ticket: TicketRef) -> tuple[str, ...]:
    return tuple(dict.fromkeys(e for e in (ticket.assignee_email, ticket.manager_email) if e))


def _staff(template: kinds.NoticeKind, to: tuple[str, ...], policy: TimerPolicy, context: tuple) -> tuple[Notice, ...]:
    return tuple(Notice(template=template, to=(who,), language=policy.language_of(who), autoreply=False,
                        context=context) for who in to)


def alert_source(ticket: TicketRef, thread: ThreadInfo) -> str:
    """Whose flood a timer's staff alert counts against: the ticket's client.

    The client is who can open tickets in bulk (client mail needs no authentication),
    so per client and hour is where a forged flood is cut off; other clients' alerts
    are never held because of it.
    """
    return thread.client.email or ticket.key


def fire(kind: str, fire_at: datetime, ticket: TicketRef, thread: ThreadInfo, now: datetime,
         policy: TimerPolicy, notices_this_hour: tuple[tuple[str, str, int], ...] = (),
         data: dict[str, str] | None = None, absences: tuple[Absence, ...] = ()) -> Decision:
    """The passed timer's decision, its staff alerts within the client's hourly caps.

    Reminders and alerts for staff who are away go to their deputies (`absences`).

    `notices_this_hour` is what alert_source() already had sent in its open windows
    (store.queries.notices_this_hour); alerts over the cap move to `held`. A one-off
    timer ("#remind", with its `data`) is fired by its tag's module.
    """
    if is_one_off(kind):
        decision = _fire_tag(kind, fire_at, ticket, thread, now, policy, data or {})
    else:
        decision = _fire(kind, fire_at, ticket, thread, now, policy)
    decision = cover_decision(decision, absences, now, dict(policy.staff_languages))
    decision = hold_undeliverable(decision, thread.client)
    return cap_decision(decision, alert_source(ticket, thread), notices_this_hour, policy.caps)


def _late_minutes(fire_at: datetime, now: datetime) -> int:
    return int((now - fire_at).total_seconds() // 60) if now - fire_at > LATE_AFTER else 0


def _fire_tag(kind: str, fire_at: datetime, ticket: TicketRef, thread: ThreadInfo, now: datetime,
              policy: TimerPolicy, data: dict[str, str]) -> Decision:
    tag = TAGS.get(kind.removeprefix(ONE_OFF_PREFIX))
    if tag is None or tag.fire is None:
        raise ValueError(f"unknown timer kind {kind!r}: no tag in daemon/core/tags fires it")
    return tag.fire(FiredTimer(kind, fire_at, data, ticket, thread, now, _late_minutes(fire_at, now),
                               policy.language_of))


def _fire(kind: str, fire_at: datetime, ticket: TicketRef, thread: ThreadInfo, now: datetime,
          policy: TimerPolicy) -> Decision:
    route = Route("timer", via=kind, ticket=ticket, client=thread.client)
    context = (("late_minutes", _late_minutes(fire_at, now)),
               ("deadline", ticket.first_response_due), ("due", ticket.due_at))
    stale = Decision(outcome=f"{kind}-stale", route=route)
    closed = ticket.status in CLOSED_STATUSES
    if kind == "sla-reminder":
        if closed or ticket.first_response_due is None:
            return stale
        return Decision(outcome=kind, route=route, effects=(
            RecordEvent("sla-reminder", ""),
            *sends(_staff(kinds.SLA_REMINDER, _workers(ticket), policy, context))))
    if kind == "sla-breach":
        if closed or ticket.first_response_due is None:
            return stale
        to = tuple(dict.fromkeys(policy.escalate_to + _workers(ticket)))
        return Decision(outcome=kind, route=route, effects=(
            SetFields((("breached_at", now),)), RecordEvent("sla-breach", ticket.manager_email),
            *sends(_staff(kinds.SLA_BREACH, to, policy, context))))
    if kind == "due-warning":
        if ticket.status != "accepted":
            return stale
        return Decision(outcome=kind, route=route, effects=(
            RecordEvent("due-warning", ""),
            *sends(_staff(kinds.DUE_WARNING, _workers(ticket), policy, context))))
    if kind == "due-client-notice":
        if ticket.status != "accepted":
            return stale
        client = thread.client
        notice = Notice(template=kinds.DELAY_AUTO, to=(client.email,), language=client.language,
                        autoreply=False, context=context, in_reply_to=thread.last_client_message_id,
                        references=thread.message_ids)
        escalation = _staff(kinds.DUE_ESCALATION, tuple(dict.fromkeys(policy.escalate_to + _workers(ticket))),
                            policy, context)
        return Decision(outcome=kind, route=route, effects=(RecordEvent("delay", "by daemon"),
                                                            *sends((notice, *escalation))))
    if kind in ("client-reminder", "auto-close"):
        if ticket.status != "waiting":
            return stale
        client = thread.client
        template = kinds.WAITING_REMINDER if kind == "client-reminder" else kinds.AUTO_CLOSED
        notice = Notice(template=template, to=(client.email,), language=client.language, autoreply=False,
                        context=context, in_reply_to=thread.last_client_message_id, references=thread.message_ids)
        changes: tuple[tuple[str, object], ...] = ()
        if kind == "auto-close":
            changes = (("status", "closed"), ("waiting_since", None))
        # The task could not go on without the client's answer: its quota count is given back.
        return Decision(outcome=kind, route=route, effects=(
            *((SetFields(changes),) if changes else ()), RecordEvent(kind, ""),
            *((ReleaseQuota(),) if kind == "auto-close" else ()), SendNotice(notice)))
    raise ValueError(f"unknown timer kind {kind!r}")
