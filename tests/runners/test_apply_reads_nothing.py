"""A decision's notices are rendered from values read before the apply transaction.

The money a notice shows (tasks left, deposit) is read before apply and carried through the
decision's effects; an invoice is shown from its spec and the number issuing gave it. So
once apply has written, it reads none of the tables a notice shows again (issue 10).

Nor anything else: the timers a replan replaces and the mail a #split moves are read with
the snapshot before the decision, and a ticket or invoice number comes back with the UPDATE
that takes it (RETURNING). Once apply has written, it runs no SELECT until it commits.
"""

import re
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from email import message_from_bytes, policy

import pytest

from daemon.core.model import IssuedInvoice, MoneyView, Notice
from daemon.render.notices import Notifier
from daemon.runners import ingest
from daemon.runners.ingest import Pipeline
from store.db import database
from store.models import Invoice, Message
from store.rows import Client, Ticket
from tests.integration.deskrig import reply_to
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


APPLY, APPLIED = "-- apply", "-- applied"


@pytest.fixture
def applies(statements, monkeypatch):
    """`statements`, with apply()'s start and end marked in them."""
    real = ingest.apply

    def marked(*args, **kwargs):
        statements.append(APPLY)
        try:
            return real(*args, **kwargs)
        finally:
            statements.append(APPLIED)

    monkeypatch.setattr(ingest, "apply", marked)
    return statements


def _apply_selects(seen: list[str]) -> list[str]:
    """Every SELECT apply runs after its first write (before it, it loads the routed ticket's row)."""
    start, end = seen.index(APPLY), seen.index(APPLIED)
    first = next(i for i in range(start, end) if seen[i].startswith(("INSERT", "UPDATE", "DELETE")))
    return [sql for sql in seen[first:end] if sql.startswith("SELECT")]


@pytest.fixture
def staff_desk(desk):
    """The desk trusting our MX's Authentication-Results, so a manager's tags are applied."""
    staff_mail = replace(desk.settings.staff_mail, trusted_authserv_ids=frozenset({"mx.desk.test"}))
    desk.settings = replace(desk.settings, staff_mail=staff_mail)
    desk.pipeline = Pipeline(desk.settings, desk.clock, Notifier(desk.settings))
    return desk


def _manager(note, body: str) -> bytes:
    # What our MX prepends to a manager's mail that passed DMARC (on SPF: the mail has no signature).
    return (b"Authentication-Results: mx.desk.test; dmarc=pass header.from=desk.test\r\n"
            + reply_to(note, "anna@desk.test", body))


def test_a_new_ticket_and_a_reply_replan_timers_without_a_select_in_apply(desk, applies):
    statements = applies
    desk.client("ivan@client.test")
    statements.clear()
    assert desk.deliver(mail()) == "new-ticket"
    # Not vacuous: apply numbered the ticket and planned its SLA timer.
    assert any(sql.startswith('UPDATE "counter"') for sql in statements)
    assert any(sql.startswith(('INSERT OR IGNORE INTO "timer"', 'INSERT INTO "timer"')) for sql in statements)
    assert _apply_selects(statements) == []
    desk.clock.advance(minutes=5)
    statements.clear()
    assert desk.deliver(mail(subject="Re: Билеты в театр", body="И ещё программку", mid="<t2@client.test>",
                             extra="In-Reply-To: <t1@client.test>\r\n")) == "reply"
    assert any(sql.startswith(('INSERT OR IGNORE INTO "timer"', 'INSERT INTO "timer"')) for sql in statements)
    assert _apply_selects(statements) == []


def test_a_split_and_an_invoice_apply_without_a_select(staff_desk, applies):
    statements = applies
    desk = staff_desk
    desk.client("ivan@client.test")
    assert desk.deliver(mail()) == "new-ticket"
    assert desk.deliver(mail(subject="Re: Билеты в театр", body="И ещё такси", mid="<t2@client.test>",
                             extra="In-Reply-To: <t1@client.test>\r\n")) == "reply"
    note = outgoing("staff.")[-1]
    statements.clear()
    # A split moves the answered mail and those after it; one mail stays on OA-1.
    assert desk.deliver(_manager(note, "#invoice 1500\n#split Такси")) == "staff-applied"
    assert Ticket.select().count() == 2
    # The client's second mail moved to the new ticket; the invoice got a number.
    assert sorted(m.ticket.key for m in Message.select().where(Message.direction == "in")) == ["OA-1", "OA-2"]
    assert Invoice.select().count() == 1
    assert _apply_selects(statements) == []


def test_the_apply_select_check_sees_a_select():
    # Not vacuous: a read of the timeline inside apply is what the tests above would find.
    seen = ['SELECT "t1"."id" FROM "client"', APPLY, 'SELECT "t1"."id" FROM "ticket"', 'INSERT INTO "ticket"',
            'SELECT "t1"."id" FROM "message"', 'UPDATE "spool_entry" SET "state"', APPLIED]
    assert _apply_selects(seen) == ['SELECT "t1"."id" FROM "message"']


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
