"""Staff who are away and their deputies (`oneassist staff away`). Pure.

While a staff member is away (until the moment given, or `staff back`), the notifications
and reminders addressed to them go to their deputy, and the deputy may drive their tickets
with their authority. The client keeps hearing from their own manager; only a mail the
deputy writes goes out in the deputy's name, saying until when the manager is away.
Away ends by itself: every function here takes `now` and ignores what has ended.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime

from daemon.core import notice_kinds as kinds
from daemon.core.effects import Decision, HoldNotice, SendNotice
from daemon.core.model import Absence, Notice, TicketRef

__all__ = ["Absence", "away", "cover_decision", "covered", "redirect", "stand_in"]

# The staff member's own answer about their own mail is not a notification to redirect.
NOT_REDIRECTED = frozenset({kinds.TRANSCRIPT})
# A deputy who is away too passes it on; a circle of deputies stops after this many steps.
MAX_CHAIN = 5


def away(email: str | None, absences: tuple[Absence, ...], now: datetime) -> Absence | None:
    """The absence of `email` that holds at `now`, if any."""
    if not email:
        return None
    return next((a for a in absences if a.email == email and a.active(now)), None)


def stand_in(email: str, absences: tuple[Absence, ...], now: datetime) -> str:
    """Who receives `email`'s notifications at `now`: their deputy's deputy if that one is away too."""
    seen = {email}
    for _ in range(MAX_CHAIN):
        absence = away(email, absences, now)
        if absence is None or absence.deputy in seen:
            return email
        email = absence.deputy
        seen.add(email)
    return email


def covered(deputy: str, ticket: TicketRef, absences: tuple[Absence, ...], now: datetime) -> Absence | None:
    """The absence through which `deputy` stands in for the ticket's manager (or assistant)."""
    for worker in (ticket.manager_email, ticket.assignee_email):
        absence = away(worker, absences, now)
        if absence is not None and worker != deputy and stand_in(worker, absences, now) == deputy:
            return absence
    return None


def redirect(notice: Notice, absences: tuple[Absence, ...], now: datetime,
             languages: Mapping[str, str]) -> Notice:
    """A staff notice with every away recipient replaced by their stand-in, in the stand-in's language."""
    if not notice.template.startswith("staff.") or notice.template in NOT_REDIRECTED:
        return notice
    to = tuple(dict.fromkeys(stand_in(who, absences, now) for who in notice.to))
    if to == notice.to:
        return notice
    language = languages.get(to[0], notice.language) if len(to) == 1 else notice.language
    covering = tuple(who for who in notice.to if who not in to)
    return replace(notice, to=to, language=language, context=(*notice.context, ("covering_for", covering)))


def cover_decision(decision: Decision, absences: tuple[Absence, ...], now: datetime,
                   languages: Mapping[str, str]) -> Decision:
    """The decision with its staff notices redirected from away staff to their deputies.

    A deputy who was a recipient already (an assignee standing in for the manager) gets
    one copy, not two.
    """
    if not any(a.active(now) for a in absences):
        return decision
    effects, seen = [], set()
    for effect in decision.effects:
        if isinstance(effect, SendNotice | HoldNotice):
            notice = redirect(effect.notice, absences, now, languages)
            key = (notice.template, notice.to, repr(_plain(notice.context)))
            if key in seen:
                continue
            seen.add(key)
            effect = type(effect)(notice)
        effects.append(effect)
    return replace(decision, effects=tuple(effects))


def _plain(context: tuple[tuple[str, object], ...]) -> tuple[tuple[str, object], ...]:
    # Two copies of one notification differ only in whom they were covering for.
    return tuple((k, v) for k, v in context if k != "covering_for")
