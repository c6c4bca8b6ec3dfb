"""docs/reliability.md cases 31, 39 and 40 through Dovecot and SMTP: MIME structure the part cap
must see however the boundary is written, and an HTML entity that broke html.unescape."""

from __future__ import annotations

from email.utils import make_msgid

from store.models import AttachmentMeta, SpoolEntry
from tests.integration.deskrig import client_mail, parse_mail


def flood(sender: str, to: str, content_type: str, count: int = 2000) -> bytes:
    head = (
        f"From: {sender}\r\nTo: {to}\r\nSubject: files\r\nMessage-ID: {make_msgid()}\r\n"
        f"MIME-Version: 1.0\r\n{content_type}\r\n\r\n"
    ).encode()
    return head + b"--b\r\n\r\nx\r\n" * count + b"--b--\r\n"


def acked(desk, client: str, raw: bytes) -> bool:
    mid = parse_mail(raw)["Message-ID"]
    return any(str(m["In-Reply-To"]) == mid for m in desk.inbox(client))


def test_part_floods_behind_rfc2231_or_a_second_content_type_are_quarantined(desk):
    """Cases 31/40: `boundary*=''b`, `boundary*0="b"` and a second Content-Type passed the
    500-part cap (20,000 parts became 20,000 attachment rows); now each is quarantined,
    nothing of it is stored, and the next client's task is acknowledged."""
    client = desk.add_client()
    forms = (
        "Content-Type: multipart/mixed; boundary*=''b",
        'Content-Type: multipart/mixed; boundary*0="b"',
        'Content-Type: multipart/mixed; boundary="b"\r\nContent-Type: text/plain',
    )
    for form in forms:
        desk.deliver(flood(client, desk.support, form))
    task = client_mail(client, desk.support, "Билеты", "Два билета на субботу")
    desk.deliver(task)
    done = desk.run_process("run", "--once", timeout=120)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert SpoolEntry.select().where(SpoolEntry.state == "quarantined").count() == len(forms)
    assert AttachmentMeta.select().count() == 0
    assert acked(desk, client, task)


def test_html_mail_with_a_5000_digit_character_reference_is_acknowledged(desk):
    """Case 39: html.unescape raised ValueError on `&#` + 5,000 digits; the client's
    HTML-only mail was quarantined and got no acknowledgement."""
    client = desk.add_client()
    raw = (
        f"From: {client}\r\nTo: {desk.support}\r\nSubject: tickets\r\n"
        f"Message-ID: {make_msgid()}\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/html; charset=utf-8\r\n\r\n"
        "<p>Please buy tickets</p>&#" + "9" * 5000
    ).encode()
    desk.deliver(raw)
    done = desk.run_process("run", "--once", timeout=60)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert SpoolEntry.select().where(SpoolEntry.state == "quarantined").count() == 0
    assert acked(desk, client, raw)
