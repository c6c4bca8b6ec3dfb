"""The one database handle: bound once at start from a URL (SQLite or PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import peewee

from daemon.errors import ConfigError

# Models bind to this proxy; init_db() points it at the real database once.
database = peewee.DatabaseProxy()

SQLITE_PRAGMAS = {
    # WAL lets the CLI read while the daemon writes; NORMAL is durable in WAL
    # mode across an application crash, which is the failure we guard against.
    "journal_mode": "wal",
    "synchronous": "normal",
    "foreign_keys": 1,
    "busy_timeout": 30000,
    "cache_size": -2000,
}


def open_database(url: str) -> peewee.Database:
    """A peewee Database for a store.url value; SQLite files get their folder created."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        path = Path(url[len("sqlite:///"):])
        path.parent.mkdir(parents=True, exist_ok=True)
        return peewee.SqliteDatabase(str(path), pragmas=SQLITE_PRAGMAS, check_same_thread=False)
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


def init_db(url: str) -> peewee.Database:
    """Bind the models to the database at URL and bring its schema up to date."""
    from store import migrations

    db = open_database(url)
    database.initialize(db)
    db.connect(reuse_if_open=True)
    migrations.upgrade(db)
    return db


def close_db() -> None:
    if database.obj is not None and not database.is_closed():
        database.close()


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
