"""#split [mails N[-M][,K]] [subject]: client mails become a new ticket of the same client.

Which mails move: those named (`mails 2,4-5`, numbered as `ticket show` numbers the
client's mails), else the one the staff mail answers (the client mail whose desk
notification it replies to) and every client mail after it, else the last one. Our own
mails that followed each moved mail (its staff notification) move with it, so a reply
to them threads to the new ticket. The new ticket's first-response clock runs from
the first moved mail's arrival; the old ticket's clock is recomputed from the client
mails it keeps (stopped when none is left waiting), so it shows no false breach.
"""

from __future__ import annotations

import re

from daemon.core import notice_kinds as kinds
from daemon.core.model import ClientMail, Notice, RouteView
from daemon.core.tags._base import LEADS, Plan, Tag
from parsers.tags import ArgKind, Command

_SELECTOR = re.compile(r"(?:mails?|письм[оа]?)\s+(?P<list>\d+(?:\s*-\s*\d+)?(?:\s*,\s*\d+(?:\s*-\s*\d+)?)*)"
                       r"(?:\s+(?P<subject>.*))?", re.IGNORECASE | re.ASCII)
_MAX_NUMBER = 10_000


def _numbers(listing: str) -> set[int] | None:
    found: set[int] = set()
    for part in listing.split(","):
        low, _, high = part.strip().partition("-")
        start, end = int(low), int(high or low)
        if start > end or end > _MAX_NUMBER:
            return None
        found.update(range(start, end + 1))
    return found


def _answered(mails: tuple[ClientMail, ...], view: RouteView) -> ClientMail | None:
    """The client mail whose desk notification the staff mail replies to (the newest such)."""
    minted = {msg_id for msg_id, _ in view.minted_tickets}
    hits = [m for m in mails if any(msg_id in minted for _, msg_id in m.followers)]
    return hits[-1] if hits else None


def _chosen(plan: Plan, cmd: Command, view: RouteView) -> tuple[list[ClientMail], str] | None:
    mails = plan.thread.client_mails
    named = _SELECTOR.fullmatch(cmd.text.strip())
    if named is not None:
        wanted = _numbers(named.group("list"))
        have = {m.number for m in mails}
        if not wanted or not wanted <= have:
            plan.refused.append(plan.say(
                f"#split письма {named.group('list')}: у задачи {plan.ticket.key} письма клиента "
                f"1-{len(mails)} (номера в `ticket show`)",
                f"#split mails {named.group('list')}: {plan.ticket.key} has client mails "
                f"1-{len(mails)} (numbered in `ticket show`)"))
            return None
        return [m for m in mails if m.number in wanted], named.group("subject") or ""
    start = _answered(mails, view) or mails[-1]
    return [m for m in mails if m.number >= start.number], cmd.text


def split(plan: Plan, cmd: Command, view: RouteView) -> None:
    mails = plan.thread.client_mails
    if not mails:
        plan.refused.append(plan.say("#split: в задаче нет письма клиента, которое можно выделить",
                                     "#split: the ticket has no client mail to split off"))
        return
    chosen = _chosen(plan, cmd, view)
    if chosen is None:
        return
    moving, subject = chosen
    if len(moving) == len(mails):
        plan.refused.append(plan.say(
            f"#split: так в новую задачу ушли бы все письма клиента {plan.ticket.key}; ответьте на "
            "уведомление о первом письме, которое нужно выделить, или назовите письма: #split письма 2-3 [тема]",
            f"#split: that would move every client mail of {plan.ticket.key}; reply to the "
            "notification of the first mail to move, or name them: #split mails 2-3 [subject]"))
        return
    first = moving[0]
    plan.split_subject = subject or first.subject or plan.ticket.subject
    plan.split_mails = len(moving)
    plan.split_rows = tuple(row for m in moving for row in (m.row_id, *(r for r, _ in m.followers)))
    deadline = plan.policy.response_deadline
    if deadline is not None:
        plan.split_clock = (first.at, deadline(first.at, plan.thread.client))
        _recompute_old_clock(plan, mails, moving)
    client = plan.thread.client
    plan.extra_client_notices.append(Notice(
        template=kinds.ACK, to=(client.email,), language=client.language, scope="split",
        in_reply_to=first.message_id))
    numbers = ", ".join(str(m.number) for m in moving)
    plan.applied.append(plan.say(f"#split: письма клиента {numbers} стали новой задачей «{plan.split_subject}»",
                                 f"#split: client mail(s) {numbers} became a new ticket \"{plan.split_subject}\""))


def _recompute_old_clock(plan: Plan, mails: tuple[ClientMail, ...], moving: list[ClientMail]) -> None:
    """The old ticket's response clock, from the client mails it keeps that still wait."""
    ticket, deadline = plan.ticket, plan.policy.response_deadline
    started = ticket.response_started_at
    if ticket.first_response_due is None or started is None or deadline is None:
        return
    # The mail that started the clock: the last one that had arrived by then (arrival times
    # have the mailbox's one-second resolution, so an earlier, answered mail may tie).
    starter = max((m.number for m in mails if m.at <= started), default=1)
    waiting = [m for m in mails if m.number >= starter and m not in moving]
    if not waiting:
        # Every mail that started the clock moved: the old ticket waits for nobody.
        plan.changes.update(first_response_due=None, response_started_at=None)
    elif waiting[0].number != starter:
        plan.changes.update(response_started_at=waiting[0].at,
                            first_response_due=deadline(waiting[0].at, plan.thread.client))


TAG = Tag(
    name="split", arg=ArgKind.OPTIONAL_TEXT, usage="[mails N-M] [subject]", order=140, roles=LEADS, rule=split,
    help_ru="письмо клиента, на которое вы отвечаете, и все после него (или письма N-M) становятся новой "
            "задачей со своим сроком ответа",
    help_en="the client mail you answer and every one after it (or mails N-M) become a new ticket with "
            "its own response clock",
)
