"""Secrets and transport refused at the config (docs/reliability.md case 28; issue 9 findings 7, 8, 10).

The reply token secret of the public example, and any secret estimated below 128 bits, is
refused with the key named and `oneassist secret` offered; client and staff keys are
derived apart with HKDF; a password_file others can read is refused; AUTH in clear text
to a host off loopback is refused unless allowed for that section.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
import tomllib
from pathlib import Path

import pytest

from daemon.adapters.imap import ImapMailbox
from daemon.adapters.smtp import SmtpSender
from daemon.cli import main
from daemon.config import is_loopback_host, parse_settings
from daemon.core.errors import ConfigError, PermanentError
from parsers.tokens import (
    CLIENT_TOKEN_LABEL,
    MIN_SECRET_BITS,
    STAFF_TOKEN_LABEL,
    derive_key,
    estimate_secret_bits,
    hkdf_sha256,
    reply_address,
    secret_weakness,
    ticket_key_from_address,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.toml"
STRONG = secrets.token_urlsafe(32)
BASE = "support@desk.test"


def minimal(**sections) -> dict:
    data = {
        "imap": {"host": "imap.test", "username": "support@desk.test", "password": "x"},
        "smtp": {"host": "smtp.test", "from_address": "support@desk.test"},
        "service": {"reply_token_secret": STRONG},
    }
    for name, values in sections.items():
        data[name].update(values)
    return data


# -- finding 7: the secret ------------------------------------------------------------------

def test_hkdf_matches_rfc5869_test_vectors():
    # RFC 5869 Appendix A, test cases 1 and 3 (SHA-256).
    okm = hkdf_sha256(b"\x0b" * 22, bytes(range(0xF0, 0xFA)), 42, salt=bytes(range(13)))
    assert okm.hex() == ("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
                         "34007208d5b887185865")
    okm = hkdf_sha256(b"\x0b" * 22, b"", 42, salt=b"")
    assert okm.hex() == ("8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
                         "9d201395faa4b61a96c8")


def test_example_placeholder_secret_is_refused_naming_the_key_and_the_fix(tmp_path):
    """Finding 7: the secret of config.example.toml no longer starts a desk (docs/reliability.md case 28)."""
    data = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    data["imap"].pop("password_file")
    data["smtp"].pop("password_file")
    with pytest.raises(ConfigError) as err:
        parse_settings(data, tmp_path)
    message = str(err.value)
    assert "service.reply_token_secret" in message
    assert "placeholder" in message and "oneassist secret" in message
    # The old example value too, as someone may have copied it already.
    with pytest.raises(ConfigError, match="placeholder"):
        parse_settings(minimal(service={"reply_token_secret": "change-me-to-a-long-random-string"}),
                       tmp_path)


@pytest.mark.parametrize("weak, why", [
    ("change-me-to-a-long-random-string", "placeholder"),
    ("CHANGE_ME_" + "x9Qz!k" * 8, "placeholder"),  # case and separators do not hide it
    ("my-example-key-Zq8#Lr2!Wv5&Tn3$", "placeholder"),
    ("Sup3r-Secret-Value-2026!!!!!!!!", "placeholder"),
    ("password" + secrets.token_hex(16), "placeholder"),
    ("0123456789abcdef0123", "bits"),  # the old test secret: 20 chars, all runs
    ("0123456789abcdef" * 4, "bits"),  # 64 chars, but one run repeated
    ("a" * 64, "bits"),  # repeated character
    ("Ab1!" * 16, "bits"),  # every class present, but one pattern repeated
    ("mnbvcxzlkjhgfdsa", "bits"),  # 16 distinct letters, no runs: too short
    ("Tr0ub4dor&3", "bits"),
    ("", "bits"),
])
def test_low_entropy_secrets_are_refused(tmp_path, weak, why):
    """Finding 7: what counts as weak, concretely (docstring of estimate_secret_bits)."""
    reason = secret_weakness(weak)
    assert reason is not None and why in reason
    with pytest.raises(ConfigError, match="service.reply_token_secret is refused"):
        parse_settings(minimal(service={"reply_token_secret": weak}), tmp_path)


def test_random_secrets_pass_and_what_oneassist_secret_prints_always_does(capsys):
    for _ in range(300):
        assert secret_weakness(secrets.token_urlsafe(32)) is None
        assert secret_weakness(secrets.token_hex(32)) is None
        assert secret_weakness(secrets.token_hex(24)) is None
    assert main(["secret"]) == 0
    printed = capsys.readouterr().out.strip()
    assert len(printed) == 43 and secret_weakness(printed) is None
    assert estimate_secret_bits(printed) >= 2 * MIN_SECRET_BITS * 0.8


def test_entropy_estimate_counts_runs_and_repeats_once():
    bits_per_letter = estimate_secret_bits("q")
    assert estimate_secret_bits("aaaaaaaaaa") == bits_per_letter
    assert estimate_secret_bits("abcdefghij") == bits_per_letter
    assert estimate_secret_bits("qzxqzxqzxqzx") == pytest.approx(4 * bits_per_letter)
    # A long secret costs bounded time: only its start is analysed.
    assert estimate_secret_bits(secrets.token_urlsafe(5000)) > MIN_SECRET_BITS


def test_client_and_staff_keys_are_derived_apart_with_hkdf(tmp_path):
    """Finding 7: the staff key is not the secret plus a suffix anyone can read in the code."""
    service = parse_settings(minimal(), tmp_path).service
    raw = STRONG.encode()
    client, staff = service.reply_token_secret, service.staff_token_secret
    assert client == hkdf_sha256(raw, CLIENT_TOKEN_LABEL) == derive_key(raw, CLIENT_TOKEN_LABEL)
    assert staff == hkdf_sha256(raw, STAFF_TOKEN_LABEL)
    assert len({client, staff, raw, raw + b"/staff"}) == 4
    assert CLIENT_TOKEN_LABEL != STAFF_TOKEN_LABEL
    assert STRONG not in repr(service)


def test_staff_address_minted_the_old_way_does_not_verify(tmp_path):
    """Finding 7: `secret + b"/staff"` (Wave 1's recipe) mints nothing that verifies now."""
    service = parse_settings(minimal(), tmp_path).service
    old_staff = reply_address(BASE, "OA-1", STRONG.encode() + b"/staff")
    old_client = reply_address(BASE, "OA-1", STRONG.encode())
    assert ticket_key_from_address(old_staff, BASE, service.staff_token_secret) is None
    assert ticket_key_from_address(old_client, BASE, service.reply_token_secret) is None
    new_staff = reply_address(BASE, "OA-1", service.staff_token_secret)
    assert ticket_key_from_address(new_staff, BASE, service.staff_token_secret) == "OA-1"
    assert ticket_key_from_address(new_staff, BASE, service.reply_token_secret) is None


# -- finding 8: a password_file others can read ----------------------------------------------

@pytest.mark.parametrize("mode", [0o644, 0o604, 0o620, 0o666])
def test_password_file_readable_by_others_is_refused(tmp_path, mode):
    """Finding 8: password_file is checked like the config itself (test 28a)."""
    pw = tmp_path / "imap.password"
    pw.write_text("s3cret\n")
    pw.chmod(mode)
    data = minimal()
    data["imap"].pop("password")
    data["imap"]["password_file"] = str(pw)
    with pytest.raises(ConfigError) as err:
        parse_settings(data, tmp_path)
    assert "imap.password_file" in str(err.value) and f"chmod 600 {pw}" in str(err.value)
    assert "s3cret" not in str(err.value)
    pw.chmod(0o640)  # a service group may read it, as with the config
    assert parse_settings(data, tmp_path).imap.password == "s3cret"


# -- finding 10: AUTH in clear ---------------------------------------------------------------

@pytest.mark.parametrize("host, loopback", [
    ("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("[::1]", True),
    ("localhost", True), ("LocalHost.", True), ("mail.localhost", True),
    ("10.0.0.1", False), ("192.0.2.2", False), ("::ffff:8.8.8.8", False),
    ("imap.example.com", False), ("localhost.example.com", False), ("127.0.0.1.nip.io", False),
])
def test_loopback_hosts(host, loopback):
    assert is_loopback_host(host) is loopback


@pytest.mark.parametrize("section", ["imap", "smtp"])
def test_plaintext_auth_off_loopback_is_refused(tmp_path, section):
    """Finding 10: security = "none" with a login to a remote host is a config error (test 28c)."""
    values = {"host": "mail.example.com", "security": "none", "username": "support@desk.test",
              "password": "pw"}
    with pytest.raises(ConfigError) as err:
        parse_settings(minimal(**{section: values}), tmp_path)
    message = str(err.value)
    assert f"{section}.security" in message and "clear text" in message
    assert '"ssl" or "starttls"' in message and f"{section}.allow_plaintext_auth = true" in message
    assert "pw" not in message.replace("password", "")
    # Explicitly allowed for that section: accepted.
    settings = parse_settings(minimal(**{section: {**values, "allow_plaintext_auth": True}}),
                              tmp_path)
    assert getattr(settings, section).allow_plaintext_auth


@pytest.mark.parametrize("values", [
    {"host": "127.0.0.1", "security": "none", "username": "u@x.test"},  # the sandbox and the rig
    {"host": "localhost", "security": "none", "username": "u@x.test"},
    {"host": "mail.example.com", "security": "starttls", "username": "u@x.test"},
    {"host": "mail.example.com", "security": "ssl", "username": "u@x.test"},
])
def test_plaintext_auth_allowed_on_loopback_or_with_tls(tmp_path, values):
    parse_settings(minimal(imap=values, smtp=values), tmp_path)


def test_smtp_without_username_sends_no_auth_so_none_is_fine_anywhere(tmp_path):
    settings = parse_settings(minimal(smtp={"host": "relay.example.com", "security": "none"}),
                              tmp_path)
    assert settings.smtp.username == "" and not settings.smtp.allow_plaintext_auth


def test_adapters_refuse_plaintext_auth_even_without_the_config_check(tmp_path):
    """Settings built past the config (replace()) still never send a password in clear."""
    settings = parse_settings(minimal(), tmp_path)
    imap = dataclasses.replace(settings.imap, host="192.0.2.1", security="none")
    smtp = dataclasses.replace(settings.smtp, host="192.0.2.1", security="none", username="u")
    with pytest.raises(PermanentError, match="allow_plaintext_auth"):
        ImapMailbox(imap, timeout=1).connect()
    sender = SmtpSender(smtp)
    try:
        with pytest.raises(PermanentError, match="allow_plaintext_auth"):
            sender.check()
    finally:
        sender.close()


def test_smtp_skip_verify_is_logged_like_imap(tmp_path, caplog):
    """Finding 10: smtp.insecure_skip_verify = true gives a WARNING on every connect."""
    settings = parse_settings(minimal(smtp={"host": "127.0.0.1", "port": _closed_port(),
                                            "security": "starttls",
                                            "insecure_skip_verify": True}), tmp_path)
    sender = SmtpSender(settings.smtp)
    try:
        with caplog.at_level(logging.WARNING, logger="oneassist.smtp"), pytest.raises(Exception):  # noqa: B017 - nothing listens
            sender.check()
    finally:
        sender.close()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("smtp.insecure_skip_verify = true" in r.getMessage() for r in warnings)


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_example_config_documents_the_new_keys():
    data = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    assert data["imap"]["allow_plaintext_auth"] is False
    assert data["smtp"]["allow_plaintext_auth"] is False
    assert data["smtp"]["insecure_skip_verify"] is False
    assert "oneassist secret" in EXAMPLE.read_text(encoding="utf-8")
