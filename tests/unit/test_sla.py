"""daemon.core.sla: working-time arithmetic over calendars, DST, zones, and config validation."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from daemon.core.sla import (
    Calendar,
    add_working_time,
    calendar_from_config,
    first_response_deadline,
    is_working_time,
    subtract_working_time,
    working_time_between,
)

MSK = ZoneInfo("Europe/Moscow")
BERLIN = ZoneInfo("Europe/Berlin")
YEKT = ZoneInfo("Asia/Yekaterinburg")
OFFICE = ((time(9), time(18)),) * 5 + (None, None)
# Mon-Fri 09:00-18:00 Moscow; Friday 27 and Monday 30 November 2026 are the usual days below.
MOSCOW = Calendar(tz=MSK, hours=OFFICE)
M15 = timedelta(minutes=15)


def msk(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=MSK)


def same_instant(a: datetime, b: datetime) -> bool:
    return a.astimezone(UTC) == b.astimezone(UTC)


@pytest.mark.parametrize(
    ("start", "delta", "expected"),
    [
        pytest.param(msk(27, 23, 50), M15, msk(30, 9, 15), id="friday-night-to-monday"),
        pytest.param(msk(1, 10, 0, month=12), M15, msk(1, 10, 15, month=12), id="inside-hours"),
        pytest.param(msk(30, 17, 45), M15, msk(30, 18, 0), id="ends-exactly-at-closing"),
        pytest.param(msk(30, 18, 0), M15, msk(1, 9, 15, month=12), id="starts-at-closing"),
        pytest.param(msk(30, 7, 0), M15, msk(30, 9, 15), id="before-opening"),
        pytest.param(msk(30, 9, 0), M15, msk(30, 9, 15), id="at-opening"),
        pytest.param(msk(30, 17, 50), M15, msk(1, 9, 5, month=12), id="across-closing"),
        pytest.param(msk(28, 12, 0), M15, msk(30, 9, 15), id="saturday-noon"),
        pytest.param(msk(30, 9, 0), timedelta(hours=27), msk(2, 18, 0, month=12), id="three-working-days"),
        pytest.param(msk(30, 9, 0), timedelta(days=3), msk(9, 18, 0, month=12), id="72-working-hours"),
        pytest.param(msk(27, 23, 50), timedelta(0), msk(27, 23, 50), id="zero-delta"),
    ],
)
def test_add_working_time_moscow_office(start, delta, expected):
    result = add_working_time(start, delta, MOSCOW)
    assert result == expected
    assert result.tzinfo is MSK


def test_holiday_monday_moves_to_tuesday():
    calendar = dataclasses.replace(MOSCOW, holidays=frozenset({date(2026, 11, 30)}))
    assert add_working_time(msk(27, 23, 50), M15, calendar) == msk(1, 9, 15, month=12)
    assert not is_working_time(msk(30, 10), calendar)


def test_extra_working_saturday_uses_extra_hours():
    calendar = dataclasses.replace(MOSCOW, extra_working_days=frozenset({date(2026, 11, 28)}),
                                   extra_hours=(time(10), time(16)))
    assert add_working_time(msk(27, 23, 50), M15, calendar) == msk(28, 10, 15)
    assert add_working_time(msk(28, 15, 50), M15, calendar) == msk(30, 9, 5)
    assert working_time_between(msk(28, 0), msk(29, 0), calendar) == timedelta(hours=6)


def test_first_response_deadline_friday_example_and_24_7():
    assert first_response_deadline(msk(27, 23, 50), 15, MOSCOW) == msk(30, 9, 15)
    assert first_response_deadline(msk(27, 23, 50), 15) == msk(28, 0, 5)
    assert first_response_deadline(msk(27, 23, 50), 15, None) == msk(28, 0, 5)
    with pytest.raises(ValueError, match="timezone-aware"):
        first_response_deadline(datetime(2026, 11, 27, 23, 50), 15)


def test_24_7_counts_elapsed_time_across_dst():
    # Wall-clock addition would give 02:05, a time that does not exist that night.
    start = datetime(2026, 3, 29, 1, 50, tzinfo=BERLIN)
    result = add_working_time(start, M15, None)
    assert result.tzinfo is BERLIN and (result.hour, result.minute) == (3, 5)
    end = datetime(2026, 3, 30, 0, 0, tzinfo=BERLIN)
    assert working_time_between(datetime(2026, 3, 29, tzinfo=BERLIN), end, None) == timedelta(hours=23)
    assert subtract_working_time(result, M15, None) == start
    assert is_working_time(start, None)


def test_dst_spring_weekend_between_office_days():
    berlin = Calendar(tz=BERLIN, hours=OFFICE)
    friday = datetime(2026, 3, 27, 17, 0, tzinfo=BERLIN)
    monday = datetime(2026, 3, 30, 10, 0, tzinfo=BERLIN)
    assert add_working_time(friday, timedelta(hours=2), berlin) == monday
    assert working_time_between(friday, monday, berlin) == timedelta(hours=2)


@pytest.mark.parametrize(
    ("day", "whole_day", "night"),
    [
        pytest.param(date(2026, 3, 29), timedelta(hours=23), timedelta(hours=2), id="spring-forward"),
        pytest.param(date(2026, 10, 25), timedelta(hours=25), timedelta(hours=4), id="fall-back"),
        pytest.param(date(2026, 6, 14), timedelta(hours=24), timedelta(hours=3), id="plain-sunday"),
    ],
)
def test_dst_days_in_berlin(day, whole_day, night):
    every_day = Calendar(tz=BERLIN, hours=((time(0), time(0)),) * 7)
    nights = Calendar(tz=BERLIN, hours=((time(1), time(4)),) * 7)
    midnight = datetime.combine(day, time(0), tzinfo=BERLIN)
    next_midnight = datetime.combine(day + timedelta(days=1), time(0), tzinfo=BERLIN)
    assert working_time_between(midnight, next_midnight, every_day) == whole_day
    assert working_time_between(midnight, next_midnight, nights) == night
    # Whole night used up exactly at 04:00 local, whatever the offset that morning.
    assert add_working_time(midnight, night, nights) == datetime.combine(day, time(4), tzinfo=BERLIN)
    # One minute more spills into the next night.
    after = add_working_time(midnight, night + timedelta(minutes=1), nights)
    assert after == datetime.combine(day + timedelta(days=1), time(1, 1), tzinfo=BERLIN)


def test_fall_back_repeated_hour_counts_twice():
    nights = Calendar(tz=BERLIN, hours=((time(1), time(4)),) * 7)
    midnight = datetime(2026, 10, 25, 0, 0, tzinfo=BERLIN)
    # 1h to 02:00 CEST, 1h to 02:00 CET (the repeat), 30 minutes more: 02:30 CET.
    result = add_working_time(midnight, timedelta(hours=2, minutes=30), nights)
    assert result.astimezone(UTC) == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    assert result.fold == 1


def test_calendar_zone_differs_from_start_zone():
    calendar = Calendar(tz=YEKT, hours=OFFICE)  # UTC+5 all year
    friday = datetime(2026, 11, 27, 12, 50, tzinfo=UTC)  # 17:50 in Yekaterinburg
    result = add_working_time(friday, M15, calendar)
    assert result == datetime(2026, 11, 30, 4, 5, tzinfo=UTC)  # Monday 09:05 there
    assert result.tzinfo is UTC
    early = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)  # 08:00 there
    assert add_working_time(early, M15, calendar) == datetime(2026, 11, 30, 4, 15, tzinfo=UTC)
    # The same instant is 15:50 in Moscow: inside hours there, hence a different answer.
    assert add_working_time(friday, M15, MOSCOW) == datetime(2026, 11, 27, 13, 5, tzinfo=UTC)


def test_changing_calendar_mid_ticket_gives_the_new_answer():
    start = msk(27, 17, 55)
    before = first_response_deadline(start, 15, MOSCOW)
    later = Calendar(tz=MSK, hours=((time(10), time(19)),) * 5 + (None, None))
    after = first_response_deadline(start, 15, later)
    assert (before, after) == (msk(30, 9, 10), msk(27, 18, 10))
    holiday = dataclasses.replace(MOSCOW, holidays=frozenset({date(2026, 11, 30)}))
    assert first_response_deadline(start, 15, holiday) == msk(1, 9, 10, month=12)
    assert first_response_deadline(start, 15, MOSCOW) == before  # the old object is unchanged


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (msk(30, 9, 0), True),
        (msk(30, 8, 59), False),
        (msk(30, 17, 59), True),
        (msk(30, 18, 0), False),
        (msk(28, 12, 0), False),
        (datetime(2026, 11, 30, 6, 0, tzinfo=UTC), True),  # 09:00 Moscow
        (datetime(2026, 11, 30, 5, 59, tzinfo=UTC), False),
    ],
)
def test_is_working_time(moment, expected):
    assert is_working_time(moment, MOSCOW) is expected


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (msk(27, 17, 0), msk(30, 10, 0), timedelta(hours=2)),
        (msk(30, 10, 0), msk(27, 17, 0), -timedelta(hours=2)),
        (msk(28, 0, 0), msk(29, 23, 0), timedelta(0)),
        (msk(30, 0, 0), msk(5, 0, 0, month=12), timedelta(hours=45)),
        (msk(30, 12, 0), msk(30, 12, 0), timedelta(0)),
        (msk(30, 12, 0), msk(30, 12, 0) + timedelta(seconds=1.5), timedelta(seconds=1.5)),
    ],
)
def test_working_time_between(start, end, expected):
    assert working_time_between(start, end, MOSCOW) == expected


@pytest.mark.parametrize(
    ("deadline", "delta", "expected"),
    [
        (msk(30, 9, 5), M15, msk(27, 17, 50)),
        (msk(30, 9, 15), M15, msk(30, 9, 0)),  # latest moment: the opening, not Friday 18:00
        (msk(30, 12, 0), M15, msk(30, 11, 45)),
        (msk(29, 12, 0), M15, msk(27, 17, 45)),
        (msk(30, 12, 0), timedelta(0), msk(30, 12, 0)),
    ],
)
def test_subtract_working_time(deadline, delta, expected):
    assert subtract_working_time(deadline, delta, MOSCOW) == expected


def test_reminder_at_ten_of_fifteen_minutes():
    start = msk(27, 17, 55)
    assert add_working_time(start, timedelta(minutes=10), MOSCOW) == msk(30, 9, 5)
    assert first_response_deadline(start, 15, MOSCOW) == msk(30, 9, 10)


def test_negative_delta_and_naive_moments_are_rejected():
    with pytest.raises(ValueError, match="negative"):
        add_working_time(msk(30, 10), -M15, MOSCOW)
    with pytest.raises(ValueError, match="negative"):
        subtract_working_time(msk(30, 10), -M15, MOSCOW)
    with pytest.raises(ValueError, match="timezone-aware"):
        working_time_between(datetime(2026, 11, 30), msk(30, 10), MOSCOW)
    with pytest.raises(ValueError, match="timezone-aware"):
        is_working_time(datetime(2026, 11, 30), MOSCOW)


def test_calendar_without_working_time_raises():
    never = Calendar(tz=MSK, hours=(None,) * 7)
    with pytest.raises(ValueError, match="366 days"):
        add_working_time(msk(30, 10), M15, never)
    with pytest.raises(ValueError, match="366 days"):
        subtract_working_time(msk(30, 10), M15, never)
    assert working_time_between(msk(30, 10), msk(30, 10, month=12), never) == timedelta(0)
    # Only extra days: works while they last, then the cap stops the search.
    once = dataclasses.replace(never, extra_working_days=frozenset({date(2026, 12, 1)}))
    assert add_working_time(msk(30, 10), M15, once) == msk(1, 9, 15, month=12)
    with pytest.raises(ValueError, match="366 days"):
        add_working_time(msk(30, 10), timedelta(hours=10), once)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"hours": OFFICE[:6]}, "7 entries"),
        ({"hours": ((time(18), time(9)),) + OFFICE[1:]}, "before closing"),
        ({"extra_hours": (time(12), time(12))}, "before closing"),
        ({"holidays": frozenset({date(2026, 1, 1)}), "extra_working_days": frozenset({date(2026, 1, 1)})},
         "both"),
    ],
)
def test_calendar_rejects_inconsistent_fields(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Calendar(**{"tz": MSK, "hours": OFFICE, **kwargs})


EXAMPLE = {
    "timezone": "Europe/Moscow",
    "mon": "09:00-18:00", "tue": "09:00-18:00", "wed": "09:00-18:00", "thu": "09:00-18:00",
    "fri": "09:00-18:00", "sat": "", "sun": "",
    "holidays": ["2026-12-31", "2027-01-01"],
    "extra_working_days": ["2026-12-27"],
    "extra_hours": "10:00-16:00",
}


def test_config_example_parses():
    calendar = calendar_from_config(EXAMPLE, BERLIN)
    assert calendar == Calendar(
        tz=MSK, hours=OFFICE, holidays=frozenset({date(2026, 12, 31), date(2027, 1, 1)}),
        extra_working_days=frozenset({date(2026, 12, 27)}), extra_hours=(time(10), time(16)))
    assert Calendar.from_config(EXAMPLE, BERLIN) == calendar
    # Wednesday 30 Dec 17:50 -> two holidays and a weekend -> Monday 4 Jan 2027 09:05.
    result = add_working_time(msk(30, 17, 50, month=12), M15, calendar)
    assert result == datetime(2027, 1, 4, 9, 5, tzinfo=MSK)


def test_config_defaults():
    office = calendar_from_config({}, BERLIN)
    assert office == Calendar(tz=BERLIN, hours=OFFICE)
    only_tuesday = calendar_from_config({"tue": "10:00-12:00", "extra_working_days": [date(2026, 12, 27)]}, MSK)
    assert only_tuesday.hours == (None, (time(10), time(12)), None, None, None, None, None)
    assert only_tuesday.extra_hours == (time(10), time(12))  # TOML dates arrive as date objects
    assert only_tuesday.extra_working_days == frozenset({date(2026, 12, 27)})
    whole = calendar_from_config({"sat": "00:00-24:00", "sun": " 10:00 - 14:30 "}, MSK)
    assert whole.hours[5:] == ((time(0), time(0)), (time(10), time(14, 30)))
    assert working_time_between(msk(28, 0), msk(30, 0), whole) == timedelta(hours=28, minutes=30)


@pytest.mark.parametrize(
    ("data", "key", "hint"),
    [
        ({"mon": "9-18"}, "sla.calendar.mon = '9-18'", "HH:MM-HH:MM"),
        ({"mon": "09:00-18:00", "tue": 9}, "sla.calendar.tue = 9", "HH:MM-HH:MM"),
        ({"wed": "18:00-09:00"}, "sla.calendar.wed", "end must be after the start"),
        ({"wed": "00:00-00:00"}, "sla.calendar.wed", "00:00-24:00"),
        ({"thu": "25:00-26:00"}, "sla.calendar.thu", "hours run 00-23"),
        ({"thu": "09:00-24:30"}, "sla.calendar.thu", "24:00"),
        ({"fri": "09:60-18:00"}, "sla.calendar.fri", "minutes 00-59"),
        ({"timezone": "Moscow"}, "sla.calendar.timezone = 'Moscow'", "IANA"),
        ({"timezone": "../etc/passwd"}, "sla.calendar.timezone", "IANA"),
        ({"timezone": 3}, "sla.calendar.timezone", "IANA"),
        ({"holidays": ["31.12.2026"]}, "sla.calendar.holidays[0] = '31.12.2026'", "YYYY-MM-DD"),
        ({"holidays": ["2026-12-31", 5]}, "sla.calendar.holidays[1]", "YYYY-MM-DD"),
        ({"holidays": "2026-12-31"}, "sla.calendar.holidays", "list of dates"),
        ({"extra_working_days": [datetime(2026, 12, 27, 10)]}, "sla.calendar.extra_working_days[0]", "YYYY-MM-DD"),
        ({"extra_hours": ""}, "sla.calendar.extra_hours", "need hours"),
        ({"mondy": "09:00-18:00"}, "sla.calendar.mondy", "unknown key"),
        ({"holidays": ["2026-12-27"], "extra_working_days": ["2026-12-27"]},
         "sla.calendar.extra_working_days", "one list only"),
        ({"mon": "", "sat": ""}, "sla.calendar", "every weekday is a day off"),
    ],
)
def test_config_errors_name_the_key_and_the_fix(data, key, hint):
    with pytest.raises(ValueError) as info:
        calendar_from_config(data, MSK)
    assert key in str(info.value) and hint in str(info.value)


CALENDARS = [
    MOSCOW,
    Calendar(tz=BERLIN, hours=((time(1), time(4)),) * 7),
    Calendar(tz=BERLIN, hours=((time(0), time(0)),) * 5 + ((time(2), time(3)), None)),
    Calendar(tz=YEKT, hours=OFFICE, holidays=frozenset({date(2026, 3, 30), date(2026, 10, 26)}),
             extra_working_days=frozenset({date(2026, 3, 28)}), extra_hours=(time(23), time(0))),
    Calendar(tz=ZoneInfo("America/New_York"), hours=((time(8, 30), time(17, 15)),) * 6 + (None,)),
]
ZONES = [UTC, MSK, BERLIN, YEKT, ZoneInfo("America/New_York")]


def _random_start(rng: random.Random) -> datetime:
    # Around both 2026 DST changes in Europe and America, down to the second.
    base = rng.choice([datetime(2026, 3, 5, tzinfo=UTC), datetime(2026, 10, 20, tzinfo=UTC)])
    return (base + timedelta(seconds=rng.randrange(40 * 86400))).astimezone(rng.choice(ZONES))


def test_random_round_trips():
    rng = random.Random(20261127)
    for _ in range(600):
        calendar, start = rng.choice(CALENDARS), _random_start(rng)
        delta = timedelta(seconds=rng.choice([0, 1, 60, 900, 3600 * 9, rng.randrange(6 * 86400)]))
        end = add_working_time(start, delta, calendar)
        context = (calendar, start, delta, end)
        assert end.tzinfo is start.tzinfo, context
        assert end >= start, context
        assert working_time_between(start, end, calendar) == delta, context
        # The earliest such moment: a positive delta ends inside (or at the close of) working time.
        if delta:
            assert is_working_time(end - timedelta(microseconds=1), calendar), context
        back = subtract_working_time(end, delta, calendar)
        assert back >= start and working_time_between(back, end, calendar) == delta, context


def test_random_between_matches_minute_count():
    # Independent oracle: count working minutes one by one (boundaries are whole minutes).
    rng = random.Random(7)
    for _ in range(25):
        calendar = rng.choice(CALENDARS)
        start = _random_start(rng).replace(second=0)
        minutes = rng.randrange(3 * 24 * 60)
        utc = start.astimezone(UTC)
        end = (utc + timedelta(minutes=minutes)).astimezone(rng.choice(ZONES))
        expected = sum(is_working_time(utc + timedelta(minutes=m), calendar) for m in range(minutes))
        assert working_time_between(start, end, calendar) == timedelta(minutes=expected), (calendar, start, end)
