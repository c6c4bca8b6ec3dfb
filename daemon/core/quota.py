"""Quota periods and the decision whether a task may be accepted into work (docs/service-rules.md rule 6).

A task counts when it is accepted, in the quota period of the moment it is
accepted (or in the next one, for `#accept next`). Periods are calendar
periods in the service's timezone: a day starts at local midnight, a week on
Monday (ISO 8601), a month on the 1st. Unused quota does not carry over, so
nothing here remembers anything: the caller counts the tasks accepted in a
period and asks. Pure: no clock, no store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

PERIODS = ("day", "week", "month", "none")
# A tariff without periods (a one-off task) counts its quota over all time: one period
# from before any client to long after (2000-01-01 to 2200-01-01, local).
_ALL_TIME = (date(2000, 1, 1), date(2200, 1, 1))
OPTIONS = ("", "next", "force")
# Only admins may push a client past the tariff they pay for (`#accept force`).
FORCE_ROLES = frozenset({"admin"})

Counts = Literal["this", "next"]


@dataclass(frozen=True)
class QuotaDecision:
    """May the task be accepted; which period it counts in (None when refused); why, in English
    and (for a Russian-speaking sender's transcript) in Russian."""

    ok: bool
    counts_in: Counts | None
    reason: str
    reason_ru: str = ""


def period_of(moment: datetime, period: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The quota period holding `moment`: (start inclusive, end exclusive), aware, in `tz`."""
    if moment.tzinfo is None:
        raise ValueError("moment must be timezone-aware")
    first = _first_day(moment.astimezone(tz).date(), period)
    return _midnight(first, tz), _midnight(_following(first, period), tz)


def next_period(moment: datetime, period: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The quota period after the one holding `moment` (where `#accept next` counts).

    A tariff without periods has no next one: the same all-time period is returned.
    """
    _, end = period_of(moment, period, tz)
    if period == "none":
        return period_of(moment, period, tz)
    return period_of(end, period, tz)


def remaining(quota: int | None, used: int) -> int | None:
    """Tasks still free in the period; None for an unlimited tariff. Never below zero."""
    _check(quota, used)
    return None if quota is None else max(quota - used, 0)


def may_accept(
    quota: int | None, used: int, option: str, role: str, *, used_next: int = 0
) -> QuotaDecision:
    """Decide `#accept` / `#accept next` / `#accept force` for a client with `used` tasks so far.

    `used_next` is the count already booked into the next period, so `#accept next`
    cannot pile unlimited work onto it; it defaults to 0 for callers that do not track it.
    """
    _check(quota, used)
    _check(quota, used_next)
    if option not in OPTIONS:
        raise ValueError(f"option must be one of {OPTIONS}, not {option!r}")
    if quota is None:
        # An explicit `next` is still honoured: the client is told the task waits.
        counts: Counts = "next" if option == "next" else "this"
        return QuotaDecision(True, counts, "the tariff has no quota", "у тарифа нет лимита")
    if option == "next":
        # The manager asked for the next period explicitly (e.g. the client wants it
        # then), so it goes there even when this period still has room.
        if used_next < quota:
            return QuotaDecision(
                True, "next", f"counts in the next period ({used_next + 1} of {quota} there)",
                f"засчитана в следующий период ({used_next + 1} из {quota} там)",
            )
        return QuotaDecision(
            False,
            None,
            f"the next period is full too ({used_next} of {quota} tasks already booked); "
            "an admin can accept it past the quota with `#accept force`",
            f"следующий период тоже заполнен (уже занято {used_next} из {quota}); "
            "принять сверх лимита может админ: `#accept force`",
        )
    if used < quota:
        return QuotaDecision(True, "this", f"counts in this period ({used + 1} of {quota})",
                             f"засчитана в этот период ({used + 1} из {quota})")
    if option == "force":
        if role in FORCE_ROLES:
            return QuotaDecision(
                True, "this", f"accepted past the quota by an admin ({used + 1} of {quota})",
                f"принята админом сверх лимита ({used + 1} из {quota})",
            )
        return QuotaDecision(
            False,
            None,
            f"the quota is used up ({used} of {quota}) and only an admin may use "
            "`#accept force`; write `#accept next` to count it in the next period",
            f"лимит исчерпан ({used} из {quota}), а `#accept force` доступен только админу; "
            "напишите `#accept next`, чтобы засчитать задачу в следующий период",
        )
    return QuotaDecision(
        False,
        None,
        f"the quota for this period is used up ({used} of {quota} tasks). Write "
        "`#accept next` to take the task for the next period (the client is told when), "
        "or `#accept force` (admins only) to accept it past the quota",
        f"лимит на этот период исчерпан ({used} из {quota}). Напишите `#accept next`, чтобы "
        "взять задачу в следующий период (клиенту сообщат когда), или `#accept force` "
        "(только админ), чтобы принять её сверх лимита",
    )


def format_quota(quota: int | None, used: int, lang: str) -> str:
    """'2 of 3' / '2 из 3', or 'unlimited' / 'без ограничений', for client and staff mail."""
    if lang not in ("ru", "en"):
        raise ValueError(f"no quota wording for language {lang!r}")
    if quota is None:
        return "без ограничений" if lang == "ru" else "unlimited"
    return f"{used} из {quota}" if lang == "ru" else f"{used} of {quota}"


def _check(quota: int | None, used: int) -> None:
    if quota is not None and quota < 0:
        raise ValueError(f"quota must not be negative, not {quota}")
    if used < 0:
        raise ValueError(f"the used count must not be negative, not {used}")


def _first_day(day: date, period: str) -> date:
    if period == "none":
        return _ALL_TIME[0]
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    raise ValueError(f"period must be one of {PERIODS}, not {period!r}")


def _following(first: date, period: str) -> date:
    if period == "none":
        return _ALL_TIME[1]
    if period == "day":
        return first + timedelta(days=1)
    if period == "week":
        return first + timedelta(days=7)
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The first instant of the local calendar day `day` in `tz` (subscription periods use it too)."""
    return _midnight(day, tz)


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    # Where DST starts at midnight (e.g. São Paulo until 2019) local 00:00 does not
    # exist; the round trip through UTC moves it to the first real instant of the day.
    local = datetime(day.year, day.month, day.day, tzinfo=tz)
    return local.astimezone(UTC).astimezone(tz)
