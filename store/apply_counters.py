"""Gapless counters (ticket and invoice numbers), incremented inside the caller's transaction."""

from __future__ import annotations

import peewee

from store.db import database
from store.models import Counter


def next_number(name: str) -> int:
    """Gapless counter: the row is locked by the UPDATE until the transaction ends."""
    updated = Counter.update(value=Counter.value + 1).where(Counter.name == name).execute()
    if not updated:
        try:
            with database.atomic():
                Counter.create(name=name, value=1)
            return 1
        except peewee.IntegrityError:
            Counter.update(value=Counter.value + 1).where(Counter.name == name).execute()
    return Counter.get_by_id(name).value
