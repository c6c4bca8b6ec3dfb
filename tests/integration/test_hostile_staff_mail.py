"""Hostile staff and client headers through Dovecot and SMTP (issue 9 findings 4, 5, 6, 11).

docs/reliability.md case 36 (replayed signed mail), 37 (client-chosen Message-IDs), 41 (odd display
names), and 20 for address folding. Staff mail is authenticated the way the rig's MX
does it: an Authentication-Results header of the trusted authserv-id `mx.desk.test`,
topmost, as our MX prepends it on arrival.
"""

from __future__ import annotations

import json
import subprocess

from store.models import SpoolEntry, Ticket
from tests.integration.deskrig import client_mail, reply_to

SECRET = "Паспорт 4509 123456"


def text_of(mail) -> str:
    return mail.get_body(("plain",)).get_content()


def mx_pass(desk) -> bytes:
    """What our MX prepends to a mail of the manager that passed DMARC.

    The mails these tests build carry no DKIM-Signature, so the dkim=pass here finds no
    signature to read h= from and does not count; the dmarc pass, with no aligned signature
    in the mail, rests on SPF alignment and does.
    """
    domain = desk.manager.split("@")[1]
    return (f"Authentication-Results: mx.desk.test; dkim=pass header.d={domain}; "
            f"dmarc=pass header.from={domain}\r\n").encode()


def unverified_alerts(desk) -> list:
    return [m for m in desk.inbox(desk.admin) if "Unverified" in m["Subject"]]


def test_prepended_subject_on_a_signed_mail_of_the_manager_runs_no_command(desk):
    """docs/reliability.md case 36: the MX's DKIM pass covers the bottom-most Subject; the parser read the top one.

    The manager's signed, harmless answer (a reply to the desk's notice, to the plain support
    address) is replayed with `Subject: [#cancel]` put above it.
    """
    client = desk.add_client()
    _, notice = desk.new_task(client)
    sent_before = len(desk.inbox(client))
    signed = reply_to(notice, desk.manager, "Уточню наличие и вернусь.", to=desk.support)
    replayed = mx_pass(desk) + f"Subject: Re: [#cancel] {notice['Subject']}\r\n".encode() + signed
    desk.deliver(replayed)
    desk.run_once()
    assert Ticket.get().status == "new"
    assert len(desk.inbox(client)) == sent_before
    (alert,) = unverified_alerts(desk)
    assert "repeated header subject" in text_of(alert)
    transcript = desk.latest(desk.manager)
    assert "не применены" in transcript["Subject"] and "repeated header subject" in text_of(transcript)
    # The same mail as signed, without the prepended header, is the manager's answer.
    desk.deliver(mx_pass(desk) + signed)
    desk.run_once()
    assert text_of(desk.latest(client)).startswith("Уточню наличие и вернусь.")


def test_from_with_a_second_mailbox_is_not_the_manager(desk):
    """Issue 9 finding 11: `From: manager, other` was read as the manager; now it is refused."""
    client = desk.add_client()
    _, notice = desk.new_task(client)
    sent_before = len(desk.inbox(client))
    raw = reply_to(notice, desk.manager, "#done\n" + SECRET, to=desk.support)
    raw = raw.replace(f"<{desk.manager}>".encode(), f"<{desk.manager}>, eve@evil.test".encode(), 1)
    desk.deliver(mx_pass(desk) + raw)
    desk.run_once()
    assert Ticket.get().status == "new"
    assert len(desk.inbox(client)) == sent_before
    (alert,) = unverified_alerts(desk)
    assert "mailboxes in From" in text_of(alert)


def test_fullwidth_lookalike_of_the_managers_domain_is_not_staff(desk):
    """Issue 9 finding 11: IDNA 2003 folded `ｅxample.test` into the staff domain."""
    client = desk.add_client()
    _, notice = desk.new_task(client)
    sent_before = len(desk.inbox(client))
    local, _, domain = desk.manager.partition("@")
    lookalike = f"{local}@\uff45{domain[1:]}"
    raw = reply_to(notice, desk.manager, "#done\n" + SECRET)
    raw = raw.replace(desk.manager.encode(), lookalike.encode("utf-8"))
    desk.deliver(mx_pass(desk) + raw)
    desk.run_once()
    assert Ticket.get().status == "new"
    assert len(desk.inbox(client)) == sent_before
    assert not any(SECRET in r.raw.decode("utf-8", "replace") for r in desk.sink.received)


def test_a_clients_message_id_never_threads_the_managers_answer(desk):
    """docs/reliability.md case 37: client B reuses client A's Message-ID; the manager answers A by thread alone.

    Her mail program ignores Reply-To (the plain support address, no staff token) and the
    MX saw her DKIM pass. The client's Message-ID names no ticket for staff mail: nothing is
    applied, B receives nothing, and the manager is asked which ticket. Replying to the
    desk's own notice (a Message-ID the desk minted) reaches A's ticket.
    """
    a = desk.add_client("a")
    b = desk.add_client("b")
    shared = "<shared-1@example.test>"
    desk.deliver(client_mail(a, desk.support, "Визы", "Нужна виза", message_id=shared))
    desk.run_once()
    notice_a = desk.latest(desk.manager)
    desk.deliver(client_mail(b, desk.support, "Визы", "Мне тоже", message_id=shared))
    desk.run_once()
    assert Ticket.select().count() == 2
    sent_to_b = len(desk.inbox(b))
    sent_to_a = len(desk.inbox(a))

    by_client_id = reply_to(notice_a, desk.manager, "#done\n" + SECRET, to=desk.support)
    by_client_id = by_client_id.replace(str(notice_a["Message-ID"]).encode(), shared.encode())
    desk.deliver(mx_pass(desk) + by_client_id)
    desk.run_once()
    assert len(desk.inbox(b)) == sent_to_b and len(desk.inbox(a)) == sent_to_a
    assert not any(SECRET in r.raw.decode("utf-8", "replace") for r in desk.sink.received)
    assert {t.key: t.status for t in Ticket.select()} == {"OA-1": "new", "OA-2": "new"}
    asked = desk.latest(desk.manager)
    assert "не применены" in asked["Subject"] and "задача не найдена" in text_of(asked)

    # Threaded by the desk's own Message-ID (the notice's), the answer reaches A only.
    desk.deliver(mx_pass(desk) + reply_to(notice_a, desk.manager, "#done\n" + SECRET, to=desk.support))
    desk.run_once()
    assert {t.key: t.status for t in Ticket.select()} == {"OA-1": "done", "OA-2": "new"}
    assert SECRET in text_of(desk.latest(a)) and len(desk.inbox(b)) == sent_to_b


def test_subject_tag_alone_does_not_route_staff_mail(desk):
    """docs/reliability.md case 37: `[OA-N]` is chosen by whoever writes the mail; staff mail needs our ids."""
    client = desk.add_client()
    desk.new_task(client)
    sent_before = len(desk.inbox(client))
    raw = client_mail(desk.manager, desk.support, "[OA-1] про билеты", "#done\n" + SECRET, name="Анна")
    desk.deliver(mx_pass(desk) + raw)
    desk.run_once()
    assert Ticket.get().status == "new" and len(desk.inbox(client)) == sent_before
    assert "задача не найдена" in text_of(desk.latest(desk.manager))


def test_display_name_decoding_to_a_line_break_is_acknowledged_without_injection(desk):
    """docs/reliability.md case 41: the sender is the addr-spec of the raw From, not what the name decodes to."""
    client = desk.add_client()
    raw = client_mail(client, desk.support, "Цветы", "Розы к 18:00")
    raw = raw.replace(b"From: ", b"From: =?UTF-8?Q?=D0=A4=D1=91=D0=B4=D0=BE=D1=80=0D=0ABcc:_x@evil.test?= <"
                      + client.encode() + b">\nX-Old-From: ", 1)
    desk.deliver(raw)
    desk.run_once()
    (ack_raw,) = desk.dovecot.messages(client)
    head = ack_raw.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]
    assert b"\nBcc:" not in head and b"evil.test" not in head
    assert all("x@evil.test" not in r.rcpt_tos for r in desk.sink.received)
    ticket = Ticket.get()
    assert ticket.client.email == client


def test_mail_whose_sender_cannot_be_read_is_quarantined_with_an_alert(desk):
    """docs/reliability.md case 41: no readable From: kept in quarantine and shown to admins, never dropped."""
    desk.add_client()
    raw = client_mail("ivan@example.test", desk.support, "Задача", "Текст")
    raw = raw.replace(b"From: ", b"From: Ivan Petrov\nX-Old-From: ", 1)
    desk.deliver(raw)
    desk.run_once()
    (entry,) = SpoolEntry.select()
    assert entry.state == "quarantined" and entry.error.startswith("sender unreadable")
    alerts = [m for m in desk.inbox(desk.admin) if f"#{entry.id}" in m["Subject"]]
    assert len(alerts) == 1
    listed = desk.run_process("--json", "quarantine", "list")
    assert listed.returncode == 0 and [r["id"] for r in json.loads(listed.stdout)] == [entry.id]
    assert Ticket.select().count() == 0


def test_own_dkim_check_refuses_a_prepended_subject_and_a_signature_that_does_not_over_sign(
        desk, tmp_path):
    """docs/reliability.md case 36 with staff_mail.verify_dkim: From and Subject must be over-signed."""
    import base64
    import subprocess

    import dkim

    from daemon.config import load

    private = subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
                             check=True, capture_output=True).stdout
    public = subprocess.run(["openssl", "pkey", "-pubout", "-outform", "DER"], input=private, check=True,
                            capture_output=True).stdout
    domain = desk.manager.split("@")[1]
    keys = tmp_path / "dkim.json"
    keys.write_text(json.dumps({f"s1._domainkey.{domain}.": "v=DKIM1; k=rsa; p="
                                + base64.b64encode(public).decode()}))
    desk.config_path.write_text(desk.config_path.read_text().replace(
        "[staff_mail]", f'[staff_mail]\nverify_dkim = true\ndkim_keys_file = "{keys}"'))
    desk.settings = load(desk.config_path)
    client = desk.add_client()
    _, notice = desk.new_task(client)
    sent_before = len(desk.inbox(client))

    def signed(body: str, headers: list[bytes]) -> bytes:
        raw = reply_to(notice, desk.manager, body, to=desk.support).replace(b"\n", b"\r\n")
        return dkim.sign(raw, b"s1", domain.encode(), private, include_headers=headers) + raw

    plain = [b"from", b"to", b"subject", b"in-reply-to", b"references"]
    over = [b"from", b"from", b"to", b"subject", b"subject", b"in-reply-to", b"references",
            *[name for name in (b"mime-version", b"content-type", b"content-transfer-encoding")
              for _ in (1, 2)]]
    # Signed as Gmail signs (no over-signing), with a Subject command put above: refused.
    desk.deliver(f"Subject: Re: [#cancel] {notice['Subject']}\r\n".encode()
                 + signed("Уточню наличие.", plain))
    # Over-signed, with the same prepended Subject: the signature itself breaks.
    desk.deliver(f"Subject: Re: [#cancel] {notice['Subject']}\r\n".encode()
                 + signed("Уточню наличие.", over))
    desk.run_once()
    assert Ticket.get().status == "new" and len(desk.inbox(client)) == sent_before
    assert len(unverified_alerts(desk)) == 2
    # Not over-signed, not tampered with: still refused, the signer must over-sign.
    desk.deliver(signed("#cancel", plain))
    desk.run_once()
    assert Ticket.get().status == "new"
    assert "does not over-sign" in text_of(unverified_alerts(desk)[-1])
    desk.deliver(signed("#accept +1d\nБерём.", over))
    desk.run_once()
    assert Ticket.get().status == "accepted"


def _annas_signed_answer(desk, to: str, subject: str, in_reply_to: str | None = None) -> bytes:
    """Anna answers in Outlook's style: her words on top, the client's text unquoted below.

    As text/plain the desk cuts at the separator and reads `Hi Petr...` only; the client's
    `--cut` and `#cancel` lines are history. Sent 8bit so the bytes are the text.
    """
    head = [f"From: Anna <{desk.manager}>", f"To: {to}", f"Subject: {subject}",
            f"Message-ID: <anna-{len(to)}@{desk.manager.split('@')[1]}>"]
    if in_reply_to:
        head += [f"In-Reply-To: {in_reply_to}", f"References: {in_reply_to}"]
    head += ["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8",
             "Content-Transfer-Encoding: 8bit"]
    body = ["Hi Petr, I will call the shop today.", "", "-----Original Message-----",
            "The client wrote:", "", "--cut", "", "#cancel", ""]
    return "\r\n".join(head + [""] + body).encode()


RECUT = b'Content-Type: multipart/mixed; boundary="cut"\r\n'


def test_prepended_content_type_recutting_a_signed_answer_runs_no_command(desk):
    """docs/reliability.md case 36: a replayed signed mail re-cut by a Content-Type put above the signed one.

    Anna's signed mail (to the client, quoting him) passed DKIM at our MX. The client replays
    it to the desk with `Content-Type: multipart/mixed; boundary="cut"` and an In-Reply-To of
    the ack the desk minted for him: the text the desk read was his quoted `#cancel` alone,
    applied as Anna's command. Now the repeated Content-Type is refused: the ticket stays,
    the client is told nothing and the admin is alerted.
    """
    client = desk.add_client()
    ack, notice = desk.new_task(client)
    sent_before = len(desk.inbox(client))
    signed = _annas_signed_answer(desk, client, "Re: flowers")
    replayed = mx_pass(desk) + RECUT + f"In-Reply-To: {ack['Message-ID']}\r\n".encode() + signed
    desk.deliver(replayed)
    desk.run_once()
    assert Ticket.get().status == "new"
    assert len(desk.inbox(client)) == sent_before
    (alert,) = unverified_alerts(desk)
    assert "repeated header content-type" in text_of(alert)
    # The same signed bytes, without the re-cut, are Anna's harmless words: nothing cancelled.
    desk.deliver(mx_pass(desk) + f"In-Reply-To: {ack['Message-ID']}\r\n".encode() + signed)
    desk.run_once()
    assert Ticket.get().status == "new"


def test_own_dkim_check_refuses_a_content_type_put_above_a_signed_answer(desk, tmp_path):
    """docs/reliability.md case 36 with staff_mail.verify_dkim: the MIME headers must be over-signed.

    Anna's answer to the desk's notice is signed with From and Subject over-signed but
    Content-Type only once, so dkimpy still verifies it with a second Content-Type above.
    """
    import base64
    import subprocess

    import dkim

    from daemon.config import load

    private = subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
                             check=True, capture_output=True).stdout
    public = subprocess.run(["openssl", "pkey", "-pubout", "-outform", "DER"], input=private, check=True,
                            capture_output=True).stdout
    domain = desk.manager.split("@")[1]
    keys = tmp_path / "dkim.json"
    keys.write_text(json.dumps({f"s1._domainkey.{domain}.": "v=DKIM1; k=rsa; p="
                                + base64.b64encode(public).decode()}))
    desk.config_path.write_text(desk.config_path.read_text().replace(
        "[staff_mail]", f'[staff_mail]\nverify_dkim = true\ndkim_keys_file = "{keys}"'))
    desk.settings = load(desk.config_path)
    client = desk.add_client()
    _, notice = desk.new_task(client)
    sent_before = len(desk.inbox(client))
    raw = _annas_signed_answer(desk, desk.support, f"Re: {notice['Subject']}", str(notice["Message-ID"]))
    base = [b"from", b"from", b"to", b"subject", b"subject", b"in-reply-to", b"references"]
    once = base + [b"mime-version", b"content-type", b"content-transfer-encoding"]
    signed = dkim.sign(raw, b"s1", domain.encode(), private, include_headers=once) + raw
    assert dkim.verify(RECUT + signed, dnsfunc=lambda name, timeout=5: json.loads(
        keys.read_text())[name.decode()].encode())  # the hole: dkimpy accepts the re-cut mail
    desk.deliver(RECUT + signed)
    desk.run_once()
    assert Ticket.get().status == "new" and len(desk.inbox(client)) == sent_before
    (alert,) = unverified_alerts(desk)
    assert "repeated header content-type" in text_of(alert)
    # Over-signed, the untampered answer is Anna's and reaches the client as her words.
    over = base + [b"mime-version"] * 2 + [b"content-type"] * 2 + [b"content-transfer-encoding"] * 2
    desk.deliver(dkim.sign(raw, b"s1", domain.encode(), private, include_headers=over) + raw)
    desk.run_once()
    assert Ticket.get().status != "cancelled"
    assert text_of(desk.latest(client)).startswith("Hi Petr")


def _mx_dkim_pass(domain: str, signed: bytes) -> bytes:
    """What our MX prepends when the top DKIM-Signature of `signed` verified on arrival.

    As OpenDKIM and rspamd write it: the signer's d= and the first 8 characters of its b=
    (RFC 8601 / RFC 6008 header.b), which is how the desk finds the signature to read h= from.
    """
    from parsers.dkim_rules import header_fields, parse_tags

    name, value = header_fields(signed)[0]
    assert name == b"dkim-signature"
    b_value = b"".join(parse_tags(value)[b"b"].split()).decode()
    return (f"Authentication-Results: mx.desk.test; dkim=pass header.d={domain} "
            f"header.s=s1 header.b={b_value[:8]}\r\n").encode()


def test_in_reply_to_added_to_a_signed_command_that_did_not_sign_it_runs_no_command(desk):
    """docs/reliability.md case 36 on the Authentication-Results path: the pass is tied to its signature.

    Anna once sent `#cancel` to the support address, signed over From, Subject and the MIME
    headers (over-signed) but without In-Reply-To: it named no ticket, so it did nothing.
    The client replays it with `In-Reply-To: <the ack the desk minted for him>`, one copy,
    so the repeated-header rule does not fire, and our MX still writes dkim=pass: the
    signature does not cover In-Reply-To. The desk now reads h= of the signature named by
    header.b and refuses. Anna's own answer, signed with In-Reply-To, is still her command.
    """
    import dkim

    client = desk.add_client()
    ack, _ = desk.new_task(client)
    sent_before = len(desk.inbox(client))
    domain = desk.manager.split("@")[1]
    private = subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                              "rsa_keygen_bits:2048"], check=True, capture_output=True).stdout
    mime = [b"mime-version", b"content-type", b"content-transfer-encoding"] * 2
    head = [f"From: Anna <{desk.manager}>", f"To: {desk.support}", "Subject: Re: дубль",
            f"Message-ID: <anna-cancel@{domain}>", "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit"]
    raw = "\r\n".join(head + ["", "#cancel", "Дубль, закрываю.", ""]).encode()
    without = [b"from", b"from", b"to", b"subject", b"subject", b"message-id", *mime]
    signed = dkim.sign(raw, b"s1", domain.encode(), private, include_headers=without) + raw
    routed = f"In-Reply-To: {ack['Message-ID']}\r\n".encode()
    desk.deliver(_mx_dkim_pass(domain, signed) + routed + signed)
    desk.run_once()
    assert Ticket.get().status == "new"
    assert len(desk.inbox(client)) == sent_before
    (alert,) = unverified_alerts(desk)
    assert "does not sign in-reply-to" in text_of(alert)
    # Anna's own answer to the ack, signed with In-Reply-To over-signed: her command counts.
    answer = routed + raw
    over = [*without, b"in-reply-to", b"in-reply-to"]
    signed = dkim.sign(answer, b"s1", domain.encode(), private, include_headers=over) + answer
    desk.deliver(_mx_dkim_pass(domain, signed) + signed)
    desk.run_once()
    assert Ticket.get().status == "cancelled"
