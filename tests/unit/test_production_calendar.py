"""The Russian production calendar (issue 12): official days off and transferred working days.

The `holidays` package gives the days (daemon/production_calendar.py, at the edge); the
SLA arithmetic gets them as values (core/sla.OfficialDays) and stays pure.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from daemon.core.sla import (
    OfficialDays,
    calendar_from_config,
    first_response_deadline,
    is_working_time,
)
from daemon.production_calendar import official_days

MSK = ZoneInfo("Europe/Moscow")
RU = official_days("RU", date(2026, 11, 30))
OFFICE = {"mon": "09:00-18:00", "tue": "09:00-18:00", "wed": "09:00-18:00", "thu": "09:00-18:00",
          "fri": "09:00-18:00"}


def msk(*args: int) -> datetime:
    return datetime(*args, tzinfo=MSK)


def test_the_package_knows_the_new_year_holidays_and_the_transfers():
    assert RU is not None and RU.country == "RU"
    # 1-8 January 2027 are days off by the Labour Code; 31 December 2026 by the 2026 decree
    # (moved from Sunday 4 January), 9 January 2026 from Saturday 3 January.
    assert {date(2027, 1, d) for d in range(1, 9)} <= RU.holidays
    assert {date(2026, 12, 31), date(2026, 1, 9)} <= RU.holidays
    # Saturday 20 February 2027 is a working day, so that Monday 22 February is off.
    assert date(2027, 2, 20) in RU.working_days and date(2027, 2, 22) in RU.holidays
    assert date(2027, 2, 20) not in RU.holidays
    # An ordinary Monday is neither.
    assert date(2026, 11, 30) not in RU.holidays | RU.working_days


def test_new_year_holidays_pause_the_sla_clock():
    calendar = calendar_from_config(OFFICE, MSK, RU)
    # Wednesday 30 December 17:50: 10 minutes that day; 31 Dec and 1-8 Jan are off, 9-10 Jan a
    # weekend; the last 5 minutes run on Monday 11 January 2027.
    assert first_response_deadline(msk(2026, 12, 30, 17, 50), 15, calendar) == msk(2027, 1, 11, 9, 5)
    assert not is_working_time(msk(2027, 1, 5, 12, 0), calendar)
    # Without the official calendar the same mail is due on Thursday 31 December.
    plain = calendar_from_config(OFFICE, MSK)
    assert first_response_deadline(msk(2026, 12, 30, 17, 50), 15, plain) == msk(2026, 12, 31, 9, 5)


def test_a_transferred_saturday_is_a_working_day_and_its_monday_is_off():
    calendar = calendar_from_config(OFFICE, MSK, RU)
    # Friday 19 February 2027 17:55: 5 minutes on Friday, the rest on the working Saturday.
    assert first_response_deadline(msk(2027, 2, 19, 17, 55), 15, calendar) == msk(2027, 2, 20, 9, 10)
    assert is_working_time(msk(2027, 2, 20, 12, 0), calendar)
    # Monday 22 February is the day off it bought; 23 February is Defender of the Fatherland Day.
    assert first_response_deadline(msk(2027, 2, 20, 17, 55), 15, calendar) == msk(2027, 2, 24, 9, 10)


def test_config_overrides_win_over_the_official_calendar():
    official = OfficialDays("RU", holidays=frozenset({date(2027, 1, 4)}),
                            working_days=frozenset({date(2027, 2, 20)}))
    calendar = calendar_from_config({**OFFICE, "extra_working_days": ["2027-01-04"],
                                     "extra_holidays": ["2027-02-20", "2027-03-01"]}, MSK, official)
    assert date(2027, 1, 4) in calendar.extra_working_days and date(2027, 1, 4) not in calendar.holidays
    assert date(2027, 2, 20) in calendar.holidays and date(2027, 2, 20) not in calendar.extra_working_days
    assert date(2027, 3, 1) in calendar.holidays
    # The first release's `holidays` key still means the same as extra_holidays.
    old = calendar_from_config({**OFFICE, "holidays": ["2027-03-01"]}, MSK, official)
    assert date(2027, 3, 1) in old.holidays and date(2027, 1, 4) in old.holidays


def test_country_is_checked():
    with pytest.raises(ValueError, match=r"sla.calendar.country = 'Russia'.*two-letter"):
        calendar_from_config({"country": "Russia"}, MSK)
    with pytest.raises(ValueError, match=r"sla.calendar.country = 'ZZ'.*no calendar"):
        official_days("ZZ", date(2026, 11, 30))
    assert official_days("", date(2026, 11, 30)) is None


def test_the_calendar_covers_the_years_around_today():
    days = official_days("RU", date(2030, 6, 1))
    assert days is not None
    assert date(2028, 1, 1) in days.holidays and date(2033, 1, 1) in days.holidays
    assert date(2027, 1, 1) not in days.holidays and date(2034, 1, 1) not in days.holidays
    assert all(timedelta(0) <= d - date(2028, 1, 1) for d in days.holidays)
