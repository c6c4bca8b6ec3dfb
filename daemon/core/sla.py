"""SLA arithmetic: when the first human answer to a client's mail is due."""

from __future__ import annotations

from datetime import datetime, timedelta


def first_response_deadline(arrived: datetime, minutes: float) -> datetime:
    """Due time of the first human answer; the clock starts when the mail reached the mailbox."""
    if arrived.tzinfo is None:
        raise ValueError("arrived must be timezone-aware")
    return arrived + timedelta(minutes=minutes)
