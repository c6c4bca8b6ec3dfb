"""Staff away and their deputies (`oneassist staff away|back|list`): the rows and their reads."""

from __future__ import annotations

from datetime import datetime

from daemon.core.model import Absence
from store.db import from_db, to_db, write_transaction
from store.models import StaffAbsence


def _value(row: StaffAbsence) -> Absence:
    until = from_db(row.until)
    assert until is not None
    return Absence(email=row.email, deputy=row.deputy_email, until=until)


def set_away(email: str, deputy: str, until: datetime, now: datetime) -> Absence:
    """`email` is away until `until`; a second `staff away` replaces the first."""
    with write_transaction():
        row = StaffAbsence.get_or_none(StaffAbsence.email == email)
        if row is None:
            row = StaffAbsence(email=email)
        row.deputy_email, row.until, row.set_at = deputy, to_db(until), to_db(now)
        row.save()
    return _value(row)


def clear_away(email: str) -> bool:
    """`staff back`: True when `email` had an absence recorded."""
    with write_transaction():
        return StaffAbsence.delete().where(StaffAbsence.email == email).execute() > 0


def active(now: datetime) -> tuple[Absence, ...]:
    """The absences that hold at `now` (an ended one is simply no longer read)."""
    rows = StaffAbsence.select().where(StaffAbsence.until > to_db(now)).order_by(StaffAbsence.email)
    return tuple(_value(row) for row in rows)


def all_absences() -> tuple[Absence, ...]:
    return tuple(_value(row) for row in StaffAbsence.select().order_by(StaffAbsence.email))
