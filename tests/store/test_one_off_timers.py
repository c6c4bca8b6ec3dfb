"""One-off timers a tag sets (#remind): kept across replans, stored with their data, migrated (issue 10).

Derived timers (SLA, due, waiting) are replaced whenever the ticket's state is replanned;
a timer a staff mail named is not derived from the state, so a replan must leave it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import peewee

from daemon.core.model import OneOffTimer
from store import migrations
from store.apply import add_timers, create_ticket, sync_timers
from store.db import close_db, database, init_db, write_transaction
from store.models import Client, SchemaVersion, Timer
from store.timers import unfired_timers

NOW = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)


def _ticket():
    client = Client.create(email="ivan@client.test", name="Иван", tariff="basis", manager_email="anna@desk.test",
                           language="ru", created_at=NOW)
    return create_ticket(client, "Столик", "OA", NOW, None)


def test_a_replan_keeps_one_off_timers_and_two_at_one_time_are_two(tmp_path):
    init_db(f"sqlite:///{tmp_path / 'd.db'}")
    try:
        with write_transaction():
            ticket = _ticket()
            at = NOW + timedelta(hours=2)
            add_timers(ticket, (OneOffTimer("#remind", at, (("text", "позвонить"), ("to", "a@x"))),
                                OneOffTimer("#remind", at, (("text", "написать"), ("to", "a@x")))), NOW)
            sync_timers(ticket, lambda ref, tariff: [("sla-breach", at)], NOW, unfired_timers(ticket.id))
            sync_timers(ticket, lambda ref, tariff: [], NOW, unfired_timers(ticket.id))
        kinds = sorted((t.kind, (json.loads(t.data) if t.data else {}).get("text", "")) for t in Timer.select())
        assert kinds == [("#remind", "написать"), ("#remind", "позвонить")]
    finally:
        close_db()


def test_v7_adds_the_data_column_to_a_v6_store_and_keeps_its_timers(tmp_path):
    path = tmp_path / "old.db"
    db = peewee.SqliteDatabase(str(path), pragmas={"foreign_keys": 1})
    database.initialize(db)
    db.connect()
    for step in migrations.MIGRATIONS[:6]:
        step(db)
    for number in range(1, 7):
        SchemaVersion.create(version=number, applied_at=datetime.now(UTC))
    # v6's timer table: no data column, the old unique key.
    db.execute_sql('DROP TABLE "timer"')
    db.execute_sql('CREATE TABLE "timer" ("id" INTEGER NOT NULL PRIMARY KEY, "ticket_id" INTEGER NOT NULL, '
                   '"kind" VARCHAR(32) NOT NULL, "fire_at" DATETIME NOT NULL, "fired_at" DATETIME, '
                   '"created_at" DATETIME NOT NULL)')
    db.execute_sql('CREATE UNIQUE INDEX "timer_ticket_id_kind_fire_at" ON "timer" ("ticket_id", "kind", "fire_at")')
    db.execute_sql('INSERT INTO "timer" ("ticket_id", "kind", "fire_at", "created_at") VALUES (1, ?, ?, ?)',
                   ("sla-breach", NOW, NOW))
    db.close()
    db = init_db(f"sqlite:///{path}")
    try:
        assert migrations.current_version(db) == len(migrations.MIGRATIONS) >= 7
        assert "data" in {c.name for c in db.get_columns("timer")}
        names = {index.name for index in db.get_indexes("timer")}
        assert "timer_ticket_id_kind_fire_at_data" in names and "timer_ticket_id_kind_fire_at" not in names
        (timer,) = Timer.select()
        assert (timer.kind, timer.data) == ("sla-breach", "")
    finally:
        close_db()
