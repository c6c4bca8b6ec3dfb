"""parsers.when: every accepted WHEN spelling, DST edges, past and impossible dates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from parsers.when import WhenError, parse_when, split_when

MSK = ZoneInfo("Europe/Moscow")
BERLIN = ZoneInfo("Europe/Berlin")
# Friday 27 November 2026, 10:00 in Moscow.
NOW = datetime(2026, 11, 27, 10, 0, tzinfo=MSK)


def elapsed(start: datetime, end: datetime) -> timedelta:
    # Subtracting datetimes that share a tzinfo gives wall-clock time, not elapsed time.
    return end.astimezone(UTC) - start.astimezone(UTC)


def at(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=MSK)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-28 18:00", at(2026, 11, 28, 18)),
        ("2026-11-28T18:00", at(2026, 11, 28, 18)),
        ("2026-11-28t09:30", at(2026, 11, 28, 9, 30)),
        ("2026-11-28", at(2026, 11, 28, 18)),
        ("2026-11-28 в 18:00", at(2026, 11, 28, 18)),
        ("28.11 18:00", at(2026, 11, 28, 18)),
        ("28.11.2026 18:00", at(2026, 11, 28, 18)),
        ("28.11.26 18:00", at(2026, 11, 28, 18)),
        ("28.11 18.00", at(2026, 11, 28, 18)),
        ("28.11", at(2026, 11, 28, 18)),
        ("28.11.", at(2026, 11, 28, 18)),
        ("1.12 9:05", at(2026, 12, 1, 9, 5)),
        ("18:00", at(2026, 11, 27, 18)),
        ("09:00", at(2026, 11, 28, 9)),
        ("10:00", at(2026, 11, 28, 10)),
        ("в 18:00", at(2026, 11, 27, 18)),
        ("+3h", at(2026, 11, 27, 13)),
        ("+90m", at(2026, 11, 27, 11, 30)),
        ("+2d", at(2026, 11, 29, 10)),
        ("+1w", at(2026, 12, 4, 10)),
        ("+3ч", at(2026, 11, 27, 13)),
        ("+2д", at(2026, 11, 29, 10)),
        ("+30мин", at(2026, 11, 27, 10, 30)),
        ("+ 3 h", at(2026, 11, 27, 13)),
        ("+3H", at(2026, 11, 27, 13)),
        ("tomorrow 12:00", at(2026, 11, 28, 12)),
        ("Tomorrow", at(2026, 11, 28, 18)),
        ("tomorrow at 9:00", at(2026, 11, 28, 9)),
        ("завтра 12:00", at(2026, 11, 28, 12)),
        ("Завтра", at(2026, 11, 28, 18)),
        ("завтра в 12:00", at(2026, 11, 28, 12)),
        ("завтра к 12.00", at(2026, 11, 28, 12)),
        ("послезавтра 10:00", at(2026, 11, 29, 10)),
        ("послезавтра", at(2026, 11, 29, 18)),
        ("today 17:00", at(2026, 11, 27, 17)),
        ("today", at(2026, 11, 27, 18)),
        ("сегодня 17:00", at(2026, 11, 27, 17)),
        ("in 3 hours", at(2026, 11, 27, 13)),
        ("in 90 minutes", at(2026, 11, 27, 11, 30)),
        ("in 2 days", at(2026, 11, 29, 10)),
        ("in 1 week", at(2026, 12, 4, 10)),
        ("in an hour", at(2026, 11, 27, 11)),
        ("через 3 часа", at(2026, 11, 27, 13)),
        ("через 2 дня", at(2026, 11, 29, 10)),
        ("через 30 минут", at(2026, 11, 27, 10, 30)),
        ("через час", at(2026, 11, 27, 11)),
        ("через неделю", at(2026, 12, 4, 10)),
        ("monday 10:00", at(2026, 11, 30, 10)),
        ("Mon", at(2026, 11, 30, 18)),
        ("пн 10:00", at(2026, 11, 30, 10)),
        ("понедельник 10:00", at(2026, 11, 30, 10)),
        ("во вторник", at(2026, 12, 1, 18)),
        ("в среду в 9:00", at(2026, 12, 2, 9)),
        ("чт", at(2026, 12, 3, 18)),
        ("sunday 12:00", at(2026, 11, 29, 12)),
        ("  завтра   12:00  ", at(2026, 11, 28, 12)),
        ("завтра\u00a012:00", at(2026, 11, 28, 12)),
    ],
)
def test_accepted_forms(text: str, expected: datetime) -> None:
    result = parse_when(text, NOW, MSK)
    assert result == expected
    assert result.tzinfo == MSK


def test_weekday_today_counts_while_its_time_is_ahead() -> None:
    # NOW is a Friday at 10:00.
    assert parse_when("пт", NOW, MSK) == at(2026, 11, 27, 18)
    assert parse_when("в пятницу в 18:00", NOW, MSK) == at(2026, 11, 27, 18)
    assert parse_when("friday 09:00", NOW, MSK) == at(2026, 12, 4, 9)
    assert parse_when("friday 10:00", NOW, MSK) == at(2026, 12, 4, 10)


def test_date_without_year_already_past_means_next_year() -> None:
    assert parse_when("26.11", NOW, MSK) == at(2027, 11, 26, 18)
    assert parse_when("01.01 09:00", NOW, MSK) == at(2027, 1, 1, 9)


def test_today_without_year_and_past_hour_is_past_not_next_year() -> None:
    with pytest.raises(WhenError, match="in the past"):
        parse_when("27.11 09:00", NOW, MSK)


def test_feb_29_without_year_finds_the_next_leap_year_only_within_a_year() -> None:
    now = datetime(2027, 3, 1, 10, tzinfo=MSK)
    assert parse_when("29.02", now, MSK) == datetime(2028, 2, 29, 18, tzinfo=MSK)
    with pytest.raises(WhenError, match="no such date 29.02"):
        parse_when("29.02", NOW, MSK)


def test_bare_time_just_passed_rolls_to_tomorrow_across_midnight() -> None:
    late = datetime(2026, 11, 27, 23, 50, tzinfo=MSK)
    assert parse_when("23:30", late, MSK) == at(2026, 11, 28, 23, 30)
    assert parse_when("00:15", late, MSK) == at(2026, 11, 28, 0, 15)
    assert parse_when("+30m", late, MSK) == at(2026, 11, 28, 0, 20)
    assert parse_when("tomorrow", late, MSK) == at(2026, 11, 28, 18)


def test_year_end_rollover() -> None:
    eve = datetime(2026, 12, 31, 20, 0, tzinfo=MSK)
    assert parse_when("завтра 10:00", eve, MSK) == at(2027, 1, 1, 10)
    assert parse_when("+1w", eve, MSK) == at(2027, 1, 7, 20)
    assert parse_when("02.01", eve, MSK) == at(2027, 1, 2, 18)


def test_now_in_another_zone_is_read_in_the_service_zone() -> None:
    # 07:00 UTC is 10:00 in Moscow; `18:00` means Moscow's 18:00.
    now_utc = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)
    assert parse_when("18:00", now_utc, MSK) == at(2026, 11, 27, 18)


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_when("+1h", datetime(2026, 11, 27, 10), MSK)


class TestDaylightSaving:
    # 2026: Berlin springs forward on Sunday 29 March at 02:00 and falls back on 25 October at 03:00.
    SAT_MARCH = datetime(2026, 3, 28, 10, 0, tzinfo=BERLIN)
    SAT_OCTOBER = datetime(2026, 10, 24, 10, 0, tzinfo=BERLIN)

    def test_days_keep_wall_clock_across_spring_forward(self) -> None:
        result = parse_when("+1d", self.SAT_MARCH, BERLIN)
        assert (result.hour, result.day, result.utcoffset()) == (10, 29, timedelta(hours=2))
        assert elapsed(self.SAT_MARCH, result) == timedelta(hours=23)

    def test_hours_are_elapsed_time_across_spring_forward(self) -> None:
        result = parse_when("+24h", self.SAT_MARCH, BERLIN)
        assert (result.day, result.hour) == (29, 11)

    def test_days_keep_wall_clock_across_fall_back(self) -> None:
        result = parse_when("+1d", self.SAT_OCTOBER, BERLIN)
        assert (result.day, result.hour, result.utcoffset()) == (25, 10, timedelta(hours=1))
        assert elapsed(self.SAT_OCTOBER, result) == timedelta(hours=25)

    def test_hours_are_elapsed_time_across_fall_back(self) -> None:
        result = parse_when("+24h", self.SAT_OCTOBER, BERLIN)
        assert (result.day, result.hour) == (25, 9)

    def test_nonexistent_wall_time_moves_forward_by_the_gap(self) -> None:
        result = parse_when("29.03 02:30", self.SAT_MARCH, BERLIN)
        assert (result.hour, result.minute, result.utcoffset()) == (3, 30, timedelta(hours=2))

    def test_repeated_wall_time_means_its_first_occurrence(self) -> None:
        result = parse_when("завтра 02:30", self.SAT_OCTOBER, BERLIN)
        assert (result.hour, result.minute, result.utcoffset()) == (2, 30, timedelta(hours=2))
        assert result.astimezone(UTC).hour == 0

    def test_hours_through_the_repeated_hour(self) -> None:
        night = datetime(2026, 10, 25, 1, 30, tzinfo=BERLIN)
        result = parse_when("+2h", night, BERLIN)
        # 01:30 CEST + 2 h elapsed = 02:30 CET (the second 02:30).
        assert (result.hour, result.minute, result.utcoffset()) == (2, 30, timedelta(hours=1))

    def test_week_ahead_keeps_wall_clock(self) -> None:
        result = parse_when("+1w", self.SAT_MARCH, BERLIN)
        assert (result.day, result.month, result.hour) == (4, 4, 10)

    def test_moscow_has_no_dst(self) -> None:
        march = datetime(2026, 3, 28, 10, 0, tzinfo=MSK)
        assert elapsed(march, parse_when("+1d", march, MSK)) == timedelta(hours=24)

    def test_minutes_inside_the_repeated_hour_are_not_past(self) -> None:
        # 02:50 CEST + 20 min is 02:10 CET: earlier on the wall clock, later in fact.
        first = datetime(2026, 10, 25, 2, 50, tzinfo=BERLIN)
        result = parse_when("+20m", first, BERLIN)
        assert (result.hour, result.minute, result.fold) == (2, 10, 1)
        assert elapsed(first, result) == timedelta(minutes=20)

    def test_bare_time_inside_the_repeated_hour(self) -> None:
        second = datetime(2026, 10, 25, 2, 10, fold=1, tzinfo=BERLIN)
        # 02:40 on that wall clock already passed (as CEST), so it means tomorrow.
        assert parse_when("02:40", second, BERLIN).day == 26
        assert parse_when("03:00", second, BERLIN) == datetime(2026, 10, 25, 3, tzinfo=BERLIN)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("31.02", "no such date 31.02"),
        ("31.02.2027 10:00", "no such date 31.02.2027"),
        ("2026-02-30", "no such date 30.02.2026"),
        ("2026-13-01 10:00", "no such date"),
        ("0000-01-01", "no such date"),
        ("18.00", "write a time as HH:MM"),
        ("25:00", "no such time 25:00"),
        ("завтра 24:00", "no such time 24:00"),
        ("28.11 18:60", "no such time 18:60"),
        ("nonsense", "cannot read 'nonsense'"),
        ("tomorow", "cannot read"),
        ("next week", "cannot read"),
        ("", "no date or time given"),
        ("   ", "no date or time given"),
        ("+3x", "unknown unit 'x'"),
        ("in 3 fortnights", "unknown unit 'fortnights'"),
        ("+0h", "at least 1"),
        ("+1000000h", "cannot read"),
        ("+999999w", "too far ahead"),
        ("+800d", "more than two years ahead"),
        ("28.11.2099", "more than two years ahead"),
    ],
)
def test_rejects_nonsense_and_impossible_values(text: str, reason: str) -> None:
    with pytest.raises(WhenError) as caught:
        parse_when(text, NOW, MSK)
    assert reason in caught.value.reason
    # Every refusal lists what would have been accepted.
    assert "Accepted forms: 2026-11-28 18:00" in str(caught.value)


@pytest.mark.parametrize(
    "text", ["2026-11-26 18:00", "27.11.2026 09:00", "today 09:00", "сегодня 10:00", "26.11.26"]
)
def test_rejects_past_absolute_times(text: str) -> None:
    with pytest.raises(WhenError, match="is in the past"):
        parse_when(text, NOW, MSK)


def test_past_error_names_now() -> None:
    with pytest.raises(WhenError, match="now is 2026-11-27 10:00 MSK"):
        parse_when("today 09:00", NOW, MSK)


def test_when_error_is_a_value_error() -> None:
    assert issubclass(WhenError, ValueError)


@pytest.mark.parametrize(
    ("text", "expected", "rest"),
    [
        ("+2d ждём поставщика", at(2026, 11, 29, 10), "ждём поставщика"),
        ("завтра 12:00 supplier is late", at(2026, 11, 28, 12), "supplier is late"),
        ("завтра в 12:00", at(2026, 11, 28, 12), ""),
        ("завтра в офисе", at(2026, 11, 28, 18), "в офисе"),
        ("в пятницу в 18:00 причина", at(2026, 11, 27, 18), "причина"),
        ("in 3 hours because  of   rain", at(2026, 11, 27, 13), "because  of   rain"),
        ("через 2 дня: склад закрыт", at(2026, 11, 29, 10), "склад закрыт"),
        ("+2d, supplier", at(2026, 11, 29, 10), "supplier"),
        ("28.11 18:00\nmore text", at(2026, 11, 28, 18), "more text"),
        ("2026-11-28 reason 18:00", at(2026, 11, 28, 18), "reason 18:00"),
        ("+2d 10:00", at(2026, 11, 29, 10), "10:00"),
    ],
)
def test_split_when_takes_the_longest_leading_when(
    text: str, expected: datetime, rest: str
) -> None:
    assert split_when(text, NOW, MSK) == (expected, rest)


@pytest.mark.parametrize("text", ["поставщик не ответил", "через магазин", "in progress", ""])
def test_split_when_without_a_leading_when(text: str) -> None:
    assert split_when(text, NOW, MSK) == (None, text.strip())


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("завтра 25:00 поставщик", "no such time 25:00"),
        ("31.02 reason", "no such date 31.02"),
        ("today 09:00 late", "in the past"),
        ("+3x late", "unknown unit"),
    ],
)
def test_split_when_refuses_a_broken_when_rather_than_a_shorter_one(text: str, reason: str) -> None:
    with pytest.raises(WhenError) as caught:
        split_when(text, NOW, MSK)
    assert reason in caught.value.reason
