"""Deadlines of tickets: which are due, and taking one so it fires exactly once."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from store import prepared
from store.db import from_db, to_db
from store.models import Timer

BATCH = 500


@dataclass(frozen=True)
class DueTimer:
    id: int
    ticket_id: int
    kind: str
    fire_at: datetime
    # What a one-off timer's tag needs when it fires ({} for a timer derived from state).
    data: dict[str, str] = field(default_factory=dict)


class UnfiredTimer(NamedTuple):
    """A ticket's timer that has not fired, as read before a decision on the ticket."""

    id: int
    kind: str
    fire_at: datetime  # as stored: naive UTC


def _unfired(ticket_id):
    return (Timer.select(Timer.id, Timer.kind, Timer.fire_at)
            .where(Timer.ticket == ticket_id, Timer.fired_at.is_null()).order_by(Timer.id))


def unfired_timers(ticket_id: int) -> tuple[UnfiredTimer, ...]:
    """The ticket's unfired timers, read before its decision so apply replans without reading them.

    Read outside apply's transaction: a timer that fires meanwhile is not deleted by the
    replan (its DELETE wants it unfired), and a wanted one is inserted only if it is missing.
    """
    return tuple(UnfiredTimer(i, kind, from_db(at).replace(tzinfo=None))
                 for i, kind, at in prepared.rows(_unfired, ticket_id))


def due_timers(now: datetime, limit: int = BATCH) -> list[DueTimer]:
    """Unfired timers whose time has come, earliest first."""
    # Served by the (fired_at, fire_at) index: never a scan of all tickets.
    rows = (Timer.select(Timer.id, Timer.ticket, Timer.kind, Timer.fire_at, Timer.data)
            .where(Timer.fired_at.is_null(), Timer.fire_at <= to_db(now))
            .order_by(Timer.fire_at).limit(limit).tuples())
    return [DueTimer(i, ticket_id, kind, from_db(at), json.loads(data) if data else {})
            for i, ticket_id, kind, at, data in rows]


def claim_timer(timer_id: int, now: datetime) -> bool:
    """Mark a timer fired; False when another daemon (or an earlier pass) already did."""
    return bool(Timer.update(fired_at=to_db(now))
                .where(Timer.id == timer_id, Timer.fired_at.is_null()).execute())
