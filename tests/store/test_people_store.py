"""Issue 12's store functions on SQLite and PostgreSQL: absences, a client moving to another
manager, the paid-until day, tickets waiting for a payment."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from store import absences, clients, waiting
from store.db import write_transaction
from store.models import Client, Event, Ticket
from tests.runners.test_ingest import mail
from tests.store.test_prepared import pg_desk  # noqa: F401  (the PostgreSQL fixture)

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def exercise(desk) -> None:
    desk.client("ivan@client.test")
    assert desk.deliver(mail()) == "new-ticket"
    client = Client.get()
    assert client.subscription_start is not None and client.paid_until is not None

    absences.set_away("anna@desk.test", "boris@desk.test", NOW + timedelta(days=7), NOW)
    again = absences.set_away("anna@desk.test", "olga@desk.test", NOW + timedelta(days=3), NOW)
    assert absences.active(NOW) == (again,) and again.until == NOW + timedelta(days=3)
    assert absences.active(NOW + timedelta(days=3)) == ()
    assert absences.clear_away("anna@desk.test") and not absences.clear_away("anna@desk.test")

    with write_transaction():
        previous, still_open = clients.move_to_manager(client, "boris@desk.test", NOW)
    assert previous == "anna@desk.test" and [t.key for t in still_open] == ["OA-1"]
    assert Ticket.get().manager_email == "boris@desk.test" == Client.get().manager_email
    assert Event.get(Event.kind == "manager").detail == "anna@desk.test -> boris@desk.test"

    later = client.paid_until + timedelta(days=31)
    assert clients.extend_paid_until(client, later) and not clients.extend_paid_until(client, date(2000, 1, 1))
    assert Client.get().paid_until == later

    Ticket.update(status="payment").execute()
    (parked,) = waiting.waiting_for_payment(client)
    assert waiting.events_of(parked, ("manager",)) == [("manager", "anna@desk.test -> boris@desk.test")]
    assert waiting.settle_topups(parked, NOW) == []


def test_on_sqlite(desk):
    exercise(desk)


def test_on_postgresql(pg_desk):  # noqa: F811
    exercise(pg_desk)
