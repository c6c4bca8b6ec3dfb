"""A consistent copy of the store while the daemon runs (issue 13).

SQLite: the online backup API copies every page from one read snapshot of its own
connection (in WAL mode the daemon's writers go on meanwhile), into a file that is
created owner-only and renamed into place only when complete. PostgreSQL: the copy is
pg_dump's job; this module tells the caller the server's version so it can check that
the local pg_dump can read it.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
from pathlib import Path

import peewee

from store.proxy import database

COUNTED = ("client", "ticket", "spool_entry", "message", "outbox", "invoice", "timer")


def sqlite_path() -> Path | None:
    """The file of the bound SQLite store, or None (PostgreSQL, or an in-memory store)."""
    db = database.obj
    if not isinstance(db, peewee.SqliteDatabase) or db.database in (":memory:", ""):
        return None
    return Path(db.database)


def counts_of(path: Path) -> dict[str, int]:
    """Rows per table of a SQLite file, and outbox rows per status, to compare copies by."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        counts = {table: conn.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0] for table in COUNTED}
        for status, n in conn.execute("SELECT status, COUNT(*) FROM outbox GROUP BY status"):
            counts[f"outbox_{status}"] = n
    return counts


def backup_sqlite(target: Path) -> dict[str, int]:
    """Copy the bound SQLite store to `target` (0600), consistently; returns the copy's counts."""
    source = sqlite_path()
    if source is None:
        raise ValueError("the store is not a SQLite file")
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        os.close(fd)
        with contextlib.closing(sqlite3.connect(source, timeout=30)) as src, \
                contextlib.closing(sqlite3.connect(tmp)) as dst:
            # pages=-1: every page in one step, from one read snapshot (a step-wise copy
            # restarts whenever another connection writes, and might never finish).
            src.backup(dst, pages=-1)
            # The copy is one self-contained file: no -wal beside it to forget.
            dst.execute("PRAGMA journal_mode=DELETE")
        check = sqlite3.connect(tmp)
        try:
            verdict = check.execute("PRAGMA quick_check").fetchone()[0]
        finally:
            check.close()
        if verdict != "ok":
            raise OSError(f"the copy failed its integrity check: {verdict}")
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return counts_of(target)


def postgres_version() -> int:
    """The server's version as server_version_num (150004 for 15.4)."""
    return int(database.execute_sql("SHOW server_version_num").fetchone()[0])
