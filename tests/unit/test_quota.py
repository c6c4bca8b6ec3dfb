"""daemon.core.quota: calendar periods in the service's timezone, DST, and the #accept table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from daemon.core.quota import (
    QuotaDecision,
    format_quota,
    may_accept,
    next_period,
    period_of,
    remaining,
)

MSK = ZoneInfo("Europe/Moscow")
BERLIN = ZoneInfo("Europe/Berlin")
SAO_PAULO = ZoneInfo("America/Sao_Paulo")


def msk(*args: int) -> datetime:
    return datetime(*args, tzinfo=MSK)


def elapsed(start: datetime, end: datetime) -> timedelta:
    # Subtracting datetimes that share a tzinfo gives wall-clock time, not elapsed time.
    return end.astimezone(UTC) - start.astimezone(UTC)


def test_23_59_and_00_01_fall_in_different_days():
    late, early = msk(2026, 11, 27, 23, 59), msk(2026, 11, 28, 0, 1)
    assert period_of(late, "day", MSK) == (msk(2026, 11, 27), msk(2026, 11, 28))
    assert period_of(early, "day", MSK) == (msk(2026, 11, 28), msk(2026, 11, 29))


def test_the_day_is_the_services_day_not_utc():
    # 22:30 UTC on the 27th is already 01:30 on the 28th in Moscow.
    moment = datetime(2026, 11, 27, 22, 30, tzinfo=UTC)
    start, end = period_of(moment, "day", MSK)
    assert (start, end) == (msk(2026, 11, 28), msk(2026, 11, 29))
    assert start.tzinfo is MSK and end.tzinfo is MSK


def test_start_is_inclusive_and_end_exclusive():
    start, end = period_of(msk(2026, 11, 28), "day", MSK)
    assert start == msk(2026, 11, 28)
    assert period_of(end, "day", MSK)[0] == end


@pytest.mark.parametrize(
    ("moment", "start", "end"),
    [
        # Monday 00:00 starts an ISO week; Sunday 23:59 still belongs to the old one.
        (msk(2026, 11, 23, 0, 0), msk(2026, 11, 23), msk(2026, 11, 30)),
        (msk(2026, 11, 29, 23, 59), msk(2026, 11, 23), msk(2026, 11, 30)),
        (msk(2026, 11, 30, 0, 1), msk(2026, 11, 30), msk(2026, 12, 7)),
        # A week across the new year.
        (msk(2027, 1, 1, 12, 0), msk(2026, 12, 28), msk(2027, 1, 4)),
    ],
)
def test_week_starts_on_monday(moment, start, end):
    assert period_of(moment, "week", MSK) == (start, end)


@pytest.mark.parametrize(
    ("moment", "start", "end"),
    [
        (msk(2026, 11, 30, 23, 59), msk(2026, 11, 1), msk(2026, 12, 1)),
        (msk(2026, 12, 1, 0, 0), msk(2026, 12, 1), msk(2027, 1, 1)),
        (msk(2026, 12, 31, 23, 59), msk(2026, 12, 1), msk(2027, 1, 1)),
        (msk(2028, 2, 29, 12, 0), msk(2028, 2, 1), msk(2028, 3, 1)),
    ],
)
def test_month_boundaries(moment, start, end):
    assert period_of(moment, "month", MSK) == (start, end)


def test_next_period():
    moment = msk(2026, 11, 27, 15, 0)
    assert next_period(moment, "day", MSK) == (msk(2026, 11, 28), msk(2026, 11, 29))
    assert next_period(moment, "week", MSK) == (msk(2026, 11, 30), msk(2026, 12, 7))
    assert next_period(msk(2026, 12, 31, 23, 59), "month", MSK) == (
        msk(2027, 1, 1),
        msk(2027, 2, 1),
    )


def test_dst_days_are_23_and_25_hours_long():
    spring = period_of(datetime(2026, 3, 29, 12, 0, tzinfo=BERLIN), "day", BERLIN)
    autumn = period_of(datetime(2026, 10, 25, 12, 0, tzinfo=BERLIN), "day", BERLIN)
    assert elapsed(*spring) == timedelta(hours=23)
    assert elapsed(*autumn) == timedelta(hours=25)
    assert spring[0].utcoffset() == timedelta(hours=1)
    assert spring[1].utcoffset() == timedelta(hours=2)


def test_dst_week_still_starts_at_local_midnight():
    start, end = period_of(datetime(2026, 3, 29, 12, 0, tzinfo=BERLIN), "week", BERLIN)
    assert (start.hour, start.day, end.hour, end.day) == (0, 23, 0, 30)
    assert elapsed(start, end) == timedelta(days=7, hours=-1)


def test_a_day_whose_midnight_does_not_exist_starts_at_its_first_real_instant():
    # São Paulo sprang forward at 00:00 on 4 November 2018: the day began at 01:00.
    start, end = period_of(datetime(2018, 11, 4, 12, 0, tzinfo=SAO_PAULO), "day", SAO_PAULO)
    assert start.astimezone(UTC) == datetime(2018, 11, 4, 3, 0, tzinfo=UTC)
    assert (start.hour, start.minute) == (1, 0)
    assert elapsed(start, end) == timedelta(hours=23)
    # The previous day ends exactly where this one starts: no gap, no overlap.
    assert period_of(datetime(2018, 11, 3, 23, 30, tzinfo=SAO_PAULO), "day", SAO_PAULO)[1] == start


def test_bad_arguments():
    with pytest.raises(ValueError, match="aware"):
        period_of(datetime(2026, 11, 27, 12, 0), "day", MSK)
    with pytest.raises(ValueError, match="period must be one of"):
        period_of(msk(2026, 11, 27), "year", MSK)


def test_remaining():
    assert remaining(3, 0) == 3
    assert remaining(3, 2) == 1
    assert remaining(3, 3) == 0
    assert remaining(3, 5) == 0  # forced past the quota: nothing left, never negative
    assert remaining(None, 100) is None
    with pytest.raises(ValueError):
        remaining(3, -1)


ALL_ROLES = ("manager", "assistant", "admin")


@pytest.mark.parametrize(
    ("quota", "used", "option", "role", "ok", "counts_in"),
    [
        # Room left: plain and force count in this period, for everyone.
        (3, 0, "", "assistant", True, "this"),
        (3, 2, "", "manager", True, "this"),
        (3, 2, "force", "manager", True, "this"),
        # Used up.
        (3, 3, "", "manager", False, None),
        (3, 3, "", "admin", False, None),
        (3, 3, "next", "assistant", True, "next"),
        (3, 3, "force", "admin", True, "this"),
        (3, 3, "force", "manager", False, None),
        (3, 3, "force", "assistant", False, None),
        (3, 4, "force", "admin", True, "this"),
        # An explicit next is honoured even with room left.
        (3, 1, "next", "manager", True, "next"),
        # Unlimited: always ok.
        (None, 0, "", "assistant", True, "this"),
        (None, 999, "", "assistant", True, "this"),
        (None, 999, "force", "assistant", True, "this"),
        (None, 999, "next", "assistant", True, "next"),
    ],
)
def test_may_accept_table(quota, used, option, role, ok, counts_in):
    decision = may_accept(quota, used, option, role)
    assert isinstance(decision, QuotaDecision)
    assert (decision.ok, decision.counts_in) == (ok, counts_in)
    assert decision.reason


def test_refusal_explains_next_and_force():
    decision = may_accept(3, 3, "", "manager")
    assert "3 of 3" in decision.reason
    assert "#accept next" in decision.reason and "#accept force" in decision.reason


def test_force_refusal_names_the_admin_rule_and_the_way_out():
    reason = may_accept(3, 3, "force", "manager").reason
    assert "admin" in reason and "#accept next" in reason


def test_next_is_refused_when_the_next_period_is_full_too():
    decision = may_accept(3, 3, "next", "manager", used_next=3)
    assert (decision.ok, decision.counts_in) == (False, None)
    assert "#accept force" in decision.reason
    assert may_accept(3, 3, "next", "manager", used_next=2).ok


def test_decision_is_frozen():
    decision = may_accept(3, 0, "", "manager")
    with pytest.raises(AttributeError):
        decision.ok = False  # type: ignore[misc]


@pytest.mark.parametrize("role", ALL_ROLES)
def test_unknown_option_is_a_programming_error(role):
    with pytest.raises(ValueError, match="option"):
        may_accept(3, 0, "later", role)


@pytest.mark.parametrize(
    ("quota", "used", "lang", "text"),
    [
        (3, 2, "en", "2 of 3"),
        (3, 2, "ru", "2 из 3"),
        (None, 7, "en", "unlimited"),
        (None, 7, "ru", "без ограничений"),
    ],
)
def test_format_quota(quota, used, lang, text):
    assert format_quota(quota, used, lang) == text


def test_format_quota_unknown_language():
    with pytest.raises(ValueError, match="language"):
        format_quota(3, 1, "de")
