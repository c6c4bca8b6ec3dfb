"""A decision's notices are rendered from values read before the apply transaction.

The money a notice shows (tasks left, deposit) is read before apply and carried through the
decision's effects; an invoice is shown from its spec and the number issuing gave it. So
once apply has written, it reads none of the tables a notice shows again (issue 10).
"""

import re
from datetime import UTC, datetime
from decimal import Decimal
from email import message_from_bytes, policy

import pytest

from daemon.core.model import IssuedInvoice, MoneyView, Notice
from daemon.render.notices import Notifier
from store.db import database
from store.rows import Client, Ticket
from tests.runners.test_ingest import mail, outgoing

# The tables whose values notices show.
SHOWN = ("client", "quota_use", "ledger_entry", "invoice")


@pytest.fixture
def statements(monkeypatch):
    """Every SQL statement the store runs, in order."""
    seen: list[str] = []
    db = database.obj
    real = db.execute_sql

    def recording(sql, params=None, *args, **kwargs):
        seen.append(sql)
        return real(sql, params, *args, **kwargs)

    monkeypatch.setattr(db, "execute_sql", recording)
    return seen


def _reads_after_first_write(seen: list[str], write: str) -> list[str]:
    first = next(i for i, sql in enumerate(seen) if sql.startswith(write))
    return [sql for sql in seen[first:] if sql.startswith("SELECT")
            and any(re.search(rf'FROM "{table}"', sql) for table in SHOWN)]


def test_ack_shows_the_quota_without_reading_it_back_in_apply(desk, statements):
    desk.client("ivan@client.test")
    statements.clear()
    assert desk.deliver(mail()) == "new-ticket"
    assert _reads_after_first_write(statements, 'INSERT INTO "ticket"') == []
    # The value is still there: read before the transaction, not dropped.
    (ack,) = outgoing()
    assert "3 из 3" in ack.get_body(("plain",)).get_content()


def test_invoice_notice_renders_from_issued_values_with_no_store(desk, monkeypatch):
    """Notifier.render with a ticket, its money view and an issued invoice touches no database."""
    notifier = Notifier(desk.settings)
    client = Client(id=7, email="ivan@client.test", name="Иван", tariff="basis", manager_email="anna@desk.test",
                    language="ru", active=True)
    ticket = Ticket(id=3, key="OA-3", client=client, subject="Билеты", status="accepted",
                    manager_email="anna@desk.test")
    now = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)
    invoice = IssuedInvoice(number="2026-000042", kind="topup", amount=Decimal("1500.00"), currency="RUB",
                            issued_at=now, due_at=datetime(2026, 12, 4, 7, 0, tzinfo=UTC),
                            lines=(("Пополнение депозита", 1, Decimal("1500.00"), Decimal("1500.00")),),
                            client_name="Иван", client_email="ivan@client.test")
    money = MoneyView(period_start=datetime(2026, 11, 1, tzinfo=UTC), quota=3, quota_used=1,
                      deposit=Decimal("250.00"), currency="RUB")

    def no_sql(*args, **kwargs):
        raise AssertionError("render read the store")

    monkeypatch.setattr(database.obj, "execute_sql", no_sql)
    notice = Notice(template="client.notice.invoice", to=("ivan@client.test",), language="ru", autoreply=False,
                    context=(("invoice", invoice), ("reason", "пополнение")))
    out = notifier.render(notice, ticket, None, now, money)
    message = message_from_bytes(out.raw, policy=policy.default)
    files = [part.get_filename() for part in message.iter_attachments()]
    assert files == ["2026-000042.pdf"]
    assert "2026-000042" in message.get_body(("plain",)).get_content()
