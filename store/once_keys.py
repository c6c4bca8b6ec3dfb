"""The once-keys' names (store/once.py): pure, so the schema migration can fill them in too."""

from __future__ import annotations

from datetime import UTC, date, datetime


def renewal_key(client_id: int, period_start: datetime | str) -> str:
    """One renewal invoice per client and billing period."""
    if isinstance(period_start, str):
        period_start = datetime.fromisoformat(period_start)
    if period_start.tzinfo is None:
        period_start = period_start.replace(tzinfo=UTC)  # stored naive UTC (store/db.py)
    return f"renewal:{client_id}:{period_start.astimezone(UTC).isoformat()}"


def suspension_key(client_id: int, invoice_id: int) -> str:
    """One suspension (and its notice) per client and unpaid invoice."""
    return f"suspended:{client_id}:{invoice_id}"


def join_reply_key(address: str, day: date) -> str:
    """One "how to join" reply per stranger's address and day (UTC)."""
    return f"join:{address.lower()}:{day.isoformat()}"


def transcript_key(entry_id: int) -> str:
    """One transcript (a refusal, or what was applied) per staff mail (spool entry)."""
    return f"transcript:{entry_id}"


def quarantine_alert_key(entry_id: int) -> str:
    """One admin alert per quarantined spool entry."""
    return f"quarantine:{entry_id}"


def timer_key(timer_id: int) -> str:
    """One firing per timer."""
    return f"timer:{timer_id}"
