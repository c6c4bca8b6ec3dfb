"""Times for people carry their zone (issue 15): daemon/core/timetext.py on values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from daemon.core.timetext import people_time, zone_label

MOMENT = datetime(2026, 11, 30, 5, 1, 59, 999999, tzinfo=UTC)


@pytest.mark.parametrize(("zone", "mail", "cli"), [
    (ZoneInfo("Europe/Moscow"), "30.11.2026 08:01 UTC+3", "2026-11-30 08:01 UTC+3"),
    (UTC, "30.11.2026 05:01 UTC", "2026-11-30 05:01 UTC"),
    (ZoneInfo("Asia/Kolkata"), "30.11.2026 10:31 UTC+5:30", "2026-11-30 10:31 UTC+5:30"),
    (ZoneInfo("America/St_Johns"), "30.11.2026 01:31 UTC-3:30", "2026-11-30 01:31 UTC-3:30"),
])
def test_a_time_is_shown_in_the_zone_to_the_minute_with_its_offset(zone, mail, cli):
    assert people_time(MOMENT, zone) == mail
    assert people_time(MOMENT, zone, style="cli") == cli


def test_summer_time_shows_the_offset_of_that_day():
    berlin = ZoneInfo("Europe/Berlin")
    assert people_time(datetime(2026, 7, 1, 12, 0, tzinfo=UTC), berlin) == "01.07.2026 14:00 UTC+2"
    assert people_time(datetime(2026, 1, 1, 12, 0, tzinfo=UTC), berlin) == "01.01.2026 13:00 UTC+1"


def test_a_naive_time_is_refused():
    with pytest.raises(ValueError):
        zone_label(datetime(2026, 1, 1))
    assert zone_label(datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=-5)))) == "UTC-5"
