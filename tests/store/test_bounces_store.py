"""A DSN through the ingest runner into the store, on SQLite and on PostgreSQL (issue 12)."""

from __future__ import annotations

import pytest

from parsers.verp import verp_address
from store.models import Bounce, ClientAddress, Event, Outbox
from tests.integration.test_bounces import dsn
from tests.runners.test_ingest import mail
from tests.store.test_prepared import pg_desk  # noqa: F401  (the PostgreSQL fixture, by name)


@pytest.mark.parametrize("which", ["desk", "pg_desk"])
def test_dsns_mark_rows_once_and_the_second_hard_bounce_marks_the_address(request, which):
    d = request.getfixturevalue(which)
    d.client("ivan@client.test")
    assert d.deliver(mail()) == "new-ticket"
    assert d.deliver(mail(subject="Второе", mid="<t9@client.test>")) == "new-ticket"
    acks = list(Outbox.select().where(Outbox.kind == "client.notice.ack").order_by(Outbox.id))
    settings = d.settings

    def verp(row):
        return verp_address(settings.smtp.bounce_address, row.id, settings.service.verp_secret)

    assert d.deliver(dsn(verp(acks[0]), "ivan@client.test")) == "bounce-recorded"
    assert Outbox.get_by_id(acks[0].id).status == "bounced"
    assert Outbox.select().where(Outbox.kind == "staff.notice.bounced").count() == 1
    assert Event.select().where(Event.kind == "bounce").count() == 1
    # The same DSN delivered again (another copy, another UID): nothing more.
    assert d.deliver(dsn(verp(acks[0]), "ivan@client.test").replace(b"dsn-", b"dsn2-")) == "bounce-repeat"
    assert ClientAddress.get(ClientAddress.email == "ivan@client.test").undeliverable_since is None
    assert d.deliver(dsn(verp(acks[1]), "ivan@client.test")) == "bounce-recorded"
    assert Bounce.select().count() == 2
    assert ClientAddress.get(ClientAddress.email == "ivan@client.test").undeliverable_since is not None
    # A forged mac: dropped, as any bounce was before.
    forged = verp(acks[1]).replace("b-", "b-9")
    assert d.deliver(dsn(forged, "ivan@client.test").replace(b"dsn-", b"dsn3-")) == "bounce"
