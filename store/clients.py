"""Clients in the store: registration, changes, and what the CLI lists and shows of them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

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
                    assistant_email: str | None, addresses: Sequence[str], now: datetime) -> Client:
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
                               assistant_email=assistant_email)
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


def clear_undeliverable(client: Client) -> int:
    """Lift the undeliverable mark of the client's addresses (the client fixed the mailbox)."""
    from store.models import ClientAddress

    return (ClientAddress.update(undeliverable_since=None)
            .where(ClientAddress.client == client, ClientAddress.undeliverable_since.is_null(False)).execute())
