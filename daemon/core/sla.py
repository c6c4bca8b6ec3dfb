"""SLA calendar arithmetic: working time that pauses outside working hours. Pure.

docs/service-rules.md rule 4: the first human answer is due within N minutes of the mail reaching the
mailbox; working hours and holidays may pause that clock, 24/7 when no calendar is set
(calendar=None). Moments are arguments, never read from the clock.

All arithmetic is on UTC instants: adding to or subtracting datetimes that share a
ZoneInfo gives wall-clock results, an hour off across a DST change. Each day's hours are
local wall times in the calendar's zone, turned into one UTC interval, so the calendar's
zone may differ from the moments' zone. Nonexistent local times (the spring gap) take
the offset before the change (zoneinfo's fold=0: "02:30" in Berlin means 03:30 CEST);
ambiguous ones (the autumn repeat) mean their first occurrence. Hours cannot cross
midnight; "00:00-24:00" is a whole day (23 or 25 hours on DST days).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Far enough for any SLA or reminder; also what proves a calendar has no working time.
MAX_SEARCH_DAYS = 366
# An end of 00:00 means 24:00, the midnight that ends the day (a time() cannot hold 24:00).
END_OF_DAY = time(0)
_HOURS_RE = re.compile(r"(\d{2}):(\d{2})\s*-\s*(\d{2}):(\d{2})")
_DEFAULT_HOURS = (time(9), time(18))

Hours = tuple[time, time]


@dataclass(frozen=True)
class Calendar:
    """When the SLA clock runs. Frozen and hashable, so a config reload yields a new object."""

    tz: ZoneInfo
    hours: tuple[Hours | None, ...]  # 7 entries Monday..Sunday, None = day off
    holidays: frozenset[date] = frozenset()
    extra_working_days: frozenset[date] = frozenset()  # worked with `extra_hours`
    extra_hours: Hours = _DEFAULT_HOURS

    def __post_init__(self) -> None:
        # Catches calendars built in code; calendar_from_config gives the friendlier messages.
        if len(self.hours) != 7:
            raise ValueError(f"Calendar.hours needs 7 entries (Monday..Sunday), got {len(self.hours)}")
        for span in (*self.hours, self.extra_hours):
            if span is not None and not _valid_span(span):
                raise ValueError(f"Calendar hours {span!r}: opening must come before closing")
        if both := self.holidays & self.extra_working_days:
            raise ValueError(f"Calendar: {sorted(both)} both holidays and extra working days")

    @classmethod
    def from_config(cls, data: dict[str, Any], default_tz: ZoneInfo) -> Calendar:
        return calendar_from_config(data, default_tz)

    def hours_on(self, day: date) -> Hours | None:
        """The local working hours of one calendar day, None for a day off."""
        if day in self.holidays:
            return None
        if day in self.extra_working_days:
            return self.extra_hours
        return self.hours[day.weekday()]


def _valid_span(span: Hours) -> bool:
    start, end = span
    return end == END_OF_DAY or start < end


def _fix(key: str, value: object, how: str) -> ValueError:
    return ValueError(f"sla.calendar.{key} = {value!r}: {how}")


def _parse_hours(key: str, value: object) -> Hours | None:
    how = 'write hours as HH:MM-HH:MM, e.g. "09:00-18:00" ("" for a day off)'
    if isinstance(value, str) and not value.strip():
        return None
    match = _HOURS_RE.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise _fix(key, value, how)
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2 != 0):
        raise _fix(key, value, 'hours run 00-23 and minutes 00-59 ("24:00" only as an end)')
    span = (time(h1, m1), END_OF_DAY if h2 == 24 else time(h2, m2))
    if (h2, m2) == (0, 0) or not _valid_span(span):
        raise _fix(key, value, 'the end must be after the start, e.g. "09:00-18:00" '
                               '(hours cannot cross midnight; "00:00-24:00" is a whole day)')
    return span


def _parse_dates(key: str, value: object) -> frozenset[date]:
    if not isinstance(value, list):
        raise _fix(key, value, 'write a list of dates, e.g. ["2026-12-31", "2027-01-01"]')
    days = set()
    for i, item in enumerate(value):
        # TOML's bare dates arrive as date objects already; a datetime is also a date, so exclude it.
        if isinstance(item, date) and not isinstance(item, datetime):
            days.add(item)
            continue
        try:
            if not isinstance(item, str):
                raise ValueError
            days.add(date.fromisoformat(item.strip()))
        except ValueError:
            raise _fix(f"{key}[{i}]", item, 'write dates as YYYY-MM-DD, e.g. "2026-12-31"') from None
    return frozenset(days)


@dataclass(frozen=True)
class OfficialDays:
    """A country's production calendar as values: its days off and its transferred working days.

    Made at the edge (daemon/production_calendar.py, from the `holidays` package) and handed
    in, so the SLA arithmetic never looks anything up itself.
    """

    country: str
    holidays: frozenset[date] = frozenset()
    working_days: frozenset[date] = frozenset()


def country_of(data: dict[str, Any]) -> str:
    """The [sla.calendar] country whose production calendar applies ("" for none; default RU)."""
    value = data.get("country", "RU")
    if not isinstance(value, str) or (value and not re.fullmatch(r"[A-Za-z]{2}", value.strip())):
        raise _fix("country", value, 'use a two-letter country code, e.g. "RU", or "" for no official '
                                     "calendar (only extra_holidays)")
    return value.strip().upper()


def calendar_from_config(data: dict[str, Any], default_tz: ZoneInfo,
                         official: OfficialDays | None = None) -> Calendar:
    """Validate the [sla.calendar] TOML table; every ValueError names the key and the fix.

    `official`: the country's holidays and transferred working days; the table's
    extra_holidays and extra_working_days override them date by date.
    """
    known = {*WEEKDAYS, "timezone", "country", "holidays", "extra_holidays", "extra_working_days", "extra_hours"}
    for key in data:
        if key not in known:
            raise ValueError(f"sla.calendar.{key}: unknown key; known keys are {', '.join(sorted(known))}")
    tz = default_tz
    if "timezone" in data:
        name = data["timezone"]
        try:
            if not isinstance(name, str) or not name:
                raise ValueError
            tz = ZoneInfo(name)
        except (ValueError, OSError, ZoneInfoNotFoundError):
            raise _fix("timezone", name, 'use an IANA zone name, e.g. "Europe/Moscow"') from None
    if any(day in data for day in WEEKDAYS):
        hours = tuple(_parse_hours(day, data.get(day, "")) for day in WEEKDAYS)
    else:
        # No weekday given at all: the usual office week rather than a calendar with no hours.
        hours = (_DEFAULT_HOURS,) * 5 + (None, None)
    if all(span is None for span in hours):
        raise ValueError("sla.calendar: every weekday is a day off, so the SLA clock would never run; "
                         'give at least one day hours, e.g. mon = "09:00-18:00", or remove [sla.calendar] for 24/7')
    country_of(data)
    # `holidays` is the first release's name of `extra_holidays`; both are read.
    holidays = (_parse_dates("holidays", data.get("holidays", []))
                | _parse_dates("extra_holidays", data.get("extra_holidays", [])))
    extra_days = _parse_dates("extra_working_days", data.get("extra_working_days", []))
    if both := holidays & extra_days:
        raise _fix("extra_working_days", sorted(d.isoformat() for d in both),
                   "these dates are also in sla.calendar.extra_holidays; keep each date in one list only")
    if official is not None:
        # The config's own dates win over the official calendar's, day by day.
        holidays |= official.holidays - extra_days
        extra_days |= official.working_days - holidays
    # Unset extra hours: those of the first working weekday, the likeliest "normal day".
    extra_hours = next(span for span in hours if span is not None)
    if "extra_hours" in data:
        parsed = _parse_hours("extra_hours", data["extra_hours"])
        if parsed is None:
            raise _fix("extra_hours", data["extra_hours"], 'extra working days need hours, e.g. "10:00-16:00"')
        extra_hours = parsed
    return Calendar(tz=tz, hours=hours, holidays=holidays, extra_working_days=extra_days,
                    extra_hours=extra_hours)


def _aware(name: str, moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


def _interval(calendar: Calendar, day: date) -> tuple[datetime, datetime] | None:
    """The UTC instants when working hours of `day` (local to the calendar) open and close."""
    span = calendar.hours_on(day)
    if span is None:
        return None
    start, end = span
    opens = datetime.combine(day, start, tzinfo=calendar.tz).astimezone(UTC)
    end_day = day + timedelta(days=1) if end == END_OF_DAY else day
    closes = datetime.combine(end_day, end, tzinfo=calendar.tz).astimezone(UTC)
    # Hours lying wholly inside a DST gap can convert to an empty (or reversed) interval.
    return (opens, closes) if closes > opens else None


def _local_day(moment: datetime, calendar: Calendar) -> date:
    return moment.astimezone(calendar.tz).date()


def is_working_time(moment: datetime, calendar: Calendar | None) -> bool:
    """Whether the SLA clock runs at `moment` (opening included, closing excluded)."""
    _aware("moment", moment)
    if calendar is None:
        return True
    day = _local_day(moment, calendar)
    # The day before too, in case a DST quirk shifts an interval across local midnight.
    return any(iv is not None and iv[0] <= moment < iv[1]
               for iv in (_interval(calendar, day - timedelta(days=1)), _interval(calendar, day)))


def _walk(moment: datetime, delta: timedelta, calendar: Calendar | None, step: int) -> datetime:
    """Move `delta` (>= 0) of working time forwards (step=1) or backwards (step=-1) from `moment`."""
    _aware("moment", moment)
    if delta < timedelta(0):
        raise ValueError("delta must not be negative; walk the other way instead")
    cursor = moment.astimezone(UTC)
    if calendar is None or not delta:
        return (cursor + step * delta).astimezone(moment.tzinfo)
    remaining = delta
    # Start one day early: cheap insurance against an interval that DST shifted across midnight.
    day = _local_day(moment, calendar) - timedelta(days=step)
    for _ in range(MAX_SEARCH_DAYS + 2):
        iv, day = _interval(calendar, day), day + timedelta(days=step)
        if iv is None:
            continue
        # Only the part of the day on the walking side of the cursor counts, never twice.
        lo, hi = (max(iv[0], cursor), iv[1]) if step > 0 else (iv[0], min(iv[1], cursor))
        if hi <= lo:
            continue
        if remaining <= hi - lo:
            return (lo + remaining if step > 0 else hi - remaining).astimezone(moment.tzinfo)
        remaining -= hi - lo
        cursor = hi if step > 0 else lo
    raise ValueError(f"{delta} of working time does not fit in the {MAX_SEARCH_DAYS} days "
                     f"{'after' if step > 0 else 'before'} {moment.isoformat()}: "
                     "the calendar has (almost) no working time")


def add_working_time(start: datetime, delta: timedelta, calendar: Calendar | None) -> datetime:
    """The earliest moment by which `delta` of working time has elapsed after `start`.

    Outside working hours the clock pauses: a mail at Friday 23:50 with 15 minutes, Mon-Fri
    09:00-18:00, is due Monday 09:15. A delta that ends exactly at closing time ends there,
    not at the next opening. calendar=None is 24/7 (elapsed time, also across DST). The
    result is in start's zone.
    """
    return _walk(start, delta, calendar, 1)


def subtract_working_time(deadline: datetime, delta: timedelta, calendar: Calendar | None) -> datetime:
    """The latest moment with `delta` of working time between it and `deadline`.

    Due-time warnings ("60 minutes before due") do NOT use this: the due time is a clock
    time promised to the client, so its warnings count wall-clock minutes (timers.plan).
    This serves SLA-clock questions such as "when did this ticket's clock start".
    """
    return _walk(deadline, delta, calendar, -1)


def working_time_between(start: datetime, end: datetime, calendar: Calendar | None) -> timedelta:
    """Working time from `start` to `end`; negative when end comes first (antisymmetric).

    For SLA reports and for pausing a clock while the ticket waits for the client.
    """
    _aware("start", start)
    _aware("end", end)
    if end < start:
        return -working_time_between(end, start, calendar)
    if calendar is None:
        return end.astimezone(UTC) - start.astimezone(UTC)
    total = timedelta(0)
    cursor, stop = start.astimezone(UTC), end.astimezone(UTC)
    day, last = _local_day(start, calendar) - timedelta(days=1), _local_day(end, calendar)
    while day <= last and cursor < stop:  # O(days spanned); no cap, a report may span years
        iv = _interval(calendar, day)
        if iv is not None and iv[1] > cursor:
            opens, closes = max(iv[0], cursor), min(iv[1], stop)
            if closes > opens:
                total += closes - opens
            cursor = max(cursor, closes)
        day += timedelta(days=1)
    return total


def first_response_deadline(arrived: datetime, minutes: float, calendar: Calendar | None = None) -> datetime:
    """Due time of the first human answer; the clock starts when the mail reached the mailbox."""
    _aware("arrived", arrived)
    return add_working_time(arrived, timedelta(minutes=minutes), calendar)
