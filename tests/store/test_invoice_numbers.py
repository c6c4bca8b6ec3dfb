"""Invoice numbers stay gapless and unique when invoices are issued at the same moment."""

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from daemon.core.model import InvoiceSpec
from store import billing
from store.db import close_db, database, init_db
from store.models import Client, Invoice


def test_concurrent_invoices_on_sqlite_are_gapless(tmp_path):
    init_db(f"sqlite:///{tmp_path / 'numbers.db'}")
    try:
        client = Client.create(email="c@x.test", name="Клиент", tariff="basis", manager_email="m@x.test",
                               created_at=datetime.now(UTC))
        now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
        spec = InvoiceSpec("topup", Decimal("1000.00"), (("Пополнение", 1, Decimal("1000.00"),
                                                          Decimal("1000.00")),))
        errors: list[BaseException] = []
        start = threading.Barrier(8)

        def issue_many() -> None:
            start.wait()
            try:
                for _ in range(10):
                    with database.atomic():
                        billing.issue_invoice(client, spec, "RUB", now, now + timedelta(days=7))
            except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                errors.append(exc)
            finally:
                database.close()

        threads = [threading.Thread(target=issue_many) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        numbers = sorted(i.number for i in Invoice.select())
        assert numbers == [f"2026-{n:06d}" for n in range(1, 81)]
    finally:
        close_db()


def test_an_sqlite_without_returning_is_refused_with_what_to_do(monkeypatch):
    # The counters take their number with UPDATE ... RETURNING: refused at start, not at the first invoice.
    import sqlite3

    import pytest

    from daemon.core.errors import ConfigError
    from store.db import open_database

    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 31, 1))
    monkeypatch.setattr(sqlite3, "sqlite_version", "3.31.1")
    with pytest.raises(ConfigError, match=r"SQLite is 3\.31\.1; the desk needs 3\.35 or later"):
        open_database("sqlite:///:memory:")
