"""What the master of `oneassist run` does on the store: take it, free a dead worker's claims.

Loaded by the master only at start and when a runner dies: the store is not its daily work.
"""

from __future__ import annotations

from daemon.config import Settings


def take_store(settings: Settings):  # noqa: ANN201 - store.locks.StoreLock
    """SQLite: the master holds the store's lock for the daemon's life (a second daemon on the
    file stops with the reason), and claims left by its earlier life are free at once. On
    PostgreSQL several daemons share the store; their leases expire by themselves."""
    from store.claims import release_all_leases
    from store.db import close_db, init_db
    from store.locks import StoreLock

    lock = StoreLock(settings.store_url).acquire()
    if lock.exclusive:
        init_db(settings.store_url)
        try:
            release_all_leases()
        finally:
            close_db()
    return lock


def free_claims(settings: Settings) -> None:
    """Release every spool claim (SQLite: the master's one ingest worker died holding them)."""
    from store.claims import release_all_leases
    from store.db import database, init_db

    if database.obj is None:
        init_db(settings.store_url)
    release_all_leases()


def desk_line(settings: Settings) -> str | None:
    """The one line of `oneassist status` (issue 13), read from the store; None if it cannot be read."""
    from datetime import UTC, datetime

    from daemon.runners.health import read_summary
    from store.db import database, init_db

    if database.obj is None:
        init_db(settings.store_url)
    _, summary = read_summary(settings, datetime.now(UTC))
    return summary.line
