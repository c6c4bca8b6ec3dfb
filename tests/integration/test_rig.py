"""Proof that the real-server rig behaves as the integration tests assume.

Each test pins one property the cases of docs/reliability.md lean on: mail round-trips byte for byte
through SMTP and Dovecot, IDLE wakes on new mail, UIDVALIDITY can be changed (case 5),
scripted SMTP faults happen exactly as asked (cases 11-13), and restarts keep mail.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import aiosmtplib
import pytest
from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from daemon.sandbox.dovecot import DovecotServer
from daemon.sandbox.smtp import SmtpSink

pytestmark = pytest.mark.integration

SENDER = "desk@oneassist.test"

NewUser = Callable[..., str]  # the `mailboxes` fixture


def make_raw(subject: str = "Проверка", to: str = "client@example.test") -> bytes:
    # 8-bit UTF-8 headers and body, a leading dot (SMTP dot-stuffing) and a long line:
    # the things a careless relay would alter.
    return (
        f"From: OneAssist <{SENDER}>\r\n"
        f"To: {to}\r\n"
        f"Subject: {subject}\r\n"
        "Message-ID: <rig-1@oneassist.test>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
        "\r\n"
        "Здравствуйте!\r\n"
        ".a line starting with a dot\r\n"
        f"{'x' * 900}\r\n"
    ).encode()


def send(sink: SmtpSink, raw: bytes, rcpts: list[str], **kwargs: object) -> None:
    asyncio.run(
        aiosmtplib.send(
            raw, sender=SENDER, recipients=rcpts, hostname=sink.host, port=sink.port, **kwargs
        )
    )


def test_append_then_read_back(dovecot: DovecotServer, mailboxes: NewUser) -> None:
    user = mailboxes("append")
    raw = make_raw(to=user)
    when = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)

    uid = dovecot.append(user, raw, flags=[b"\\Flagged"], internaldate=when)
    other = dovecot.append(user, make_raw("second"), folder="Processed")

    assert dovecot.folder_uids(user) == [uid]
    assert dovecot.messages(user) == [raw]
    assert dovecot.folder_uids(user, "Processed") == [other]
    client = dovecot.connect(user)
    try:
        client.select_folder("INBOX", readonly=True)
        fetched = client.fetch([uid], ["FLAGS", "INTERNALDATE"])[uid]
        assert b"\\Flagged" in fetched[b"FLAGS"]
        assert b"\\Seen" not in fetched[b"FLAGS"]
        assert fetched[b"INTERNALDATE"].astimezone(UTC) == when
        for capability in (b"IDLE", b"CONDSTORE", b"MOVE", b"UIDPLUS"):
            assert capability in client.capabilities()
    finally:
        client.logout()


def test_users_are_case_folded_and_passwords_checked(
    dovecot: DovecotServer, mailboxes: NewUser
) -> None:
    user = mailboxes("Case")
    assert user == user.lower()
    assert dovecot.add_user(user.upper()) == user  # idempotent, same mailbox

    dovecot.connect(user.upper()).logout()
    started = time.monotonic()
    with pytest.raises(LoginError):
        IMAPClient(dovecot.host, dovecot.imap_port, ssl=False).login(user, "wrong")
    # auth_failure_delay = 0: a refused login must not cost Debian's default 2 s.
    assert time.monotonic() - started < 1.0


def test_smtp_mail_lands_byte_identical_in_dovecot(
    dovecot: DovecotServer, mailboxes: NewUser, smtp_sink: SmtpSink
) -> None:
    alice, bob = mailboxes("alice"), mailboxes("bob")
    raw = make_raw(to=alice)

    send(smtp_sink, raw, [alice, bob.upper()], username="desk", password="anything")

    (mail,) = smtp_sink.wait_for(1, timeout=2)
    assert mail.raw == raw
    assert mail.mail_from == SENDER
    assert dovecot.messages(alice) == [raw]
    assert dovecot.messages(bob) == [raw]


def test_smtp_advertises_utf8_and_creates_unknown_recipients(
    dovecot: DovecotServer, smtp_sink: SmtpSink
) -> None:
    async def probe() -> tuple[bool, bool]:
        smtp = aiosmtplib.SMTP(hostname=smtp_sink.host, port=smtp_sink.port)
        await smtp.connect()
        try:
            return smtp.supports_extension("smtputf8"), smtp.supports_extension("8bitmime")
        finally:
            await smtp.quit()

    assert asyncio.run(probe()) == (True, True)
    newcomer = f"newcomer-{uuid.uuid4().hex[:8]}@example.test"
    assert not dovecot.has_user(newcomer)
    send(smtp_sink, make_raw(to=newcomer), [newcomer])
    assert len(dovecot.messages(newcomer)) == 1


def test_idle_reports_append_from_another_connection(
    dovecot: DovecotServer, mailboxes: NewUser
) -> None:
    user = mailboxes("idle")
    watcher = dovecot.connect(user)
    try:
        watcher.select_folder("INBOX")
        watcher.idle()
        started = time.monotonic()
        dovecot.append(user, make_raw(to=user))
        seen: list[tuple] = []
        while time.monotonic() - started < 1.0 and not any(b"EXISTS" in r for r in seen):
            seen += watcher.idle_check(timeout=0.1)
        elapsed = time.monotonic() - started
        watcher.idle_done()
    finally:
        watcher.logout()
    assert (1, b"EXISTS") in seen, seen
    assert elapsed < 1.0


def test_reset_uidvalidity_renumbers(dovecot: DovecotServer, mailboxes: NewUser) -> None:
    user = mailboxes("uidvalidity")
    raws = [make_raw(f"mail {n}") for n in range(3)]
    for raw in raws:
        dovecot.append(user, raw)
    dovecot.append(user, make_raw("expunged later"))
    client = dovecot.connect(user)
    client.select_folder("INBOX")
    client.delete_messages([4])
    client.expunge()
    client.logout()
    before = dovecot.uidvalidity(user)

    after = dovecot.reset_uidvalidity(user)

    assert after != before
    fresh = dovecot.connect(user)
    try:
        assert fresh.folder_status("INBOX", [b"UIDVALIDITY"])[b"UIDVALIDITY"] == after
    finally:
        fresh.logout()
    assert dovecot.folder_uids(user) == [1, 2, 3]
    assert sorted(dovecot.messages(user)) == sorted(raws)


def test_reset_uidvalidity_in_place_keeps_uids(dovecot: DovecotServer, mailboxes: NewUser) -> None:
    user = mailboxes("uidvalidity-live")
    uids = [dovecot.append(user, make_raw(f"mail {n}")) for n in range(2)]
    before = dovecot.uidvalidity(user)

    after = dovecot.reset_uidvalidity(user, renumber=False)

    assert after != before
    assert dovecot.folder_uids(user) == uids


@pytest.mark.parametrize("stage", ["RCPT", "DATA"])
def test_fail_next_451_then_success(
    dovecot: DovecotServer, mailboxes: NewUser, smtp_sink: SmtpSink, stage: str
) -> None:
    user = mailboxes("tempfail")
    raw = make_raw(to=user)
    smtp_sink.fail_next(451, count=1, stage=stage)

    with pytest.raises(aiosmtplib.SMTPException) as refused:
        send(smtp_sink, raw, [user])
    send(smtp_sink, raw, [user])

    assert "451" in str(refused.value)
    assert [(a.stage, a.outcome) for a in smtp_sink.attempts] == [(stage, 451)]
    assert len(smtp_sink.wait_for(1)) == 1
    assert dovecot.messages(user) == [raw]


def test_fail_until_cleared_models_a_4xx_storm(
    dovecot: DovecotServer, mailboxes: NewUser, smtp_sink: SmtpSink
) -> None:
    user = mailboxes("storm")
    smtp_sink.fail_next(451, count=None, stage="RCPT")
    for _ in range(3):
        with pytest.raises(aiosmtplib.SMTPRecipientsRefused):
            send(smtp_sink, make_raw(to=user), [user])

    smtp_sink.clear_faults()
    send(smtp_sink, make_raw(to=user), [user])

    assert [a.outcome for a in smtp_sink.attempts] == [451, 451, 451]
    assert len(dovecot.messages(user)) == 1


def test_reject_recipient_550_spares_the_others(
    dovecot: DovecotServer, mailboxes: NewUser, smtp_sink: SmtpSink
) -> None:
    good, bad = mailboxes("good"), mailboxes("bad")
    smtp_sink.reject_recipient(bad.upper())

    send(smtp_sink, make_raw(to=good), [good, bad])

    (mail,) = smtp_sink.wait_for(1)
    assert mail.rcpt_tos == (good,)
    assert [(a.rcpt_tos, a.outcome) for a in smtp_sink.attempts] == [((bad,), 550)]
    assert dovecot.messages(bad) == []
    assert len(dovecot.messages(good)) == 1


def test_hangup_after_data_still_delivers(
    dovecot: DovecotServer, mailboxes: NewUser, smtp_sink: SmtpSink
) -> None:
    user = mailboxes("hangup")
    raw = make_raw(to=user)
    smtp_sink.hangup_after_data(1)

    with pytest.raises(aiosmtplib.SMTPServerDisconnected):
        send(smtp_sink, raw, [user], timeout=5)
    # The sender cannot know the mail arrived (RFC 1047), so it retries: a duplicate.
    send(smtp_sink, raw, [user])

    assert [a.outcome for a in smtp_sink.attempts] == [0]
    assert len(smtp_sink.wait_for(2)) == 2
    assert dovecot.messages(user) == [raw, raw]


def test_wait_for_times_out_with_a_summary(smtp_sink: SmtpSink) -> None:
    with pytest.raises(TimeoutError, match="0 received"):
        smtp_sink.wait_for(lambda mail: True, timeout=0.05)


def test_restart_keeps_mail_uids_and_port(dovecot: DovecotServer, mailboxes: NewUser) -> None:
    user = mailboxes("restart")
    uids = [dovecot.append(user, make_raw(f"mail {n}")) for n in range(2)]
    port, uidvalidity = dovecot.imap_port, dovecot.uidvalidity(user)

    dovecot.restart()

    assert dovecot.imap_port == port
    assert dovecot.folder_uids(user) == uids
    assert dovecot.uidvalidity(user) == uidvalidity
    assert dovecot.append(user, make_raw("after restart")) == uids[-1] + 1


def test_private_server_starts_fast_and_leaves_no_process(private_dovecot_dir: Path) -> None:
    with DovecotServer(private_dovecot_dir) as server:
        assert server.start_seconds is not None and server.start_seconds < 2.0
        pid = server.master_pid
        server.add_user("solo@example.test")
        assert server.append("solo@example.test", make_raw()) == 1
    assert pid is not None
    assert not Path(f"/proc/{pid}").exists() or b"Z" in _proc_state(pid)
    with pytest.raises(OSError):
        IMAPClient(server.host, server.imap_port, ssl=False, timeout=1)


def _proc_state(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
    except OSError:
        return b"Z"
