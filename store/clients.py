"""Clients in the store: registration, changes, and what the CLI lists and shows of them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

import peewee

from parsers.addresses import normalize
from store.db import to_db, write_transaction
from store.models import Client, ClientAddress, LedgerEntry, Ticket
from store.queries import client_by_address


def client_by_email(email: str) -> Client | None:
    """The client any of whose addresses is `email` (written as the user typed it)."""
    return client_by_address(normalize(email) or email)


def all_clients() -> list[Client]:
    return list(Client.select().order_by(Client.id))


def addresses_by_client() -> dict[int, list[str]]:
    """Every client's addresses, the primary one included, in the order they were registered."""
    found: dict[int, list[str]] = {}
    for client_id, email in (ClientAddress.select(ClientAddress.client, ClientAddress.email)
                             .order_by(ClientAddress.id).tuples()):
        found.setdefault(client_id, []).append(email)
    return found


def addresses_of(client: Client) -> list[str]:
    return [email for (email,) in ClientAddress.select(ClientAddress.email)
            .where(ClientAddress.client == client).order_by(ClientAddress.id).tuples()]


def ticket_counts() -> dict[int, int]:
    """Client id -> how many tickets they have."""
    return dict(Ticket.select(Ticket.client, peewee.fn.COUNT(Ticket.id)).group_by(Ticket.client).tuples())


def ledger_of(client: Client) -> list[LedgerEntry]:
    return list(LedgerEntry.select().where(LedgerEntry.client == client).order_by(LedgerEntry.id))


def register_client(*, email: str, name: str, tariff: str, manager_email: str, language: str,
                    assistant_email: str | None, addresses: Sequence[str], now: datetime,
                    subscription_start: date | None = None, paid_until: date | None = None) -> Client:
    """One client and all its addresses, in one transaction; ValueError if an address is taken.

    The caller has checked the values against the settings; `addresses` holds `email` too.
    """
    with write_transaction():
        taken = (ClientAddress.select(ClientAddress, Client).join(Client)
                 .where(ClientAddress.email.in_(list(addresses))).first())
        if taken is not None:
            raise ValueError(f"{taken.email} is already registered to client {taken.client.email}")
        client = Client.create(email=email, name=name, tariff=tariff, manager_email=manager_email,
                               language=language, active=True, created_at=to_db(now),
                               assistant_email=assistant_email, subscription_start=subscription_start,
                               paid_until=paid_until)
        for address in dict.fromkeys(addresses):
            ClientAddress.create(client=client, email=address)
    return client


def update_client(client: Client, *, tariff: str | None, deposit_pays_tariff: bool | None,
                  language: str | None) -> Client:
    """Change the fields given (None leaves one as it is)."""
    if tariff is not None:
        client.tariff = tariff
    if deposit_pays_tariff is not None:
        client.deposit_pays_tariff = deposit_pays_tariff
    if language is not None:
        client.language = language
    client.save()
    return client


def move_to_manager(client: Client, manager_email: str, now: datetime) -> tuple[str, list[Ticket]]:
    """`client set --manager`: the client and every ticket of theirs get the new manager.

    Returns (the previous manager, the tickets that are still open). Closed tickets move too,
    so that a client's reply reopening one reaches the manager who has the client now; each
    ticket's timeline records the change. Runs in the caller's transaction.
    """
    from daemon.core.routing import OPEN_STATUSES
    from store.apply import add_event

    previous = client.manager_email
    client.manager_email = manager_email
    client.save()
    tickets = list(Ticket.select().where(Ticket.client == client).order_by(Ticket.number))
    Ticket.update(manager_email=manager_email).where(Ticket.client == client).execute()
    for ticket in tickets:
        add_event(ticket, "manager", f"{previous} -> {manager_email}", now)
    return previous, [t for t in tickets if t.status in OPEN_STATUSES]


def extend_paid_until(client: Client, last_day: date) -> bool:
    """A renewal was paid: the subscription is paid to `last_day` (never moved back)."""
    if client.paid_until is not None and client.paid_until >= last_day:
        return False
    client.paid_until = last_day
    client.save(only=[Client.paid_until])
    return True


def start_subscription(client: Client, start: date, paid_until: date) -> None:
    """The client's periods run from `start` from now on, paid to `paid_until` (inclusive)."""
    client.subscription_start, client.paid_until = start, paid_until
    client.save(only=[Client.subscription_start, Client.paid_until])
def clear_undeliverable(client: Client) -> int:
    """Lift the undeliverable mark of the client's addresses (the client fixed the mailbox)."""
    from store.models import ClientAddress

    return (ClientAddress.update(undeliverable_since=None)
            .where(ClientAddress.client == client, ClientAddress.undeliverable_since.is_null(False)).execute())
