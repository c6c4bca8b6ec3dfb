"""decide_staff(): a staff reply with tags -> one all-or-nothing Decision. Pure.

Each tag is a small rule in TAG_RULES (docs/style.md rule 8; the tag table is docs/tags.md):
it checks what it needs and either refuses with a sentence the sender can act on, or adds its changes
and at most one client-facing mail. If anything is refused, nothing at all is
applied and the sender gets one error transcript listing the valid tags.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal

from daemon.core.billing import expense_check, format_money, invoice_lines
from daemon.core.model import (
    BillingView,
    Decision,
    InvoiceSpec,
    Notice,
    Route,
    RouteView,
    ThreadInfo,
    TicketRef,
)
from daemon.core.quota import may_accept
from daemon.core.routing import CLOSED_STATUSES, NO_STAFF_TICKET
from daemon.core.workflow import FloodCaps, coalesce_decision
from parsers.mail import InboundMail
from parsers.oneline import one_line
from parsers.tags import TAGS, Command, ParsedTags

# When several client-facing tags share one mail, the client gets one mail: the strongest.
CLIENT_NOTICE_PRIORITY = ("done", "cancel", "reject", "accept", "ask", "delay", "due", "reply")
CLIENT_TEMPLATES = {
    "accept": "client.notice.accepted", "ask": "client.notice.question", "reply": "client.notice.reply",
    "due": "client.notice.due", "delay": "client.notice.delay", "done": "client.notice.done",
    "cancel": "client.notice.cancelled", "reject": "client.notice.rejected",
}
# A human answer to the client stops the first-response clock (docs/service-rules.md rule 4).
FIRST_RESPONSE_TAGS = frozenset({"accept", "ask", "reply", "done", "cancel", "reject"})


@dataclass(frozen=True)
class StaffPerson:
    email: str
    name: str
    role: str
    language: str


@dataclass(frozen=True)
class StaffPolicy:
    staff: tuple[StaffPerson, ...]
    transcripts: bool
    default_due_hours: float
    top_up_step: Decimal = Decimal("1000")

    def person(self, who: str) -> StaffPerson | None:
        who = who.lower().lstrip("@")
        for member in self.staff:
            if member.email == who or member.email.split("@")[0] == who:
                return member
        return None

    @property
    def admins(self) -> tuple[StaffPerson, ...]:
        return tuple(m for m in self.staff if m.role == "admin")


@dataclass
class Plan:
    """What the tags add up to while they are checked, before it becomes a Decision."""

    ticket: TicketRef
    thread: ThreadInfo
    text: str
    now: datetime
    policy: StaffPolicy
    sender: StaffPerson
    changes: dict[str, object] = field(default_factory=dict)
    applied: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    events: list[tuple[str, str]] = field(default_factory=list)
    client_tags: dict[str, Command] = field(default_factory=dict)
    staff_notices: list[Notice] = field(default_factory=list)
    note: str | None = None
    assignee: str | None = None
    split_subject: str | None = None
    merge_into: TicketRef | None = None
    quota_count: str | None = None
    quota_period_start: datetime | None = None
    quota_forced: bool = False
    quota_release: bool = False
    ledger: list[tuple[str, Decimal, str]] = field(default_factory=list)
    invoices: list[InvoiceSpec] = field(default_factory=list)
    invoice_notices: list[Notice] = field(default_factory=list)

    @property
    def billing(self) -> BillingView | None:
        return self.thread.billing

    @property
    def deposit_left(self) -> Decimal:
        base = self.billing.deposit if self.billing else Decimal("0.00")
        return base + sum((amount for _, amount, _ in self.ledger), Decimal("0.00"))

    @property
    def due_at(self) -> datetime | None:
        value = self.changes.get("due_at", self.ticket.due_at)
        return value if isinstance(value, datetime) else None


def _accept(plan: Plan, cmd: Command, view: RouteView) -> None:
    if plan.ticket.status == "accepted":
        plan.refused.append("#accept: the ticket is already in work (use #due to move its due time)")
        return
    start = plan.now
    billing = plan.billing
    if billing is not None and not billing.ticket_counted:
        verdict = may_accept(billing.quota, billing.used_this, cmd.arg, plan.sender.role,
                             used_next=billing.used_next)
        if not verdict.ok:
            plan.refused.append(f"#accept: {verdict.reason}")
            return
        plan.quota_count = verdict.counts_in
        plan.quota_forced = cmd.arg == "force" and billing.quota is not None \
            and billing.used_this >= billing.quota
        period = billing.next_period if verdict.counts_in == "next" else billing.this_period
        plan.quota_period_start = period[0]
        if verdict.counts_in == "next":
            start = max(start, period[0])
    due = cmd.when or start + timedelta(hours=plan.policy.default_due_hours)
    plan.changes.update(status="accepted", due_at=due)
    plan.client_tags["accept"] = cmd
    plan.applied.append(f"#accept: in work, due {due.isoformat(timespec='minutes')}")


def _ask(plan: Plan, cmd: Command, view: RouteView) -> None:
    plan.changes["status"] = "waiting"
    plan.client_tags["ask"] = cmd
    plan.applied.append("#ask: question sent to the client; the ticket waits for the answer")


def _reply(plan: Plan, cmd: Command, view: RouteView) -> None:
    plan.client_tags["reply"] = cmd
    plan.applied.append("#reply: answer sent to the client")


def _note(plan: Plan, cmd: Command, view: RouteView) -> None:
    plan.note = cmd.text
    plan.applied.append("#note: internal note saved (not sent to the client)")


def _assign(plan: Plan, cmd: Command, view: RouteView) -> None:
    person = plan.policy.person(cmd.who or "")
    if person is None or person.role not in ("assistant", "manager"):
        names = ", ".join(m.email for m in plan.policy.staff if m.role == "assistant") or "none configured"
        plan.refused.append(f"#assign {cmd.who}: not an assistant in [[staff]]; assistants: {names}")
        return
    plan.assignee = person.email
    plan.changes["assignee_email"] = person.email
    plan.staff_notices.append(Notice(
        template="staff.notice.ticket", to=(person.email,), language=person.language, autoreply=False,
        context=(("event", "assigned"), ("by", plan.sender.name), ("text", plan.text)),
        in_reply_to=plan.thread.last_client_message_id))
    plan.applied.append(f"#assign: {person.name} <{person.email}> does the work; the client still "
                        "hears from the manager")


def _due(plan: Plan, cmd: Command, view: RouteView) -> None:
    plan.changes["due_at"] = cmd.when
    plan.client_tags[cmd.name] = cmd
    assert cmd.when is not None
    plan.applied.append(f"#{cmd.name}: due {cmd.when.isoformat(timespec='minutes')}; the client is told")


def _done(plan: Plan, cmd: Command, view: RouteView) -> None:
    plan.changes["status"] = "done"
    plan.client_tags["done"] = cmd
    plan.applied.append("#done: completion notice sent to the client with the attachments")


def _close(status: str) -> Callable[[Plan, Command, RouteView], None]:
    def rule(plan: Plan, cmd: Command, view: RouteView) -> None:
        plan.changes["status"] = status
        # A task the service cancels or rejects gives its quota count back (docs/service-rules.md rule 6).
        plan.quota_release = True
        plan.client_tags[cmd.name] = cmd
        plan.applied.append(f"#{cmd.name}: ticket closed as {status}; the client is told")

    return rule


def _invoice_notice(plan: Plan, spec: InvoiceSpec, reason: str) -> None:
    client = plan.thread.client
    plan.invoices.append(spec)
    plan.invoice_notices.append(Notice(
        template="client.notice.invoice", to=(client.email,), language=client.language, autoreply=False,
        context=(("invoice_ref", len(plan.invoices) - 1), ("reason", reason)),
        in_reply_to=plan.thread.last_client_message_id, references=plan.thread.message_ids))


def _expense(plan: Plan, cmd: Command, view: RouteView) -> None:
    billing = plan.billing
    assert cmd.amount is not None and billing is not None
    check = expense_check(plan.deposit_left, cmd.amount, plan.policy.top_up_step)
    what = cmd.text or "expense"
    if check.ok:
        plan.ledger.append(("expense", -cmd.amount, f"{plan.ticket.key}: {what}"))
        plan.applied.append(f"#expense: {cmd.amount} {billing.currency} charged for \"{what}\"; "
                            f"deposit left {plan.deposit_left} {billing.currency}")
        return
    # Not charged: the client is asked to top up first and the work waits (docs/service-rules.md rule 7).
    lines = invoice_lines("topup", check.top_up, plan.thread.client.language, note=what)
    _invoice_notice(plan, InvoiceSpec("topup", lines.total, tuple(
        (ln.description, ln.qty, ln.unit_price, ln.total) for ln in lines.lines), currency=billing.currency), what)
    plan.changes["status"] = "payment"
    plan.applied.append(f"#expense: the deposit ({plan.deposit_left} {billing.currency}) is short by "
                        f"{check.short_by}; nothing charged; a top-up invoice for {check.top_up} was sent "
                        "to the client and the ticket waits for payment")


def _invoice(plan: Plan, cmd: Command, view: RouteView) -> None:
    billing = plan.billing
    assert billing is not None
    language = plan.thread.client.language
    if cmd.amount is not None:
        lines = invoice_lines("topup", cmd.amount, language, note=cmd.text)
        spec = InvoiceSpec("topup", lines.total, tuple((ln.description, ln.qty, ln.unit_price, ln.total)
                                                        for ln in lines.lines), currency=billing.currency)
    else:
        start, end = billing.next_period
        lines = invoice_lines("renewal", billing.tariff_price, language, tariff_name=billing.tariff_name,
                              period=(start.date(), end.date()), deposit=billing.deposit,
                              deposit_pays_tariff=billing.deposit_pays_tariff)
        spec = InvoiceSpec("renewal", lines.total, tuple((ln.description, ln.qty, ln.unit_price, ln.total)
                                                          for ln in lines.lines), period=(start, end),
                           currency=billing.currency)
    _invoice_notice(plan, spec, cmd.text)
    plan.applied.append(f"#invoice: a {spec.kind} invoice for {spec.amount} {billing.currency} was sent "
                        "to the client")


def _merge(plan: Plan, cmd: Command, view: RouteView) -> None:
    target = next((t for t in view.named_tickets if t.key == cmd.ticket_key), None)
    if target is None:
        plan.refused.append(f"#merge {cmd.ticket_key}: no such ticket")
    elif target.id == plan.ticket.id:
        plan.refused.append(f"#merge {cmd.ticket_key}: a ticket cannot be merged into itself")
    elif target.client_id != plan.ticket.client_id:
        # Never join two clients' work: that would show one client's mail to another.
        plan.refused.append(f"#merge {cmd.ticket_key}: that ticket belongs to another client")
    elif target.status in CLOSED_STATUSES:
        plan.refused.append(f"#merge {cmd.ticket_key}: that ticket is closed ({target.status})")
    else:
        plan.merge_into = target
        plan.changes["status"] = "merged"
        plan.changes["merged_into"] = target.key
        plan.applied.append(f"#merge: merged into {target.key}")


def _split(plan: Plan, cmd: Command, view: RouteView) -> None:
    if plan.thread.last_client_entry_id is None:
        plan.refused.append("#split: the ticket has no client mail to split off")
        return
    plan.split_subject = cmd.text or plan.thread.last_client_subject or plan.ticket.subject
    plan.applied.append(f"#split: the client's last mail becomes a new ticket \"{plan.split_subject}\"")


TAG_RULES: dict[str, Callable[[Plan, Command, RouteView], None]] = {
    "accept": _accept, "ask": _ask, "reply": _reply, "note": _note, "assign": _assign,
    "due": _due, "delay": _due, "done": _done, "cancel": _close("cancelled"),
    "reject": _close("rejected"), "expense": _expense, "invoice": _invoice,
    "merge": _merge, "split": _split,
}


def may_drive(person: StaffPerson, ticket: TicketRef) -> bool:
    """The client's own manager, the assigned assistant, and admins."""
    return person.role == "admin" or person.email in (ticket.manager_email, ticket.assignee_email)


def _transcript(plan_applied: list[str], refused: list[str], sender: StaffPerson, ticket_key: str,
                reply_to: str | None) -> Notice:
    return Notice(
        template="staff.notice.transcript", to=(sender.email,), language=sender.language, autoreply=False,
        context=(("applied", tuple(plan_applied)), ("refused", tuple(refused)), ("ticket_label", ticket_key)),
        in_reply_to=reply_to,
    )


def refuse(route: Route, sender: StaffPerson, reasons: list[str], mail: InboundMail, key: str = "-") -> Decision:
    return Decision(outcome="staff-refused", route=route,
                    notices=(_transcript([], reasons, sender, key, mail.message_id),))


def decide_staff(mail: InboundMail, route: Route, view: RouteView, parsed: ParsedTags, sender: StaffPerson,
                 now: datetime, policy: StaffPolicy) -> Decision:
    ticket = route.ticket
    if ticket is None or view.thread is None:
        # The routing's reason says whether no ticket or several were named (docs/reliability.md case 37).
        return refuse(route, sender, [route.reason if ticket is None and route.reason
                                      and route.reason != "staff mail" else NO_STAFF_TICKET], mail)
    if not may_drive(sender, ticket):
        return refuse(route, sender, [f"you are not the manager, the assigned assistant or an admin of "
                                      f"{ticket.key}"], mail, ticket.key)
    plan = Plan(ticket=ticket, thread=view.thread, text=parsed.rest.strip(), now=now, policy=policy,
                sender=sender)
    plan.refused.extend(parsed.errors)
    commands = list(parsed.commands)
    if not commands:
        if not plan.text:
            return refuse(route, sender, ["the mail has no tag and no text: nothing to do"], mail, ticket.key)
        # A plain reply with no tag is the manager's answer to the client.
        commands = [Command("reply", "", None, None, None, None, "", "")]
    if ticket.status in CLOSED_STATUSES and any(c.name != "note" for c in commands):
        plan.refused.append(f"{ticket.key} is closed ({ticket.status}); only #note is possible")
    for cmd in commands:
        spec = TAGS[cmd.name]
        if not spec.allows(sender.role):
            plan.refused.append(f"#{cmd.name}: not allowed for the {sender.role} role")
            continue
        TAG_RULES[cmd.name](plan, cmd, view)
    if plan.refused:
        return Decision(outcome="staff-refused", route=route,
                        notices=(_transcript([], plan.refused, sender, ticket.key, mail.message_id),))
    return _decision(mail, route, plan)


def _client_notice(plan: Plan) -> Notice | None:
    chosen = next((name for name in CLIENT_NOTICE_PRIORITY if name in plan.client_tags), None)
    if chosen is None:
        return None
    cmd = plan.client_tags[chosen]
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
    text = "\n\n".join(part for part in (cmd.text if chosen != "delay" else "", plan.text) if part)
    recipient = thread.client.email
    return Notice(
        template=CLIENT_TEMPLATES[chosen], to=(recipient,), language=thread.client.language, autoreply=False,
        context=(("text", text), ("reason", cmd.text if chosen in ("delay", "cancel", "reject") else ""),
                 ("new_due", plan.due_at), *money_context),
        in_reply_to=thread.last_client_message_id, references=thread.message_ids,
    )


def _decision(mail: InboundMail, route: Route, plan: Plan) -> Decision:
    notices: list[Notice] = []
    client_notice = _client_notice(plan)
    if client_notice is not None:
        if "done" in plan.client_tags:
            # Every file of the #done mail goes to the client, names and bytes intact.
            client_notice = replace(client_notice, attachments=mail.attachments)
        notices.append(client_notice)
    answered = FIRST_RESPONSE_TAGS & set(plan.client_tags)
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
    if {"due", "delay"} & set(plan.client_tags):
        plan.events.append(("delay", f"by {plan.sender.email}"))
    notices.extend(plan.invoice_notices)
    notices.extend(plan.staff_notices)
    if plan.split_subject is not None:
        client = plan.thread.client
        notices.append(Notice(template="client.notice.ack", to=(client.email,), language=client.language,
                              scope="split", in_reply_to=plan.thread.last_client_message_id))
    if plan.policy.transcripts:
        notices.append(_transcript(plan.applied, [], plan.sender, plan.ticket.key, mail.message_id))
    note = plan.note
    if note is not None and client_notice is None:
        # Nothing goes to the client, so the body after the tags stays internal with the note:
        # `#note called\nlong text` kept only "called" (the body was recorded nowhere).
        note = "\n\n".join(part for part in (note, plan.text) if part)
    events = [("tags", f"{plan.sender.email}: " + "; ".join(a.split(":")[0] for a in plan.applied)),
              *plan.events]
    return Decision(
        outcome="staff-applied", route=route, record_message=True, message_direction="staff",
        message_text=plan.text if client_notice is not None else "", note_text=note,
        notices=tuple(notices), events=tuple(events),
        ticket_changes=tuple(plan.changes.items()), assignee_email=plan.assignee,
        split_subject=plan.split_subject, merge_into=plan.merge_into,
        quota_count=plan.quota_count, quota_period_start=plan.quota_period_start, quota_forced=plan.quota_forced,
        quota_release=plan.quota_release, ledger=tuple(plan.ledger), invoices=tuple(plan.invoices),
    )


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
        Notice(template="staff.alert.unauthenticated", to=(admin.email,), language=admin.language,
               autoreply=False, context=(("sender", one_line(mail.from_addr)), ("reason", reason),
                                         ("ticket_label", label), ("spool_id", spool_id)))
        for admin in policy.admins
    )
    sender = next((m for m in policy.staff if m.email == mail.from_addr), None)
    if tell_sender and sender is not None and sender not in policy.admins:
        # An admin sender already has the alert; In-Reply-To stays empty, as the mail's
        # Message-ID may be the replayed one.
        notices += (_transcript([], [f"not authenticated, nothing was applied: {reason}"], sender, "-",
                                None),)
    # The ticket is left out of the route so that nothing about it is touched.
    decision = Decision(outcome="staff-unauthenticated", route=Route("staff", reason=reason), notices=notices)
    if view is None or caps is None:
        return decision
    return coalesce_decision(decision, mail.from_addr, view, caps)
