"""Schema v8 on a store written before it: two renewals of one period (the old race) do not
break the upgrade; they leave one once-key, so no third is issued."""

from datetime import UTC, datetime

import peewee
import pytest

from store import migrations
from store.db import close_db, database, init_db, open_database
from store.models import Client, Invoice, OnceKey, SchemaVersion
from store.once import claim_once, renewal_key
from tests.pgstore import fresh_database

PERIOD = datetime(2026, 12, 1)


def _v7_store(db: peewee.Database) -> None:
    database.initialize(db)
    db.connect(reuse_if_open=True)
    for step in migrations.MIGRATIONS[:7]:
        step(db)
    for number in range(1, 8):
        SchemaVersion.create(version=number, applied_at=datetime.now(UTC))
    db.execute_sql('DROP TABLE "once_key"')
    client = Client.create(email="a@x.test", name="A", tariff="basis", manager_email="m@desk.test",
                           created_at=PERIOD)
    for number in ("2026-0001", "2026-0002"):
        Invoice.create(number=number, client=client, kind="renewal", amount=4900, currency="RUB", lines="[]",
                       issued_at=PERIOD, due_at=PERIOD, period_start=PERIOD, period_end=PERIOD)
    db.close()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_old_duplicate_renewals_upgrade_to_one_key(tmp_path, kind):
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
        _v7_store(open_database(url))
        _upgrade_and_check(url)
    else:
        with fresh_database("oa_pgsafe") as url:
            _v7_store(open_database(url))
            _upgrade_and_check(url)


def _upgrade_and_check(url: str) -> None:
    db = init_db(url)
    try:
        assert migrations.current_version(db) == len(migrations.MIGRATIONS)
        assert Invoice.select().count() == 2  # money rows are never deleted
        (key,) = OnceKey.select()
        client_id = Client.get().id
        assert key.key == renewal_key(client_id, datetime(2026, 12, 1, tzinfo=UTC))
        with db.atomic():
            assert not claim_once(renewal_key(client_id, datetime(2026, 12, 1, tzinfo=UTC)), datetime.now(UTC))
    finally:
        close_db()
