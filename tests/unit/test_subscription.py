"""Subscription periods from the client's own start date (core/subscription.py, issue 12)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from daemon.core.subscription import (
    first_paid_until,
    period_after,
    period_holding,
    period_start,
    renewal_due,
)


def test_paid_on_15_march_runs_to_14_april_and_so_on():
    anchor = date(2026, 3, 15)
    assert first_paid_until(anchor) == date(2026, 4, 14)
    assert period_holding(anchor, date(2026, 4, 14)) == (date(2026, 3, 15), date(2026, 4, 14))
    assert period_holding(anchor, date(2026, 4, 15)) == (date(2026, 4, 15), date(2026, 5, 14))
    assert period_after(anchor, date(2026, 4, 14)) == (date(2026, 4, 15), date(2026, 5, 14))
    assert period_holding(anchor, date(2026, 12, 20)) == (date(2026, 12, 15), date(2027, 1, 14))


@pytest.mark.parametrize(("anchor", "paid_until"), [
    (date(2026, 1, 31), date(2026, 2, 28)),
    (date(2028, 1, 31), date(2028, 2, 29)),   # a leap year
    (date(2027, 1, 29), date(2027, 2, 28)),
    (date(2028, 1, 29), date(2028, 2, 28)),   # 29 February exists: the period ends the day before
    (date(2026, 12, 31), date(2027, 1, 30)),
    (date(2026, 3, 31), date(2026, 4, 30)),
])
def test_month_ends(anchor, paid_until):
    assert first_paid_until(anchor) == paid_until


def test_the_anchor_day_comes_back_after_a_short_month():
    anchor = date(2026, 1, 31)
    starts = [period_start(anchor, n) for n in range(5)]
    assert starts == [date(2026, 1, 31), date(2026, 3, 1), date(2026, 3, 31), date(2026, 5, 1), date(2026, 5, 31)]
    # Every day belongs to exactly one period, with no gap and no overlap, over four years.
    day, end = anchor, date(2030, 1, 31)
    previous = None
    while day < end:
        first, last = period_holding(anchor, day)
        assert first <= day <= last
        if previous is not None and previous != (first, last):
            assert first == previous[1] + timedelta(days=1)
        previous = (first, last)
        day = last + timedelta(days=1)


def test_renewal_goes_out_renewal_days_before_the_paid_time_ends_never_at_registration():
    paid_until = first_paid_until(date(2026, 3, 15))   # 14 April
    assert not renewal_due(date(2026, 3, 15), paid_until, 5)
    assert not renewal_due(date(2026, 4, 9), paid_until, 5)
    assert renewal_due(date(2026, 4, 10), paid_until, 5)
    assert renewal_due(date(2026, 4, 20), paid_until, 5)


def test_a_day_before_the_start_is_refused():
    with pytest.raises(ValueError, match="before the subscription started"):
        period_holding(date(2026, 3, 15), date(2026, 3, 14))
