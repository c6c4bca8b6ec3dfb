"""The country's production calendar, from the `holidays` package, as values for core/sla.py.

Russia moves days off every year by government decree (a holiday that falls on a
Saturday becomes a Friday off; a Saturday becomes a working day so that a Monday
can be a day off). The `holidays` package carries those decrees for RU: the days
off in its `public` category, the transferred working Saturdays in
`weekend_workdays`. A year whose decree the installed package does not know yet
gets the statutory holidays only; `[sla.calendar] extra_holidays` and
`extra_working_days` fill the gap until the package is upgraded (README, dependencies).
"""

from __future__ import annotations

from datetime import date

from daemon.core.sla import OfficialDays

# Years either side of today that the daemon's calendar covers; it is rebuilt at each start.
YEARS_BEFORE, YEARS_AFTER = 2, 3


def official_days(country: str, today: date) -> OfficialDays | None:
    """The days off and transferred working days of `country` around `today`; None for ""."""
    if not country:
        return None
    # Imported here: only a config with a calendar pays for the package's country tables.
    import holidays

    try:
        years = range(today.year - YEARS_BEFORE, today.year + YEARS_AFTER + 1)
        days = holidays.country_holidays(country, years=years)
    except NotImplementedError:
        raise ValueError(f"sla.calendar.country = {country!r}: the holidays package has no calendar for "
                         'this country; use its ISO code, e.g. "RU", or "" for none') from None
    return OfficialDays(country=country, holidays=frozenset(days),
                        working_days=frozenset(getattr(days, "weekend_workdays", ())))

