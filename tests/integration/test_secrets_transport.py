"""Secrets and transport through the daemon's real path (docs/reliability.md case 28; issue 9 findings 7, 10).

Through Dovecot and the SMTP sink: the example's reply token secret stops `run` and `check`
before any mail is touched; a staff reply address minted with Wave 1's recipe (the secret
plus "/staff") is not a staff token; AUTH in clear text to a host off loopback is refused
before a connection is made, and allowed when the section says so.
"""

from __future__ import annotations

import re
import socket
import tomllib

import pytest

from daemon.config import load
from daemon.sandbox.smtp import SmtpSink
from parsers.tokens import reply_address
from store.models import Ticket
from tests.integration.deskrig import client_mail


def _set(desk, pattern: str, replacement: str) -> None:
    text, count = re.subn(pattern, replacement, desk.config_path.read_text(encoding="utf-8"),
                          flags=re.M)
    assert count == 1, pattern
    desk.config_path.write_text(text, encoding="utf-8")


def test_example_secret_stops_run_and_check_before_any_mail_is_taken(desk):
    """Finding 7: the public example's secret is refused by `run` and `check` (docs/reliability.md case 28)."""
    client = desk.add_client()
    desk.deliver(client_mail(client, desk.support, "Билеты", "Два билета"))
    _set(desk, r'^reply_token_secret = ".*"$', 'reply_token_secret = "change-me"')
    for command in (("run", "--once"), ("check",)):
        done = desk.run_process(*command)
        assert done.returncode == 2, (command, done.stderr)
        stderr = done.stderr.decode()
        assert "service.reply_token_secret" in stderr and "placeholder" in stderr
        assert "oneassist secret" in stderr
    # Nothing was taken from the mailbox, nothing was sent.
    assert len(desk.intake_left()) == 1
    assert desk.inbox(client) == [] and desk.sink.received == []


def test_staff_address_minted_from_secret_plus_suffix_is_not_a_staff_token(desk):
    """Finding 7: Wave 1's staff key (secret + "/staff") no longer mints a staff address."""
    client = desk.add_client()
    _, notice = desk.new_task(client)
    sent_before = len(desk.inbox(client))
    secret = tomllib.loads(desk.config_path.read_text(encoding="utf-8"))["service"][
        "reply_token_secret"].encode()
    forged = reply_address(desk.support, "OA-1", secret + b"/staff")
    assert forged.lower() != str(notice["Reply-To"].addresses[0].addr_spec).lower()
    desk.answer(notice, desk.manager, "#done", to=forged)
    assert Ticket.get().status == "new"
    assert len(desk.inbox(client)) == sent_before
    # The real staff address (HKDF-derived key) still works.
    desk.answer(notice, desk.manager, "#done")
    assert Ticket.get().status == "done"


def _own_non_loopback_ipv4() -> str | None:
    """This host's address on its default route (no packet is sent), or None."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: only picks the outgoing interface
            address = probe.getsockname()[0]
    except OSError:
        return None
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def test_plaintext_smtp_auth_off_loopback_is_refused_unless_allowed(desk):
    """Finding 10: security = "none" + username to a non-loopback server: no AUTH in clear."""
    address = _own_non_loopback_ipv4()
    if address is None:
        pytest.skip("this host has no non-loopback IPv4 address to run a remote-looking server on")
    with SmtpSink(host=address) as remote:
        _set(desk, r'^host = "127\.0\.0\.1"\nport = \d+\nsecurity = "none"\nfrom_address',
             f'host = "{address}"\nport = {remote.port}\nsecurity = "none"\n'
             f'username = "{desk.support}"\npassword = "secret"\nfrom_address')
        refused = desk.run_process("check")
        assert refused.returncode == 2, refused.stdout
        stderr = refused.stderr.decode()
        assert f"smtp.security = \"none\" would send the password of smtp.username in clear " \
               f"text to {address}" in stderr
        assert "smtp.allow_plaintext_auth = true" in stderr
        # The admin's explicit choice for that section: the check logs in and passes.
        _set(desk, r"^from_address = (.*)$", r"allow_plaintext_auth = true\nfrom_address = \1")
        allowed = desk.run_process("check")
        assert allowed.returncode == 0, (allowed.stdout, allowed.stderr)
        assert f"ok    smtp: {address}:{remote.port} answered" in allowed.stdout.decode()


def test_loopback_servers_keep_plaintext_auth_for_the_rig_and_sandbox(desk):
    """Finding 10: the loopback exception: IMAP and SMTP AUTH to 127.0.0.1 still work."""
    _set(desk, r'^from_address = (.*)$', f'username = "{desk.support}"\npassword = "secret"\n'
         r'from_address = \1')
    desk.settings = load(desk.config_path)
    assert desk.settings.smtp.username and not desk.settings.smtp.allow_plaintext_auth
    client = desk.add_client()
    ack, _ = desk.new_task(client)  # IMAP login and SMTP AUTH, both without TLS, on loopback
    assert "[OA-1]" in ack["Subject"]
