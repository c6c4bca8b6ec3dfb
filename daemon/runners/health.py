"""The desk's status as `oneassist status`, systemd's STATUS= and the metrics see it.

One store read (store/ops.py health) and one pure verdict (daemon/core/health.py), so
every process that asks gets the same answer from the same rows.
"""

from __future__ import annotations

from datetime import datetime, time

from daemon.core.health import DeskHealth, Summary, expectations_for, summarize
from daemon.core.settings import Settings
from store import ops


def day_start(settings: Settings, now: datetime) -> datetime:
    """Midnight of `now`'s day in the service timezone: "breaches today" is the desk's day."""
    tz = settings.service.timezone
    return datetime.combine(now.astimezone(tz).date(), time(0), tz)


def read_summary(settings: Settings, now: datetime) -> tuple[DeskHealth, Summary]:
    health = ops.health(now, day_start(settings, now))
    return health, summarize(health, expectations_for(settings.imap))
