"""Schema versions and the upgrades between them, applied in order at start-up."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import peewee

from store import models


def _v1(db: peewee.Database) -> None:
    db.create_tables(models.MODELS, safe=True)


# Append new steps; never edit a released one.
MIGRATIONS: tuple[Callable[[peewee.Database], None], ...] = (_v1,)


def current_version(db: peewee.Database) -> int:
    if not models.SchemaVersion.table_exists():
        return 0
    row = models.SchemaVersion.select(peewee.fn.MAX(models.SchemaVersion.version)).scalar()
    return int(row or 0)


def upgrade(db: peewee.Database) -> int:
    """Apply every missing migration, each in its own transaction; return the version."""
    version = current_version(db)
    for number, step in enumerate(MIGRATIONS, start=1):
        if number <= version:
            continue
        with db.atomic():
            step(db)
            models.SchemaVersion.create(version=number, applied_at=datetime.now(UTC))
        version = number
    return version
