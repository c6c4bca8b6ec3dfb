"""The one database handle: bound once at start from a URL (SQLite or PostgreSQL).

A SQLite store holds every raw mail, so it is owner-only whatever the umask: its file
is created 0600 before SQLite opens it (SQLite gives -wal and -shm the mode of the
database file), and folders created for it are 0700.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import stat
from datetime import UTC, datetime
from pathlib import Path

import peewee

from daemon.core.errors import ConfigError

# Models bind to this proxy; init_db() points it at the real database once. It lives in
# store/proxy.py so models.py need not import this module (which imports the migrations,
# which import the models).
from store.proxy import database

log = logging.getLogger("oneassist.store")

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


SQLITE_PRAGMAS = {
    # WAL lets the CLI read while the daemon writes; NORMAL is durable in WAL
    # mode across an application crash, which is the failure we guard against.
    "journal_mode": "wal",
    "synchronous": "normal",
    "foreign_keys": 1,
    "busy_timeout": 30000,
    "cache_size": -2000,
}


SQLITE_MIN = (3, 35)


def open_database(url: str, lock_wait_seconds: float = 30.0) -> peewee.Database:
    """A peewee Database for a store.url value; SQLite files get their folder created.

    lock_wait_seconds (store.lock_wait_seconds) is how long a write waits for another
    connection's write lock before it fails with "database is locked".
    """
    if url.startswith("sqlite:") and sqlite3.sqlite_version_info < SQLITE_MIN:
        # The counters take their number with UPDATE ... RETURNING (store/apply_counters.py).
        raise ConfigError(f"store.url is SQLite but this Python's SQLite is {sqlite3.sqlite_version}; "
                          f"the desk needs {'.'.join(map(str, SQLITE_MIN))} or later (Debian 12 has 3.40), "
                          "or use postgresql://")
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        path = Path(url[len("sqlite:///"):])
        prepare_private_sqlite(path)
        pragmas = {**SQLITE_PRAGMAS, "busy_timeout": max(1, int(lock_wait_seconds * 1000))}
        return peewee.SqliteDatabase(str(path), pragmas=pragmas, check_same_thread=False)
    if url in ("sqlite://:memory:", "sqlite:///:memory:"):
        return peewee.SqliteDatabase(":memory:", pragmas={"foreign_keys": 1})
    if url.startswith(("postgresql://", "postgres://")):
        try:
            import psycopg2  # noqa: F401
        except ImportError:
            raise ConfigError("store.url is PostgreSQL but psycopg2 is not installed: "
                              "pip install 'oneassist-desk[postgres]'") from None
        # playhouse.db_url loads the PostgreSQL driver: imported here, not on a SQLite desk.
        from playhouse.db_url import connect

        return connect(url.replace("postgres://", "postgresql://", 1))
    raise ConfigError(f"store.url = {url!r} is not supported; use sqlite:///PATH or postgresql://…")


def make_private_dirs(folder: Path) -> None:
    """Create `folder` and any missing parents 0700 (Path.mkdir(parents=True) uses the umask)."""
    missing = []
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            break
        missing.append(candidate)
    for candidate in reversed(missing):
        try:
            candidate.mkdir(mode=PRIVATE_DIR)
        except FileExistsError:
            continue  # made a moment ago by another process: its mode is checked below
        os.chmod(candidate, PRIVATE_DIR)


def _tighten(path: Path, mode: int) -> None:
    """chmod `path` to `mode` when it allows more; a file we cannot chmod is named in a warning."""
    try:
        current = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if current & ~mode == 0:
        return
    try:
        os.chmod(path, mode)
    except PermissionError:
        log.warning("store: %s has mode %o and is not ours to chmod; run: chmod %o %s",
                    path, current, mode, path)


def prepare_private_sqlite(path: Path) -> None:
    """The SQLite file, its -wal/-shm and the folders made for it, owner-only (0600/0700)."""
    make_private_dirs(path.parent)
    mode = stat.S_IMODE(path.parent.stat().st_mode)
    if mode & stat.S_IRWXO:
        # An existing folder is the admin's (it may be a home directory): we do not chmod
        # it, but say so. The files in it are 0600 all the same.
        log.warning("store: the folder %s is open to other users (mode %o); the store "
                    "files are 0600, but consider: chmod 700 %s", path.parent, mode, path.parent)
    try:
        # Created empty and 0600 first: SQLite would create it 0644 minus the umask.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, PRIVATE_FILE)
    except FileExistsError:
        pass
    except OSError as exc:
        raise ConfigError(f"store.url: cannot create {path}: {exc.strerror}") from None
    else:
        try:
            os.fchmod(fd, PRIVATE_FILE)  # exactly 0600, even under an odd umask such as 0277
        finally:
            os.close(fd)
    # Also files left by an older version that created them with the umask.
    for suffix in ("", "-wal", "-shm", "-journal"):
        _tighten(path.with_name(path.name + suffix), PRIVATE_FILE)


def init_db(url: str, lock_wait_seconds: float = 30.0) -> peewee.Database:
    """Bind the models to the database at URL and bring its schema up to date."""
    from store import migrations

    db = open_database(url, lock_wait_seconds)
    database.initialize(db)
    db.connect(reuse_if_open=True)
    migrations.upgrade(db)
    return db


def close_db() -> None:
    if database.obj is not None and not database.is_closed():
        database.close()


# Errors that say the store cannot write now, not that the code or the mail is wrong:
# another connection holds the write lock, the disk (or RLIMIT_FSIZE) is full, the
# PostgreSQL server restarted or killed our backend (docs/reliability.md case 8).
_CODE_BUGS = ("no such ", "syntax error", "has no column", "constraint")


def unavailable_reason(exc: BaseException) -> str | None:
    """One line naming why the store cannot write, or None when `exc` is no such error."""
    if isinstance(exc, peewee.IntegrityError):
        return None
    if not isinstance(exc, (peewee.OperationalError, peewee.InterfaceError)):
        return None
    text = " ".join(str(exc).split())[:200] or type(exc).__name__
    if "cannot rollback" in text:
        # SQLite rolls back by itself on a full disk or an I/O error; peewee's ROLLBACK then
        # fails and hides the cause, which is further down the chain of handled errors.
        cause = exc.__context__
        while cause is not None and "cannot rollback" in str(cause):
            cause = cause.__context__
        if cause is not None:
            return " ".join(str(cause).split())[:200] or text
    if any(marker in text.lower() for marker in _CODE_BUGS):
        return None
    return text


def probe_write() -> None:
    """One small real write (a counter row), to prove the store writes again after a failure.

    An empty BEGIN IMMEDIATE would prove only the lock: on a full disk it succeeds, and the
    daemon would say "works again" every few seconds.
    """
    from store.models import Counter

    with write_transaction():
        (Counter.insert(name="store-probe", value=1)
         .on_conflict(conflict_target=[Counter.name], update={Counter.value: Counter.value + 1}).execute())


def reset_connection() -> None:
    """Drop this thread's connection; the next query opens a new one (peewee autoconnect).

    After pg_terminate_backend or a server restart the old connection is dead for good.
    """
    if database.obj is None:
        return
    try:
        if not database.is_closed():
            database.close()
    except Exception:  # noqa: BLE001 - closing a dead connection may fail in many ways
        with contextlib.suppress(Exception):
            database.obj._state.reset()


def is_postgres() -> bool:
    return isinstance(database.obj, peewee.PostgresqlDatabase)


def to_db(moment: datetime | None) -> datetime | None:
    """Aware datetime -> naive UTC, the one form stored (SQLite keeps no zone)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise ValueError("naive datetime given to the store; pass an aware one")
    return moment.astimezone(UTC).replace(tzinfo=None)


def from_db(value: datetime | str | None) -> datetime | None:
    """Stored naive UTC -> aware UTC datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is not None:
        return value.astimezone(UTC)
    return value.replace(tzinfo=UTC)


def write_transaction() -> peewee._atomic:
    """A transaction that will write: on SQLite it takes the write lock at BEGIN.

    A deferred BEGIN that reads and then writes fails at once with "database is
    locked" when another connection committed in between (WAL cannot upgrade a
    stale snapshot); BEGIN IMMEDIATE waits out busy_timeout instead. Nested, it
    is a savepoint like any atomic().
    """
    if isinstance(database.obj, peewee.SqliteDatabase):
        return database.atomic("IMMEDIATE")
    return database.atomic()
