"""Gapless counters (ticket and invoice numbers), incremented inside the caller's transaction."""

from __future__ import annotations

import peewee

from store import prepared
from store.db import database
from store.models import Counter


def _increment(step, name):
    # RETURNING: the new value comes with the UPDATE that locks the row, so taking a number
    # reads nothing back inside the apply transaction (SQLite >= 3.35 and PostgreSQL).
    return Counter.update(value=Counter.value + step).where(Counter.name == name).returning(Counter.value)


def next_number(name: str) -> int:
    """Gapless counter: the row is locked by the UPDATE until the transaction ends."""
    taken = prepared.rows(_increment, 1, name)
    if not taken:
        try:
            with database.atomic():
                Counter.create(name=name, value=1)
            return 1
        except peewee.IntegrityError:
            taken = prepared.rows(_increment, 1, name)
    return taken[0][0]
