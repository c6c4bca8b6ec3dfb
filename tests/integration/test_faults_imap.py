"""IMAP dropped in the middle of a FETCH of 1-5 MB mails (docs/reliability.md case 3).

A TCP proxy between the daemon and Dovecot (daemon/sandbox/tcp_proxy.py) resets the
daemon's connection after N bytes from the server, inside a FETCH literal. Must hold: no
partial mail in the spool, the fetcher reconnects with a growing backoff, every mail
arrives once.
"""

from __future__ import annotations

import hashlib

import pytest

from daemon.sandbox.tcp_proxy import TcpProxy
from store.models import Message, SpoolBody, SpoolEntry
from tests.integration.faultrig import mail_with_file, reconfigure, running_service, wait_until


@pytest.fixture
def proxy(dovecot):
    with TcpProxy("127.0.0.1", dovecot.imap_port) as running:
        yield running


def test_cut_fetches_spool_nothing_partial_back_off_and_deliver_every_mail_once(desk, proxy):
    text = desk.config_path.read_text(encoding="utf-8")
    desk.config_path.write_text(text.replace(f"port = {desk.dovecot.imap_port}\n", f"port = {proxy.port}\n", 1),
                                encoding="utf-8")
    settings = reconfigure(desk, "imap", "")
    client = desk.add_client()
    sizes = (900_000, 1_900_000, 2_600_000, 3_700_000)  # 1.2-4.9 MB as base64 mail
    mails = [mail_with_file(client, desk.support, size, seed=i) for i, size in enumerate(sizes)]
    for raw in mails:
        desk.deliver(raw)
    # Three connections in a row die inside a literal: after 1.5 MB (the first mail
    # whole, the second cut), after 0.7 MB and after 3 MB (inside the first mail left).
    for after in (1_500_000, 700_000, 3_000_000):
        proxy.cut_next(after)
    with running_service(settings):
        wait_until(lambda: len([m for m in desk.sink.received if client in m.rcpt_tos]) >= 4, 120,
                   "four acks")
    assert proxy.cuts_done == 3
    # Backoff: 1 s, 2 s, 4 s between the cut connections and the next (generous slack).
    gaps = [b - a for a, b in zip(proxy.connected_at, proxy.connected_at[1:], strict=False)][:3]
    assert len(gaps) == 3, proxy.connected_at
    assert gaps[0] >= 0.9 and gaps[1] >= 1.8 and gaps[2] >= 3.6, gaps
    assert desk.intake_left() == []
    wanted = {hashlib.sha256(raw.replace(b"\n", b"\r\n")).hexdigest() for raw in mails} | \
        {hashlib.sha256(raw).hexdigest() for raw in mails}
    entries = list(SpoolEntry.select())
    assert len(entries) == 4
    for entry in entries:
        body = SpoolBody.get(SpoolBody.entry == entry.id).raw
        assert len(body) == entry.size and hashlib.sha256(body).hexdigest() == entry.sha256
        assert entry.sha256 in wanted, "a spooled mail is not one of the mails sent whole"
    assert Message.select().where(Message.direction == "in").count() == 4
    assert len([m for m in desk.sink.received if client in m.rcpt_tos]) == 4


def test_an_idle_connection_reset_by_the_server_is_replaced_at_once(desk, proxy):
    """The soak found it: after a reset, imapclient's idle_check returned [] at once, over and
    over; the fetcher spun a core until the IDLE renewal (25 minutes) and fetched nothing."""
    import time

    text = desk.config_path.read_text(encoding="utf-8")
    desk.config_path.write_text(text.replace(f"port = {desk.dovecot.imap_port}\n", f"port = {proxy.port}\n", 1),
                                encoding="utf-8")
    settings = reconfigure(desk, "imap", "idle_renew_seconds = 600")
    client = desk.add_client()
    from tests.integration.deskrig import client_mail

    with running_service(settings):
        wait_until(lambda: proxy.live >= 1, 30, "the daemon in IDLE")
        time.sleep(1)
        assert proxy.reset_all() >= 1
        desk.deliver(client_mail(client, desk.support, "После сброса", "Текст"))
        wait_until(lambda: [m for m in desk.sink.received if client in m.rcpt_tos], 30,
                   "the ack of a mail that came after the reset")
    assert desk.intake_left() == []
    assert len(proxy.connected_at) >= 2
