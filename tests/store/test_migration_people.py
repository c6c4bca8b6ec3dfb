"""Issue 12's schema steps on a store written before them: staff absences, and subscriptions
from the client's own start date, with clients registered before kept on their calendar months."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import peewee

from daemon.core.subscription import period_after
from store import migrations
from store.db import close_db, database, init_db
from store.models import Client, SchemaVersion

CREATED = datetime(2026, 9, 17, 8, 0)
# A renewal for December 2026 in Moscow: period_end is local midnight of 1 January, in UTC.
DECEMBER_END = datetime(2026, 12, 31, 21, 0)


def _v7_database(path) -> None:
    db = peewee.SqliteDatabase(str(path), pragmas={"foreign_keys": 1})
    database.initialize(db)
    db.connect()
    for step in migrations.MIGRATIONS[:7]:
        step(db)
    for number in range(1, 8):
        SchemaVersion.create(version=number, applied_at=datetime.now(UTC))
    # What v7 had: no absences, no subscription columns.
    db.execute_sql('DROP TABLE IF EXISTS "staff_absence"')
    db.execute_sql('ALTER TABLE "client" DROP COLUMN "subscription_start"')
    db.execute_sql('ALTER TABLE "client" DROP COLUMN "paid_until"')
    for email in ("old@c.test", "renewed@c.test"):
        db.execute_sql('INSERT INTO "client" ("email", "name", "tariff", "manager_email", "language", "active", '
                       '"created_at", "deposit_pays_tariff") VALUES (?, ?, ?, ?, ?, 1, ?, 0)',
                       (email, "N", "basis", "anna@desk.test", "ru", CREATED))
    db.execute_sql('INSERT INTO "invoice" ("number", "client_id", "kind", "amount", "currency", "lines", '
                   '"issued_at", "due_at", "period_start", "period_end", "status") '
                   "VALUES ('2026-000001', 2, 'renewal', 4900, 'RUB', '[]', ?, ?, ?, ?, 'paid')",
                   (CREATED, CREATED, datetime(2026, 11, 30, 21, 0), DECEMBER_END))
    db.close()


def test_clients_registered_before_keep_calendar_months(tmp_path):
    path = tmp_path / "old.db"
    _v7_database(path)
    db = init_db(f"sqlite:///{path}")
    try:
        assert migrations.current_version(db) == len(migrations.MIGRATIONS)
        assert "staff_absence" in db.get_tables()
        old = Client.get(Client.email == "old@c.test")
        renewed = Client.get(Client.email == "renewed@c.test")
        assert old.subscription_start == date(2026, 9, 1) == renewed.subscription_start
        assert renewed.paid_until == date(2026, 12, 31)
        # Without a renewal: paid to the end of the month the step ran in.
        today = datetime.now(UTC).date()
        assert old.paid_until.month == today.month and (old.paid_until + timedelta(days=1)).day == 1
        # The next periods are calendar months, as before the migration.
        assert period_after(renewed.subscription_start, renewed.paid_until) == (date(2027, 1, 1), date(2027, 1, 31))
    finally:
        close_db()


def test_the_same_on_postgresql():
    import uuid

    import pytest

    try:
        admin = peewee.PostgresqlDatabase("test", host="127.0.0.1", port=5432, user="postgres")
        admin.connect()
    except peewee.OperationalError as exc:
        pytest.skip(f"no PostgreSQL on 127.0.0.1:5432: {exc}")
    name = f"oneassist_people_{uuid.uuid4().hex[:12]}"
    admin.execute_sql(f'CREATE DATABASE "{name}"')
    try:
        db = peewee.PostgresqlDatabase(name, host="127.0.0.1", port=5432, user="postgres")
        database.initialize(db)
        db.connect()
        for step in migrations.MIGRATIONS[:7]:
            step(db)
        for number in range(1, 8):
            SchemaVersion.create(version=number, applied_at=datetime.now(UTC))
        db.execute_sql('DROP TABLE IF EXISTS "staff_absence"')
        db.execute_sql('ALTER TABLE "client" DROP COLUMN "subscription_start"')
        db.execute_sql('ALTER TABLE "client" DROP COLUMN "paid_until"')
        db.execute_sql('INSERT INTO "client" ("email", "name", "tariff", "manager_email", "language", "active", '
                       '"created_at", "deposit_pays_tariff") VALUES (%s, %s, %s, %s, %s, true, %s, false)',
                       ("renewed@c.test", "N", "basis", "anna@desk.test", "ru", CREATED))
        db.execute_sql('INSERT INTO "invoice" ("number", "client_id", "kind", "amount", "currency", "lines", '
                       '"issued_at", "due_at", "period_start", "period_end", "status") '
                       "SELECT '2026-000001', id, 'renewal', 4900, 'RUB', '[]', %s, %s, %s, %s, 'paid' "
                       'FROM "client"', (CREATED, CREATED, datetime(2026, 11, 30, 21, 0), DECEMBER_END))
        db.close()
        db = init_db(f"postgresql://postgres@127.0.0.1:5432/{name}")
        client = Client.get()
        assert (client.subscription_start, client.paid_until) == (date(2026, 9, 1), date(2026, 12, 31))
    finally:
        close_db()
        admin.execute_sql(f'DROP DATABASE "{name}"')
        admin.close()
