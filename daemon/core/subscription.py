"""Subscription periods that run from the client's own start date, not the calendar month. Pure.

A client who paid on 15 March has the period 15 March - 14 April, then 15 April - 14 May.
A period starts on the start date's day of the month; where a month has no such day
(the 31st in February), the period starts on the 1st of the month after, so the one
before it ends on the month's last day: 31 January -> 28 February (29 in a leap year),
then 1 March - 30 March, and 31 March again after that. Dates are local calendar dates of
the service timezone; `paid_until` is the last day paid for (inclusive).
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta

NO_PERIOD = "none"


def period_start(anchor: date, n: int) -> date:
    """The first day of the n-th period (n = 0 is the one starting at `anchor`)."""
    months = anchor.year * 12 + anchor.month - 1 + n
    year, month = divmod(months, 12)
    month += 1
    if anchor.day <= calendar.monthrange(year, month)[1]:
        return date(year, month, anchor.day)
    # No such day this month (31 February): the period starts on the 1st of the next one.
    return date(year + month // 12, month % 12 + 1, 1)


def _index(anchor: date, day: date) -> int:
    """The number of the period holding `day` (day >= anchor)."""
    if day < anchor:
        raise ValueError(f"{day} is before the subscription started on {anchor}")
    n = (day.year - anchor.year) * 12 + day.month - anchor.month
    n = max(n - 1, 0)
    while period_start(anchor, n + 1) <= day:
        n += 1
    return n


def period_holding(anchor: date, day: date) -> tuple[date, date]:
    """(first day, last day) of the period that holds `day`, both inclusive."""
    n = _index(anchor, day)
    return period_start(anchor, n), period_start(anchor, n + 1) - timedelta(days=1)


def first_paid_until(anchor: date) -> date:
    """The last day of the first period: what a client paid for when registered on `anchor`."""
    return period_start(anchor, 1) - timedelta(days=1)


def period_after(anchor: date, paid_until: date) -> tuple[date, date]:
    """The period that follows `paid_until`: what the next renewal invoice is for."""
    return period_holding(anchor, max(paid_until + timedelta(days=1), anchor))


def renewal_due(today: date, paid_until: date, renewal_days: int) -> bool:
    """The renewal invoice goes out `renewal_days` before the paid time runs out, never earlier."""
    return today >= paid_until + timedelta(days=1) - timedelta(days=renewal_days)
