"""Times as people read them: in the service timezone, to the minute, with the zone. Pure.

A time without its zone is a guess for the reader (the ack's "до 30.11.2026 05:01" was
Moscow time in a mail dated +0000), so every time shown to a person carries its offset
from UTC. Scripts get ISO 8601 with the offset instead (`--json`).
"""

from __future__ import annotations

from datetime import datetime, tzinfo

__all__ = ["people_time", "zone_label"]


def zone_label(moment: datetime) -> str:
    """`UTC`, `UTC+3`, `UTC-3:30` for an aware datetime: the same in every language."""
    offset = moment.utcoffset()
    if offset is None:
        raise ValueError("a time shown to people must be timezone-aware")
    minutes = int(offset.total_seconds()) // 60
    if minutes == 0:
        return "UTC"
    sign = "+" if minutes > 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")


def people_time(moment: datetime, zone: tzinfo, style: str = "mail") -> str:
    """`30.11.2026 08:25 UTC+3` in mail, `2026-11-30 08:25 UTC+3` in the CLI's tables."""
    local = moment.astimezone(zone)
    shown = local.strftime("%d.%m.%Y %H:%M" if style == "mail" else "%Y-%m-%d %H:%M")
    return f"{shown} {zone_label(local)}"
