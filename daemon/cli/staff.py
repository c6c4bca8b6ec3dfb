"""`oneassist staff list|away|back`: who is on the desk, who is away and who stands in."""

from __future__ import annotations

import argparse
from typing import Any

from daemon.cli.common import UsageError, command, local_now, noun, when_arg, with_store
from daemon.clock import Clock
from daemon.config import Settings
from daemon.output import emit, table


def _member(settings: Settings, email: str, what: str) -> str:
    member = settings.staff_by_email(email)
    if member is None:
        known = ", ".join(m.email for m in settings.staff) or "none: add [[staff]] to the config"
        raise UsageError(f"{what} {email!r} is not in [[staff]]; staff: {known}")
    return member.email


def cmd_away(args: argparse.Namespace, clock: Clock) -> int:
    from store.absences import set_away

    settings = with_store(args)
    email = _member(settings, args.email, "staff member")
    deputy = _member(settings, args.deputy, "--deputy")
    if deputy == email:
        raise UsageError("--deputy must be someone else: name who answers while they are away")
    now = local_now(clock, settings)
    until = when_arg(settings, args.until, now)
    if until is None or until <= now:
        raise UsageError(f"--until {args.until!r} is not in the future: write e.g. '2026-12-14 09:00' or +7d")
    absence = set_away(email, deputy, until, clock.now())
    emit({"email": absence.email, "deputy": absence.deputy, "until": absence.until.isoformat()}, args.json,
         lambda d: f"{d['email']} is away until {until.strftime('%d.%m.%Y %H:%M')}; "
                   f"{d['deputy']} gets their notifications and may act on their tickets")
    return 0


def cmd_back(args: argparse.Namespace, clock: Clock) -> int:
    from store.absences import clear_away

    settings = with_store(args)
    email = _member(settings, args.email, "staff member")
    was_away = clear_away(email)
    emit({"email": email, "was_away": was_away}, args.json,
         lambda d: f"{email} is back" if was_away else f"{email} was not marked away; nothing changed")
    return 0


def cmd_list(args: argparse.Namespace, clock: Clock) -> int:
    from store.absences import active

    settings = with_store(args)
    away = {a.email: a for a in active(clock.now())}
    tz = settings.service.timezone
    rows: list[dict[str, Any]] = [{
        "email": m.email, "name": m.name, "role": m.role,
        "away_until": away[m.email].until.astimezone(tz).isoformat() if m.email in away else None,
        "deputy": away[m.email].deputy if m.email in away else None,
    } for m in settings.staff]
    emit(rows, args.json, lambda r: table(r, ("email", "name", "role", "away_until", "deputy")))
    return 0


def register(sub: Any) -> None:
    staff = noun(sub, "staff", "staff: who is away, who stands in")
    command(staff, "list", cmd_list, "staff from the config, and who is away until when")
    p = command(staff, "away", cmd_away, "mark a staff member away; their notifications go to the deputy")
    p.add_argument("email")
    p.add_argument("--until", required=True, help="when they are back: '2026-12-14 09:00', +7d")
    p.add_argument("--deputy", required=True, help="the staff member who stands in")
    p = command(staff, "back", cmd_back, "a staff member is back before --until")
    p.add_argument("email")
