"""decide_staff(): a staff reply with tags -> one all-or-nothing Decision. Pure.

What each tag does is its own module in daemon/core/tags/ (the tag table is docs/tags.md).
This module is what holds across tags: who may drive the ticket and use each tag, a
closed ticket takes only the tags made for it, all or nothing (if anything is refused,
nothing at all is applied and the sender gets one error transcript listing the valid
tags), one client mail per staff mail (the strongest tag's), the first-response clock,
and the transcript.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from daemon.core import notice_kinds as kinds
from daemon.core.absence import Absence, cover_decision, covered
from daemon.core.billing import format_money
from daemon.core.effects import (
    CountQuota,
    Decision,
    Effect,
    IssueInvoice,
    LedgerEntry,
    MergeInto,
    PlanTimer,
    RecordEvent,
    RecordMessage,
    RecordNote,
    ReleaseQuota,
    SendNotice,
    SetFields,
    SplitOff,
    sends,
)
from daemon.core.files import FileRelay, describe, relay_files
from daemon.core.model import Notice, Route, RouteView, TicketRef
from daemon.core.routing import CLOSED_STATUSES, NO_STAFF_TICKET, status_word
from daemon.core.tags import DEFAULT_TAG, TAGS, Plan, StaffPerson, StaffPolicy
from daemon.core.workflow import FloodCaps, coalesce_decision
from parsers.html_relay import relay_fragment
from parsers.mail import InboundMail
from parsers.oneline import one_line
from parsers.tags import Command, ParsedTags

__all__ = ["StaffPerson", "StaffPolicy", "decide_staff", "may_drive", "refuse", "unauthenticated"]


def may_drive(person: StaffPerson, ticket: TicketRef, absences: tuple[Absence, ...] = (),
              now: datetime | None = None) -> bool:
    """The client's own manager, the assigned assistant, admins, and the deputy of one who is away."""
    if person.role == "admin" or person.email in (ticket.manager_email, ticket.assignee_email):
        return True
    return now is not None and covered(person.email, ticket, absences, now) is not None


RANK = {"assistant": 0, "manager": 1, "admin": 2}


def acting_as(person: StaffPerson, absence: Absence | None, policy: StaffPolicy) -> StaffPerson:
    """A deputy acts with the authority of the one they stand in for (never less than their own)."""
    if absence is None:
        return person
    stood_for = policy.person(absence.email)
    if stood_for is None or RANK.get(stood_for.role, 0) <= RANK.get(person.role, 0):
        return person
    return replace(person, role=stood_for.role)


def _transcript(plan_applied: list[str], refused: list[str], sender: StaffPerson, ticket_key: str,
                reply_to: str | None) -> Notice:
    return Notice(
        template=kinds.TRANSCRIPT, to=(sender.email,), language=sender.language, autoreply=False,
        context=(("applied", tuple(plan_applied)), ("refused", tuple(refused)), ("ticket_label", ticket_key)),
        in_reply_to=reply_to,
    )


def refuse(route: Route, sender: StaffPerson, reasons: list[str], mail: InboundMail, key: str = "-") -> Decision:
    return Decision(outcome="staff-refused", route=route,
                    effects=(SendNotice(_transcript([], reasons, sender, key, mail.message_id)),))


def decide_staff(mail: InboundMail, route: Route, view: RouteView, parsed: ParsedTags, sender: StaffPerson,
                 now: datetime, policy: StaffPolicy) -> Decision:
    ticket = route.ticket
    if ticket is None or view.thread is None:
        # The routing's reason says whether no ticket or several were named (docs/reliability.md case 37).
        reason = (route.reason if ticket is None and route.reason and route.reason != "staff mail"
                  else NO_STAFF_TICKET)
        return refuse(route, sender, [_no_ticket(sender, reason)], mail)
    if not may_drive(sender, ticket, view.absences, now):
        return refuse(route, sender, [_say(sender, f"вы не менеджер, не назначенный ассистент и не админ "
                                                   f"задачи {ticket.key}",
                                           f"you are not the manager, the assigned assistant or an admin of "
                                           f"{ticket.key}")], mail, ticket.key)
    deputy_for = covered(sender.email, ticket, view.absences, now) \
        if sender.email not in (ticket.manager_email, ticket.assignee_email) else None
    sender = acting_as(sender, deputy_for, policy)
    plan = Plan(ticket=ticket, thread=view.thread, text=parsed.rest.strip(), now=now, policy=policy,
                sender=sender)
    plan.refused.extend(parsed.errors_in(sender.language))
    commands = list(parsed.commands)
    if not commands:
        if plan.refused:
            # A mail of one malformed tag: say what is wrong with it, not that it has no tag.
            return refuse(route, sender, plan.refused, mail, ticket.key)
        if not plan.text:
            return refuse(route, sender, [_say(sender, "в письме нет ни тега, ни текста: делать нечего",
                                               "the mail has no tag and no text: nothing to do")],
                          mail, ticket.key)
        # A plain reply with no tag is the manager's answer to the client.
        commands = [Command(DEFAULT_TAG, "", None, None, None, None, "", "")]
    if ticket.status in CLOSED_STATUSES and any(not TAGS[c.name].when_closed for c in commands):
        usable = ", ".join(f"#{tag.name}" for tag in TAGS.values() if tag.when_closed)
        plan.refused.append(_say(sender, f"{ticket.key} закрыта ({status_word(ticket.status, 'ru')}); "
                                         f"возможно только {usable}",
                                 f"{ticket.key} is closed ({ticket.status}); only {usable} is possible"))
    asked: list[str] = []
    for cmd in commands:
        tag = TAGS[cmd.name]
        if not tag.allows(sender.role):
            role_ru = {"manager": "менеджера", "assistant": "ассистента", "admin": "админа"}.get(sender.role,
                                                                                             sender.role)
            plan.refused.append(_say(sender, f"#{cmd.name}: не разрешён для роли {role_ru}",
                                     f"#{cmd.name}: not allowed for the {sender.role} role"))
            continue
        before = plan.changes.get("status")
        tag.rule(plan, cmd, view)
        if plan.changes.get("status") != before:
            asked.append(str(plan.changes["status"]))
    _settle_status(plan, asked)
    if plan.refused:
        return refuse(route, sender, plan.refused, mail, ticket.key)
    decision = _decision(mail, route, plan)
    if deputy_for is not None:
        # Only the manager's name reaches the client: a deputy of an away assistant stays unseen.
        decision = _as_deputy(decision, sender, deputy_for, signs=deputy_for.email == ticket.manager_email)
    return cover_decision(decision, view.absences, now, {m.email: m.language for m in policy.staff})


def _as_deputy(decision: Decision, deputy: StaffPerson, absence: Absence, signs: bool) -> Decision:
    """A deputy's answer for an away manager goes to the client in the deputy's name, saying until
    when the manager is away; the timeline records who stood in for whom either way."""
    signed = (("signed_by", deputy.email), ("away_until", absence.until))
    effects: list[Effect] = []
    sent = False
    for effect in decision.effects:
        if signs and isinstance(effect, SendNotice) and effect.notice.template.startswith("client."):
            effect = SendNotice(replace(effect.notice, context=(*effect.notice.context, *signed)))
            sent = True
        effects.append(effect)
    effects.append(RecordEvent("deputy", f"{deputy.email} for {absence.email} (away until "
                                         f"{absence.until.isoformat(timespec='minutes')})"
                                         + (f": the client's mail went out in {deputy.name}'s name" if sent else "")))
    return replace(decision, effects=tuple(effects))


# When several tags of one mail ask for a status, the strongest wins whatever their order:
# `#accept` + `#ask` is a ticket in work that waits for the client's answer (the answer
# returns it to `accepted`, core/workflow.py), a short `#expense` waits for payment.
_STATUS_RANK = {"accepted": 1, "waiting": 2, "payment": 3}
_CLOSING = frozenset({"done", "cancelled", "rejected", "merged"})


def _settle_status(plan: Plan, asked: list[str]) -> None:
    if len(asked) < 2:
        return
    closing = [s for s in asked if s in _CLOSING]
    if "payment" in asked and closing:
        # Closing a ticket whose expense could not be charged would leave the invoice
        # unconnected to any work: the manager sends them apart (in either order it was refused).
        plan.refused.append(plan.say(
            f"#expense: на депозите не хватает денег, поэтому в этом же письме задачу нельзя закрыть "
            f"({status_word(closing[0], 'ru')}); пришлите #expense отдельно (клиент получит счёт на "
            "пополнение) и закройте задачу после оплаты",
            f"#expense: the deposit is short, so the ticket cannot also be closed "
            f"({closing[0]}) in this mail; send #expense alone (the client gets a "
            "top-up invoice), and close the ticket once it is paid"))
        return
    plan.changes["status"] = closing[0] if closing else max(asked, key=lambda s: _STATUS_RANK.get(s, 0))


def _say(sender: StaffPerson, ru: str, en: str) -> str:
    """A transcript line in the sender's language (Plan.say, before there is a Plan)."""
    return ru if sender.language == "ru" else en


def _no_ticket(sender: StaffPerson, reason: str) -> str:
    """The routing's reason why staff mail named no single ticket, in the sender's language."""
    if sender.language != "ru":
        return reason
    if reason == NO_STAFF_TICKET:
        return ("задача не найдена: ничего не применено. Ответьте на письмо службы о задаче (на её "
                "служебный адрес для ответа или в её переписке); тег в теме или Message-ID письма "
                "клиента не указывают задачу для служебной почты")
    if reason.startswith("this mail's thread names several tickets ("):
        keys = reason.split("(", 1)[1].split(")", 1)[0]
        return (f"переписка этого письма указывает на несколько задач ({keys}): ничего не применено. "
                "Ответьте на последнее письмо службы о нужной задаче")
    return reason


def _client_notice(plan: Plan, mail: InboundMail, files: FileRelay) -> Notice | None:
    """The one client mail of the strongest client-facing tag, if any."""
    asking = [TAGS[name] for name in plan.client_tags if TAGS[name].client_notice is not None]
    if not asking:
        return None
    chosen = max(asking, key=lambda tag: tag.strength)
    assert chosen.client_notice is not None
    cmd = plan.client_tags[chosen.name]
    thread = plan.thread
    billing = plan.billing
    money_context: tuple[tuple[str, object], ...] = ()
    if billing is not None:
        expenses = billing.expenses + tuple((-amount, note.split(": ", 1)[-1]) for kind, amount, note in plan.ledger
                                            if kind == "expense")
        money_context = (
            ("expenses", tuple((format_money(a, billing.currency, thread.client.language), w) for a, w in expenses)),
            ("deposit_left", format_money(plan.deposit_left, billing.currency, thread.client.language)),
            ("next_period", billing.next_period[0] if plan.quota_count == "next" else None),
        )
    # The free text after the tags is the message; text on the tag line comes first.
    line_text = cmd.text if chosen.line_text in ("message", "both") else ""
    text = "\n\n".join(part for part in (line_text, plan.text) if part)
    recipient = thread.client.email
    # The manager's formatting, made safe, beside the text part (notices.py renders it).
    fragment = relay_fragment(mail.html, plan.text) if mail.html else None
    html_context = (("html_text", fragment), ("line_text", line_text)) if fragment else ()
    return Notice(
        template=chosen.client_notice, to=(recipient,), language=thread.client.language, autoreply=False,
        context=(("text", text), ("reason", cmd.text if chosen.line_text in ("reason", "both") else ""),
                 ("new_due", plan.due_at), *money_context, *html_context),
        in_reply_to=thread.last_client_message_id, references=thread.message_ids,
        # Every file of the staff mail goes to the client, names and bytes intact, within the caps.
        attachments=files.sent,
    )


def _decision(mail: InboundMail, route: Route, plan: Plan) -> Decision:
    notices: list[Notice] = []
    files = relay_files(mail.attachments, plan.policy.max_file_bytes, plan.policy.max_files)
    client_notice = _client_notice(plan, mail, files)
    if client_notice is not None:
        notices.append(client_notice)
        # The transcript and the timeline say which files went out and which did not.
        plan.applied.extend(describe(files))
        marked = [a for a in client_notice.to if a in plan.thread.client.undeliverable]
        if marked:
            # A person's answer still goes; she learns it will likely bounce (docs/reliability.md case 17).
            plan.applied.append(plan.say(
                f"внимание: адрес {', '.join(marked)} помечен недоставляемым после жёстких отказов "
                "(oneassist client show); письмо всё равно отправлено",
                f"note: {', '.join(marked)} is marked undeliverable after its hard bounces "
                "(oneassist client show); the mail was sent anyway"))
        plan.events.extend(("files", line) for line in describe(files))
    answered = any(TAGS[name].answers_client for name in plan.client_tags)
    if answered and plan.ticket.first_response_at is None:
        plan.changes["first_response_at"] = plan.now
    if answered and plan.ticket.first_response_due is not None:
        # A human answer stops the response clock; the time it took feeds `report sla`.
        started = plan.ticket.response_started_at or plan.now
        seconds = int((plan.now - started).total_seconds())
        breached = int(plan.ticket.breached_at is not None and plan.ticket.breached_at >= started)
        plan.events.append(("response", f"seconds={seconds} by={plan.sender.email} "
                                        f"manager={plan.ticket.manager_email} breached={breached}"))
        plan.changes.update(first_response_due=None, response_started_at=None)
    status = plan.changes.get("status")
    if status == "waiting":
        plan.changes["waiting_since"] = plan.now
    elif status is not None:
        plan.changes["waiting_since"] = None
    notices.extend(plan.invoice_notices)
    notices.extend(plan.staff_notices)
    notices.extend(plan.extra_client_notices)
    if plan.policy.transcripts:
        notices.append(_transcript(plan.applied, [], plan.sender, plan.ticket.key, mail.message_id))
    note = plan.note
    if client_notice is None:
        # Nothing goes to the client, so the body after the tags stays internal as a note:
        # `#note called\nlong text` kept only "called", and `#assign petr\nplease call
        # the hotel` kept nothing (the body was recorded nowhere).
        note = "\n\n".join(part for part in (note, plan.text) if part) or None
    events = [("tags", f"{plan.sender.email}: " + "; ".join(a.split(":")[0] for a in plan.applied)),
              *plan.events]
    # In the order they are applied: the ticket, its timeline, the money (an invoice is
    # numbered before the notice naming it), the mails, then the timers.
    effects: list[Effect] = [
        SetFields(tuple(plan.changes.items())),
        RecordMessage("staff", plan.text if client_notice is not None else ""),
    ]
    if note:
        effects.append(RecordNote(note))
    effects.extend(RecordEvent(kind, detail) for kind, detail in events)
    if plan.split_subject:
        started, due = plan.split_clock or (None, None)
        effects.append(SplitOff(plan.split_subject, plan.split_rows, started, due, plan.split_mails))
    if plan.merge_into is not None:
        effects.append(MergeInto(plan.merge_into))
    if plan.quota_release:
        effects.append(ReleaseQuota())
    if plan.quota_count is not None and plan.quota_period_start is not None:
        effects.append(CountQuota(plan.quota_count, plan.quota_period_start, plan.quota_forced))
    effects.extend(LedgerEntry(*line) for line in plan.ledger)
    effects.extend(IssueInvoice(spec) for spec in plan.invoices)
    effects.extend(sends(notices))
    effects.extend(PlanTimer(timer) for timer in plan.timers)
    return Decision(outcome="staff-applied", route=route, effects=tuple(effects))


def unauthenticated(route: Route, mail: InboundMail, reason: str, policy: StaffPolicy,
                    spool_id: int, view: RouteView | None = None, caps: FloodCaps | None = None,
                    tell_sender: bool = False) -> Decision:
    """A staff From without a staff token or a trusted DKIM pass: keep it, change nothing, tell admins.

    Alerts are capped per sender address and hour (30 forged mails are 3 alerts and a digest).
    With `tell_sender` (a header block no signature can vouch for: a repeated Subject,
    several From mailboxes) the staff member named in From also gets a transcript, at
    her configured address, so a replay of her mail does not go unnoticed (docs/reliability.md case 36).
    """
    label = route.ticket.key if route.ticket else "-"
    # The reason can quote the mail (a DKIM d= with CR LF): one line, so no forged alert line.
    reason = one_line(reason)
    notices = tuple(
        Notice(template=kinds.UNAUTHENTICATED, to=(admin.email,), language=admin.language,
               autoreply=False, context=(("sender", one_line(mail.from_addr)), ("reason", reason),
                                         ("ticket_label", label), ("spool_id", spool_id)))
        for admin in policy.admins
    )
    sender = next((m for m in policy.staff if m.email == mail.from_addr), None)
    if tell_sender and sender is not None and sender not in policy.admins:
        # An admin sender already has the alert; In-Reply-To stays empty, as the mail's
        # Message-ID may be the replayed one.
        line = _say(sender, f"подлинность письма не подтверждена, ничего не применено: {reason}",
                    f"not authenticated, nothing was applied: {reason}")
        notices += (_transcript([], [line], sender, "-", None),)
    # The ticket is left out of the route so that nothing about it is touched.
    decision = Decision(outcome="staff-unauthenticated", route=Route("staff", reason=reason),
                        effects=sends(notices))
    if view is None or caps is None:
        return decision
    return coalesce_decision(decision, mail.from_addr, view, caps)
