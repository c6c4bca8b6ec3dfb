"""Turn a staff-written WHEN (`28.11 18:00`, `+2d`, `завтра 12:00`) into an aware datetime.

Pure: the current time is always the `now` argument and every result is in
the service timezone `tz`. Two rules keep arithmetic honest across DST:
`+Nh`/`+Nm` are elapsed time (computed in UTC), while `+Nd`/`+Nw`, `tomorrow`
and weekdays are calendar steps that keep the wall-clock time. A wall time
that does not exist (the spring-forward gap) moves forward by the gap; an
ambiguous one (the autumn repeat) means its first occurrence.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

# A date without a time means the end of the working day.
END_OF_DAY = time(18, 0)
# A due time years ahead is a typo (28.11.2062), not a plan.
HORIZON = timedelta(days=2 * 366)
# The longest accepted form, `в пятницу в 18:00`, is four words.
_MAX_WORDS = 4

ACCEPTED_FORMS = (
    "2026-11-28 18:00, 2026-11-28T18:00, 2026-11-28 (18:00), 28.11 18:00, "
    "28.11.2026 18:00, 28.11.26 18:00, 28.11 (18:00), 18:00 (today, or tomorrow if past), "
    "+3h, +90m, +2d, +1w, +3ч, +30мин, +2д, in 3 hours, через 3 часа, "
    "today 17:00, tomorrow [12:00], завтра [в 12:00], послезавтра [10:00], "
    "monday [10:00], пн [10:00], в пятницу [в 18:00]; a date alone means 18:00"
)
# The same forms for a Russian cheat sheet: Russian words only, every one accepted above.
ACCEPTED_FORMS_RU = (
    "2026-11-28 18:00, 28.11 18:00, 28.11.2026 18:00, 28.11.26 18:00, 28.11 (18:00), "
    "18:00 (сегодня, а если время прошло, то завтра), +3ч, +30мин, +2д, +1нед, через 3 часа, "
    "сегодня 17:00, завтра [в 12:00], послезавтра [10:00], пн [10:00], в пятницу [в 18:00]; "
    "дата без времени означает 18:00"
)


class WhenError(ValueError):
    """A WHEN that cannot be used; `reason` is the short cause, str() adds the accepted forms.

    `reason_ru` says the same in Russian, for a Russian-speaking sender's transcript.
    """

    def __init__(self, reason: str, reason_ru: str = "") -> None:
        self.reason = reason
        self.reason_ru = reason_ru or reason
        super().__init__(f"{reason}. Accepted forms: {ACCEPTED_FORMS}")


# Relative units in minutes. Russian forms cover the cases people write after numbers.
_UNITS = {
    name: minutes
    for names, minutes in (
        ("m min mins minute minutes м мин минута минуты минут минуту", 1),
        ("h hr hrs hour hours ч час часа часов", 60),
        ("d day days д дн день дня дней", 24 * 60),
        ("w wk week weeks н нед неделя недели недель неделю", 7 * 24 * 60),
    )
    for name in names.split()
}
# Monday is 0, as in date.weekday(); Russian includes the accusative of "в пятницу".
_WEEKDAYS = {
    name: weekday
    for weekday, names in enumerate(
        (
            "monday mon понедельник пн пнд",
            "tuesday tue tues вторник вт",
            "wednesday wed среда среду ср",
            "thursday thu thur thurs четверг чт",
            "friday fri пятница пятницу пт",
            "saturday sat суббота субботу сб",
            "sunday sun воскресенье вс",
        )
    )
    for name in names.split()
}

_DAY_WORDS = {"today": 0, "сегодня": 0, "tomorrow": 1, "завтра": 1, "послезавтра": 2}

# After a date or day word a time may be written 18:00 or 18.00, optionally "at/в/к/by 18:00".
_CLOCK = r"(?P<h>\d{1,2})[:.](?P<mi>\d{2})"
_AT = r"(?:(?:at|by|в|к)\s+)?"
_TAIL = rf"(?:\s+{_AT}{_CLOCK})?"
_ISO = re.compile(rf"(?P<y>\d{{4}})-(?P<mo>\d{{1,2}})-(?P<d>\d{{1,2}})(?:(?:t|\s+{_AT}){_CLOCK})?")
_DOTTED = re.compile(rf"(?P<d>\d{{1,2}})\.(?P<mo>\d{{1,2}})(?:\.(?P<y>\d{{4}}|\d{{2}}))?\.?{_TAIL}")
# Standalone times need a colon: a bare 18.00 reads as a date.
_TIME_ONLY = re.compile(rf"{_AT}(?P<h>\d{{1,2}}):(?P<mi>\d{{2}})")
# Six digits bound the count well below int() and timedelta limits.
_PLUS = re.compile(r"\+\s*(?P<n>\d{1,6})\s*(?P<unit>[^\W\d_]+)")
_IN = re.compile(r"(?:in|через)\s+(?:(?P<n>\d{1,6}|an?)\s*)?(?P<unit>[^\W\d_]+)")
_DAY_WORD = re.compile(rf"(?P<word>{'|'.join(_DAY_WORDS)}){_TAIL}")
_WEEKDAY = re.compile(rf"(?:(?:on|в|во)\s+)?(?P<word>[^\W\d_]+)\.?{_TAIL}")


def parse_when(text: str, now: datetime, tz: ZoneInfo) -> datetime:
    """The moment `text` names, in `tz`, strictly after `now`; raises WhenError otherwise."""
    result = _match(_normalize(text), now, tz)
    if result is None:
        shown = text.strip()
        raise WhenError(
            f"cannot read {shown!r} as a date or time" if shown else "no date or time given",
            f"не получается прочитать «{shown}» как дату или время" if shown else "не указаны дата или время",
        )
    return result


def split_when(text: str, now: datetime, tz: ZoneInfo) -> tuple[datetime | None, str]:
    """Parse the longest leading WHEN of `text`; return it and the rest (for `#delay WHEN reason`).

    Returns (None, text stripped) when no leading words form a WHEN. When the
    longest candidate has the shape of a WHEN but an impossible value
    (`завтра 25:00 ...`, `31.02 ...`) this raises WhenError rather than
    settling for a shorter prefix, so the reason never swallows a typo.
    """
    # Only the first few words can form a WHEN; listing every word of a long reason
    # cost a pass over all of it.
    words = list(itertools.islice(re.finditer(r"\S+", text), _MAX_WORDS))
    for count in range(min(len(words), _MAX_WORDS), 0, -1):
        # A colon or comma may close the WHEN: `#delay +2d: supplier is late`.
        candidate = " ".join(word.group() for word in words[:count]).rstrip(",;:")
        result = _match(_normalize(candidate), now, tz)
        if result is not None:
            return result, text[words[count - 1].end() :].strip()
    return None, text.strip()


def _normalize(text: str) -> str:
    # str.split() also folds the non-breaking spaces that HTML mail leaves behind.
    return " ".join(text.lower().split())


def _match(text: str, now: datetime, tz: ZoneInfo) -> datetime | None:
    """None when no form matches; a WhenError when a form matches with an impossible value."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    now = now.astimezone(tz)
    for pattern, build in _FORMS:
        found = pattern.fullmatch(text)
        if found is None:
            continue
        result = build(found, now, tz)
        if result is None:
            continue
        if not _later(result, now):
            raise WhenError(f"{text!r} is in the past (now is {now:%Y-%m-%d %H:%M %Z})",
                            f"«{text}» уже прошло (сейчас {now:%d.%m.%Y %H:%M})")
        if result.astimezone(UTC) - now.astimezone(UTC) > HORIZON:
            raise WhenError(f"{text!r} is more than two years ahead", f"«{text}» — больше чем через два года")
        return result
    return None


def _later(a: datetime, b: datetime) -> bool:
    # Python compares datetimes sharing a tzinfo by wall time, which is wrong
    # inside the repeated autumn hour; UTC makes it a comparison of instants.
    return a.astimezone(UTC) > b.astimezone(UTC)


def _at(day: date, clock: time, tz: ZoneInfo) -> datetime:
    # fold=0 picks the first of two repeated wall times; the UTC round trip moves a
    # wall time that falls into a spring-forward gap forward by the gap.
    try:
        return datetime.combine(day, clock, tzinfo=tz).astimezone(UTC).astimezone(tz)
    except OverflowError:
        raise WhenError(f"no such date {day.isoformat()}", f"нет такой даты {day.isoformat()}") from None


def _clock(found: re.Match[str]) -> time:
    if found.group("h") is None:
        return END_OF_DAY
    hour, minute = int(found.group("h")), int(found.group("mi"))
    if hour > 23 or minute > 59:
        raise WhenError(f"no such time {found.group('h')}:{found.group('mi')}",
                        f"нет такого времени {found.group('h')}:{found.group('mi')}")
    return time(hour, minute)


def _date(year: int, month: int, day: int) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise WhenError(f"no such date {day:02d}.{month:02d}.{year}",
                        f"нет такой даты {day:02d}.{month:02d}.{year}") from None


def _build_iso(found: re.Match[str], now: datetime, tz: ZoneInfo) -> datetime:
    day = _date(int(found.group("y")), int(found.group("mo")), int(found.group("d")))
    return _at(day, _clock(found), tz)


def _build_dotted(found: re.Match[str], now: datetime, tz: ZoneInfo) -> datetime:
    day_n, month = int(found.group("d")), int(found.group("mo"))
    clock = _clock(found)
    if found.group("y") is not None:
        year = int(found.group("y"))
        year += 2000 if year < 100 else 0
        return _at(_date(year, month, day_n), clock, tz)
    # Without a year: this year, unless the day is already behind us (then next
    # year). Today with a past hour stays today and is reported as past. 29.02
    # in a non-leap year falls through to the next year, which may have one.
    today = now.date()
    for year in (today.year, today.year + 1):
        try:
            day = date(year, month, day_n)
        except ValueError:
            continue
        if day >= today:
            return _at(day, clock, tz)
    bad = found.group("h") is None and not 1 <= month <= 12
    hint, hint_ru = (" (write a time as HH:MM)", " (время пишется как ЧЧ:ММ)") if bad else ("", "")
    raise WhenError(f"no such date {day_n:02d}.{month:02d}{hint}", f"нет такой даты {day_n:02d}.{month:02d}{hint_ru}")


def _build_time_only(found: re.Match[str], now: datetime, tz: ZoneInfo) -> datetime:
    clock = _clock(found)
    result = _at(now.date(), clock, tz)
    return result if _later(result, now) else _at(now.date() + timedelta(days=1), clock, tz)


def _build_relative(found: re.Match[str], now: datetime, tz: ZoneInfo) -> datetime | None:
    raw_n = found.group("n")
    unit = found.group("unit")
    if unit not in _UNITS:
        # `через магазин` is prose; `+3x` or `in 3 xs` is a WHEN with a bad unit.
        if raw_n is None:
            return None
        raise WhenError(f"unknown unit {unit!r} (use m, h, d, w or мин, ч, д, нед)",
                        f"неизвестная единица «{unit}» (пишите мин, ч, д, нед)")
    count = 1 if raw_n is None or not raw_n.isdigit() else int(raw_n)
    if count <= 0:
        raise WhenError("a relative time must be at least 1", "относительный срок должен быть не меньше 1")
    minutes = _UNITS[unit]
    try:
        if minutes % (24 * 60) == 0:
            # Days and weeks keep the wall-clock time, whatever DST does in between.
            local = now.replace(tzinfo=None) + timedelta(minutes=count * minutes)
            return _at(local.date(), local.time().replace(second=0, microsecond=0), tz)
        # Hours and minutes are elapsed time.
        return (now.astimezone(UTC) + timedelta(minutes=count * minutes)).astimezone(tz)
    except OverflowError:
        raise WhenError(f"{count} {unit} is too far ahead", f"{count} {unit} — слишком далеко вперёд") from None


def _build_day_word(found: re.Match[str], now: datetime, tz: ZoneInfo) -> datetime:
    return _at(now.date() + timedelta(days=_DAY_WORDS[found.group("word")]), _clock(found), tz)


def _build_weekday(found: re.Match[str], now: datetime, tz: ZoneInfo) -> datetime | None:
    weekday = _WEEKDAYS.get(found.group("word"))
    if weekday is None:
        return None
    clock = _clock(found)
    # The nearest such day still ahead: today counts while its time is still to come.
    day = now.date() + timedelta(days=(weekday - now.weekday()) % 7)
    result = _at(day, clock, tz)
    return result if _later(result, now) else _at(day + timedelta(days=7), clock, tz)


_Builder = Callable[[re.Match[str], datetime, ZoneInfo], datetime | None]

# Order matters: a bare `18.00` is read as a date before anything else sees it.
_FORMS: tuple[tuple[re.Pattern[str], _Builder], ...] = (
    (_ISO, _build_iso),
    (_DOTTED, _build_dotted),
    (_TIME_ONLY, _build_time_only),
    (_PLUS, _build_relative),
    (_IN, _build_relative),
    (_DAY_WORD, _build_day_word),
    (_WEEKDAY, _build_weekday),
)
