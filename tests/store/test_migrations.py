"""Schema v5 moves the mail bytes out of spool_entry and outbox, on a database written by v4."""

from datetime import UTC, datetime

import peewee

from store import migrations, spool
from store.db import close_db, database, init_db
from store.models import SchemaVersion
from store.outbox import bodies_of

NOW = datetime(2026, 11, 27, 7, 0)


def _v4_database(path) -> peewee.SqliteDatabase:
    """A store as v4 left it: the bytes in a `raw` column of the bookkeeping rows."""
    db = peewee.SqliteDatabase(str(path), pragmas={"foreign_keys": 1})
    database.initialize(db)
    db.connect()
    for step in migrations.MIGRATIONS[:4]:
        step(db)
    for number in range(1, 5):
        SchemaVersion.create(version=number, applied_at=datetime.now(UTC))
    db.execute_sql('ALTER TABLE "spool_entry" ADD COLUMN "raw" BLOB')
    db.execute_sql('ALTER TABLE "outbox" ADD COLUMN "raw" BLOB')
    db.execute_sql(
        'INSERT INTO "spool_entry" ("account", "mailbox", "uidvalidity", "uid", "sha256", "size", "raw", '
        '"state", "attempts", "outcome", "error", "sender", "fetched_at") '
        "VALUES ('a', 'INBOX', 1, 7, '', 5, ?, 'done', 0, '', '', '', ?)", (b"mail\x00", NOW))
    db.execute_sql(
        'INSERT INTO "outbox" ("message_id", "kind", "envelope_from", "recipients", "raw", "status", '
        '"attempts", "resends", "next_attempt_at", "last_error", "created_at", "claimed_by") '
        "VALUES ('m@x', 'client.notice.ack', 'b@x', 'c@x', ?, 'pending', 0, 0, ?, '', ?, '')",
        (b"ack\r\n", NOW, NOW))
    db.close()
    return db


def test_v5_moves_the_bytes_and_drops_the_columns(tmp_path):
    path = tmp_path / "old.db"
    _v4_database(path)
    db = init_db(f"sqlite:///{path}")
    try:
        assert migrations.current_version(db) == len(migrations.MIGRATIONS) >= 5
        assert "raw" not in {c.name for c in db.get_columns("spool_entry")}
        assert "raw" not in {c.name for c in db.get_columns("outbox")}
        (entry_id,) = db.execute_sql('SELECT "id" FROM "spool_entry"').fetchone()
        assert spool.raw_of(entry_id) == b"mail\x00"
        (outbox_id,) = db.execute_sql('SELECT "id" FROM "outbox"').fetchone()
        assert bodies_of([outbox_id]) == {outbox_id: b"ack\r\n"}
    finally:
        close_db()


def test_a_fresh_store_starts_with_the_body_tables(tmp_path):
    db = init_db(f"sqlite:///{tmp_path / 'new.db'}")
    try:
        assert {"spool_body", "outbox_body"} <= set(db.get_tables())
        assert "raw" not in {c.name for c in db.get_columns("spool_entry")}
    finally:
        close_db()
