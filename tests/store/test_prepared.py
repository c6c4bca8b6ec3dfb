"""store.prepared: a builder whose parameters do not line up fails loudly, and the same
hot path runs on PostgreSQL (the machine's server on 127.0.0.1:5432, as in CI)."""

from dataclasses import replace
from datetime import datetime
from typing import NamedTuple

import pytest

from store import prepared
from store.db import close_db, init_db
from store.models import Event, Message, Ticket
from tests.memdesk import Desk, make_settings
from tests.runners.test_ingest import mail, outgoing


def _swapped(kind, detail):
    return Event.insert(ticket=None, at=None, kind=detail, detail=kind)


def test_parameters_out_of_order_are_refused_naming_types_not_values(tmp_path):
    init_db(f"sqlite:///{tmp_path / 'd.db'}")
    try:
        with pytest.raises(prepared.StatementOrderError) as caught:
            prepared.execute(_swapped, "status", "секретный текст письма")
        assert "секретный" not in str(caught.value) and "str" in str(caught.value)
    finally:
        close_db()


class _MisorderedEvent(NamedTuple):
    # Declared detail-before-kind: peewee binds kind first, so the row would swap them.
    ticket: int | None
    at: datetime
    detail: str
    kind: str


def _insert_misordered(row):
    return Event.insert(**row._asdict())


def test_a_typed_row_out_of_binding_order_is_refused(tmp_path):
    init_db(f"sqlite:///{tmp_path / 'd.db'}")
    try:
        with pytest.raises(prepared.StatementOrderError):
            prepared.execute_row(_insert_misordered, _MisorderedEvent(None, datetime(2026, 1, 1), "секрет", "status"))
    finally:
        close_db()


@pytest.fixture
def pg_desk(tmp_path, pg_url):
    settings = replace(make_settings(tmp_path), store_url=pg_url)
    init_db(settings.store_url)
    try:
        yield Desk(settings)
    finally:
        close_db()


def test_new_task_and_reply_on_postgresql(pg_desk):
    pg_desk.client("ivan@client.test")
    assert pg_desk.deliver(mail()) == "new-ticket"
    assert pg_desk.deliver(mail(subject="Re: Билеты в театр", mid="<t2@client.test>",
                                extra="In-Reply-To: <t1@client.test>\r\n")) == "reply"
    assert pg_desk.deliver(mail()) == "duplicate"
    ticket = Ticket.get()
    assert ticket.key == "OA-1"
    assert Message.select().where(Message.ticket == ticket, Message.direction == "in").count() == 2
    (ack,) = outgoing()  # the bytes come back from outbox_body (bytea) intact
    assert ack["Subject"] == "[OA-1] Билеты в театр"
    assert "Анна" in ack.get_body(("plain",)).get_content()
