"""Gapless counters (ticket and invoice numbers), incremented inside the caller's transaction."""

from __future__ import annotations

import peewee

from store import prepared
from store.db import database
from store.models import Counter


def _increment(step, name):
    return Counter.update(value=Counter.value + step).where(Counter.name == name)


def _value(name):
    return Counter.select(Counter.value).where(Counter.name == name)


def next_number(name: str) -> int:
    """Gapless counter: the row is locked by the UPDATE until the transaction ends."""
    updated = prepared.rowcount(_increment, 1, name)
    if not updated:
        try:
            with database.atomic():
                Counter.create(name=name, value=1)
            return 1
        except peewee.IntegrityError:
            prepared.rowcount(_increment, 1, name)
    return prepared.scalar(_value, name)
