"""Several workers on one store: spool claims keep each client's mails in order and
never give one mail to two workers; outbox rows are leases; once-keys make a second
insert a no-op. Each test runs on SQLite and on PostgreSQL (tests/pgstore.py)."""

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from daemon.core.model import OutboundMail
from store import outbox, spool
from store.claims import claim_spool, lanes_of, release_spool, renew_spool
from store.db import close_db, database, init_db, is_postgres, write_transaction
from store.models import OnceKey, Outbox, SpoolEntry
from store.once import claim_once
from tests.pgstore import fresh_database

NOW = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        init_db(f"sqlite:///{tmp_path / 'shared.db'}")
        yield "sqlite"
        close_db()
        return
    with fresh_database("oa_pgsafe") as url:
        init_db(url)
        try:
            yield "postgresql"
        finally:
            close_db()


def mail(sender: str, n: int) -> bytes:
    return (f"From: Клиент <{sender}>\r\nTo: support@desk.test\r\nSubject: task {n}\r\n"
            f"Message-ID: <{n}@x.test>\r\n\r\nbody {n}\r\n").encode()


def spool_mails(senders: list[str]) -> list[int]:
    items = [spool.Fetched(uid, mail(sender, uid), NOW) for uid, sender in enumerate(senders, start=1)]
    spool.put_many("support@imap.test", "INBOX", 1, items, NOW)
    return [e.id for e in SpoolEntry.select().order_by(SpoolEntry.id)]


def finish(*ids: int) -> None:
    SpoolEntry.update(state="done").where(SpoolEntry.id.in_(ids)).execute()


def test_a_lane_is_one_client_in_arrival_order(store):
    a1, b1, a2, c1, b2 = spool_mails(["a@x.test", "b@x.test", "a@x.test", "c@x.test", "b@x.test"])
    assert claim_spool("w1", 1, 60) == [a1]
    # a2 waits behind a1, which w1 holds; b's two come in order, c's one.
    assert claim_spool("w2", 10, 60) == [b1, c1, b2]
    assert claim_spool("w3", 10, 60) == []
    finish(a1)
    assert claim_spool("w3", 10, 60) == [a2]


def test_a_flood_from_one_client_does_not_hold_up_the_others(store):
    *flood, other = spool_mails(["flood@x.test"] * 300 + ["b@x.test"])
    assert claim_spool("w1", 20, 60) == flood[:20]
    # The next 280 mails are the flooding client's, held by w1: w2 gets past them.
    assert claim_spool("w2", 20, 60) == [other]


def test_an_expired_lease_is_taken_by_another_worker(store):
    (entry,) = spool_mails(["a@x.test"])
    assert claim_spool("w1", 5, 30) == [entry]
    assert claim_spool("w2", 5, 30) == []
    later = datetime.now(UTC) + timedelta(seconds=31)
    assert claim_spool("w2", 5, 30, now=later) == [entry]
    # w1 no longer holds it: its renewal and release do nothing.
    assert renew_spool("w1", [entry], 30) == 0 and release_spool("w1", [entry]) == 0


def test_a_retry_pause_keeps_the_client_s_later_mail_waiting(store):
    a1, a2 = spool_mails(["a@x.test", "a@x.test"])
    assert claim_spool("w1", 1, 60) == [a1]
    assert release_spool("w1", [a1], delay_seconds=30) == 1
    assert claim_spool("w2", 5, 60) == []
    later = datetime.now(UTC) + timedelta(seconds=31)
    assert claim_spool("w2", 5, 60, now=later) == [a1, a2]


def test_a_client_s_aliases_share_its_lane(store):
    from store.models import Client, ClientAddress

    client = Client.create(email="a@x.test", name="A", tariff="basis", manager_email="m@desk.test",
                           created_at=NOW.replace(tzinfo=None))
    ClientAddress.create(client=client, email="a@x.test")
    ClientAddress.create(client=client, email="alias@y.test")
    assert lanes_of([mail("a@x.test", 1), mail("alias@y.test", 2), mail("z@x.test", 3), b"no headers"]) == [
        f"client:{client.id}", f"client:{client.id}", "addr:z@x.test", ""]


def test_staff_mail_about_a_ticket_shares_its_client_s_lane(store):
    from email.header import Header

    from store.models import Client, Ticket

    naive = NOW.replace(tzinfo=None)
    client = Client.create(email="a@x.test", name="A", tariff="basis", manager_email="m@desk.test", created_at=naive)
    Ticket.create(number=12, key="OA-12", client=client, subject="s", subject_norm="s", manager_email="m@desk.test",
                  created_at=naive, updated_at=naive)
    encoded = Header("Re: [OA-12] Билеты в театр", "utf-8").encode()
    staff = (f"From: m@desk.test\r\nSubject: {encoded}\r\n\r\n#done\r\n").encode()
    unknown = b"From: m@desk.test\r\nSubject: Re: [OA-99] nothing\r\n\r\nx\r\n"
    stranger = b"From: z@evil.test\r\nSubject: [OA-12] flood\r\n\r\nx\r\n"
    assert lanes_of([staff, unknown, stranger]) == [f"client:{client.id}", "addr:m@desk.test", "addr:z@evil.test"]


def test_concurrent_claimers_never_share_a_mail_or_a_lane(store):
    """Four workers (threads with a connection each) over 120 mails of 12 clients."""
    senders = [f"c{n % 12}@x.test" for n in range(120)]
    spool_mails(senders)
    lane_of = {e.id: e.lane for e in SpoolEntry.select()}
    order = {lane: sorted(i for i, ln in lane_of.items() if ln == lane) for lane in set(lane_of.values())}
    taken: list[tuple[str, int]] = []
    held: dict[str, str] = {}
    errors: list[str] = []
    guard = threading.Lock()

    def work(name: str) -> None:
        try:
            idle = 0
            while idle < 20:
                ids = claim_spool(name, 3, 60)
                if not ids:
                    idle += 1
                    time.sleep(0.01)
                    continue
                idle = 0
                for entry_id in ids:
                    lane = lane_of[entry_id]
                    with guard:
                        if held.get(lane, name) != name:
                            errors.append(f"lane {lane} held by {held[lane]} and {name}")
                        held[lane] = name
                        taken.append((name, entry_id))
                    time.sleep(0.001)
                    with write_transaction():
                        SpoolEntry.update(state="done").where(SpoolEntry.id == entry_id).execute()
                    with guard:
                        if entry_id == max(i for i in ids if lane_of[i] == lane):
                            held.pop(lane, None)
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(repr(exc))
        finally:
            database.close()

    if not is_postgres():
        database.close()  # each thread opens its own SQLite connection
    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sorted(i for _, i in taken) == sorted(lane_of)  # every mail once
    for lane, ids in order.items():
        assert [i for _, i in taken if lane_of[i] == lane] == ids  # in arrival order
    if is_postgres():
        assert len({name for name, _ in taken}) > 1


def queue_outbox(n: int) -> list[int]:
    with write_transaction():
        return [outbox.enqueue(OutboundMail(f"m{i}@desk.test", "b@desk.test", ("c@x.test",), b"x",
                                            "client.notice.ack"), NOW) for i in range(n)]


def test_outbox_rows_are_leased_and_only_expired_leases_recovered(store):
    first, second = queue_outbox(2)
    rows = outbox.claim(NOW, "node-a", 1, lease_seconds=30)
    assert [r.id for r in rows] == [first]
    # Node b starts while node a is mid-send: a's row is not touched.
    assert outbox.requeue_expired() == 0
    assert [r.id for r in outbox.claim(NOW, "node-b", 5, lease_seconds=30)] == [second]
    # Node a dies; once its lease ran out any daemon puts the row back, counted as a resend.
    assert outbox.requeue_expired(datetime.now(UTC) + timedelta(seconds=31)) == 2
    row = Outbox.get_by_id(first)
    assert (row.status, row.resends, row.lease_until) == ("pending", 1, None)


def test_a_once_key_is_taken_once(store):
    with write_transaction():
        assert claim_once("join:x@y.test:2026-11-27", NOW)
        assert not claim_once("join:x@y.test:2026-11-27", NOW)
    assert OnceKey.select().count() == 1


def test_a_once_key_rolled_back_is_free_again(store):
    with pytest.raises(RuntimeError), write_transaction():
        assert claim_once("suspended:1:2", NOW)
        raise RuntimeError("the notice failed to render")
    with write_transaction():
        assert claim_once("suspended:1:2", NOW)


def test_join_keys_are_pruned_after_a_few_days_and_money_keys_kept(store):
    from store import once

    with write_transaction():
        assert claim_once("join:x@y.test:2026-11-20", NOW - timedelta(days=7))
        assert claim_once("renewal:1:2026-12-01T00:00:00+00:00", NOW - timedelta(days=7))
        assert claim_once("join:x@y.test:2026-11-27", NOW)
        assert once.prune(NOW) == 1
    assert sorted(k.key for k in OnceKey.select()) == ["join:x@y.test:2026-11-27",
                                                       "renewal:1:2026-12-01T00:00:00+00:00"]
