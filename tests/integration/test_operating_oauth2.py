"""XOAUTH2 on both protocols (issue 13), against real servers: Dovecot's oauth2 passdb asks a
token-introspection server the test runs on loopback, and the SMTP sink takes AUTH XOAUTH2
and asks the same server. The token command is a real command the daemon runs.

Proved: tokens are cached and the command re-run before they expire; a token the server
refuses is replaced at once (IMAP and SMTP); a command that fails costs no mail, gives the
admins one alert however often it fails, and `status` shows it until it works again.
"""

from __future__ import annotations

import json
import secrets
import sys
import threading
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from daemon.cli import main
from daemon.clock import FrozenClock
from daemon.config import load
from daemon.core.errors import PermanentError
from daemon.sandbox.dovecot import DEFAULT_PASSWORD, DovecotServer
from daemon.sandbox.smtp import SmtpSink, deliver_to_dovecot
from daemon.service import Service
from store.models import Outbox
from tests.integration.deskrig import DeskRig, client_mail


class TokenServer:
    """Mints tokens (GET /token?proto=P) and answers RFC 7662 introspection (POST /introspect)."""

    def __init__(self) -> None:
        self.valid: dict[str, str] = {}  # token -> username
        self.user = ""
        self.failing: set[str] = set()
        self.issued: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def reply(self, code: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                proto = parse_qs(urlsplit(self.path).query).get("proto", ["?"])[0]
                if proto in server.failing:
                    self.reply(500, {"error": "invalid_grant"})
                    return
                token = f"{proto}-{secrets.token_urlsafe(12)}"
                server.valid[token] = server.user
                server.issued.append(proto)
                self.reply(200, {"access_token": token, "expires_in": 3600, "token_type": "Bearer"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                token = parse_qs(self.rfile.read(length).decode()).get("token", [""])[0]
                user = server.valid.get(token)
                self.reply(200, {"active": True, "username": user} if user else {"active": False})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def check(self, user: str, token: str) -> bool:
        return self.valid.get(token) == user

    def revoke(self, proto: str) -> None:
        for token in [t for t in self.valid if t.startswith(proto + "-")]:
            del self.valid[token]

    def command(self, proto: str, folder) -> str:
        """A token command as admins write one: a program that prints the token as JSON."""
        script = folder / "token-helper.py"
        script.write_text("import sys, urllib.request\n"
                          f"url = 'http://127.0.0.1:{self.port}/token?proto=' + sys.argv[1]\n"
                          "sys.stdout.write(urllib.request.urlopen(url).read().decode())\n")
        return f"{sys.executable} {script} {proto}"


@pytest.fixture
def oauth_desk(tmp_path, private_dovecot_dir):
    tokens = TokenServer()
    dovecot = DovecotServer(private_dovecot_dir, oauth2_introspection_url=f"http://127.0.0.1:{tokens.port}/introspect")
    try:
        dovecot.start()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"Dovecot did not start: {exc}")
    sink = SmtpSink(deliver_to_dovecot(dovecot), xoauth2=tokens.check).start()

    def new_user(prefix: str = "user", password: str = DEFAULT_PASSWORD) -> str:
        return dovecot.add_user(f"{prefix}-{uuid.uuid4().hex[:10]}@example.test", password)

    (tmp_path / "desk").mkdir(mode=0o700)
    rig = DeskRig(tmp_path / "desk", dovecot, sink, new_user)
    tokens.user = rig.support
    text = rig.config_path.read_text()
    text = text.replace('password = "secret"\n', f'oauth2_token_command = "{tokens.command("imap", tmp_path)}"\n', 1)
    text = text.replace(f'from_address = "{rig.support}"',
                        f'from_address = "{rig.support}"\nusername = "{rig.support}"\nauth = "xoauth2"\n'
                        f"oauth2_token_command = '{tokens.command('smtp', tmp_path)}'", 1)
    rig.config_path.write_text(text)
    rig.settings = load(rig.config_path)
    try:
        yield rig, tokens
    finally:
        rig.close()
        sink.stop()
        dovecot.stop()
        tokens.httpd.shutdown()


def status_of(rig, capsys, clock) -> tuple[int, dict]:
    capsys.readouterr()
    code = main(["--config", str(rig.config_path), "status", "--json"], clock=clock)
    return code, json.loads(capsys.readouterr().out)


def test_tokens_are_reused_refreshed_before_expiry_and_replaced_when_refused(oauth_desk):
    rig, tokens = oauth_desk
    client = rig.add_client()
    clock = FrozenClock(datetime.now(UTC))
    service = Service(rig.settings, clock)

    rig.deliver(client_mail(client, rig.support, "Задача 1", "Текст"))
    service.run_once()
    assert rig.inbox(client), "the ack went out over SMTP with XOAUTH2"
    assert sorted(tokens.issued) == ["imap", "smtp"]

    clock.advance(minutes=10)  # well within the hour: the same tokens
    rig.deliver(client_mail(client, rig.support, "Задача 2", "Текст"))
    service.run_once()
    assert len(rig.inbox(client)) == 2 and sorted(tokens.issued) == ["imap", "smtp"]

    clock.advance(minutes=46)  # 56 minutes: within 5 minutes of expiry, so run the command again
    rig.deliver(client_mail(client, rig.support, "Задача 3", "Текст"))
    service.run_once()
    assert len(rig.inbox(client)) == 3 and sorted(tokens.issued) == ["imap", "imap", "smtp", "smtp"]

    # The servers stop taking the current tokens: a refused login runs the command again at once.
    tokens.revoke("imap")
    tokens.revoke("smtp")
    before = len(rig.sink.handler.attempts)
    rig.deliver(client_mail(client, rig.support, "Задача 4", "Текст"))
    service.run_once()
    assert len(rig.inbox(client)) == 4 and len(tokens.issued) == 6
    # The first login after the revocation is refused; a fresh token logs in (each sending
    # connection logs in on its own, so more than one may follow).
    smtp_logins = [ok for _, _, ok in rig.sink.handler.attempts[before:]]
    assert smtp_logins[0] is False and smtp_logins[-1] is True, smtp_logins


def test_a_failing_token_command_is_one_alert_and_critical_in_status(oauth_desk, capsys):
    rig, tokens = oauth_desk
    client = rig.add_client()
    clock = FrozenClock(datetime.now(UTC))
    service = Service(rig.settings, clock)
    rig.deliver(client_mail(client, rig.support, "Задача 1", "Текст"))
    service.run_once()
    assert len(rig.inbox(client)) == 1

    # SMTP's token is refused and the command fails: the reply waits, nothing is lost.
    tokens.failing.add("smtp")
    tokens.revoke("smtp")
    for n in range(3):
        rig.deliver(client_mail(client, rig.support, f"Задача {n + 2}", "Текст"))
        clock.advance(minutes=30)
        service.run_once()
    assert len(rig.inbox(client)) == 1
    alerts = list(Outbox.select().where(Outbox.kind == "staff.alert.token"))
    assert len(alerts) == 1 and alerts[0].status == "pending"
    code, doc = status_of(rig, capsys, clock)
    assert code == 2 and "smtp token command failed" in doc["line"]

    # The command works again: the waiting replies and the one alert go out.
    tokens.failing.discard("smtp")
    clock.advance(hours=2)
    service.run_once()
    assert len(rig.inbox(client)) == 4
    (alert,) = [m for m in rig.inbox(rig.admin) if "OAuth2" in str(m["Subject"])]
    assert "smtp.oauth2_token_command" in alert.get_body(("plain",)).get_content()
    code, doc = status_of(rig, capsys, clock)
    assert "smtp token expires in" in doc["line"]

    # IMAP's command fails: fetching stops with the reason, one alert, status is critical.
    tokens.failing.add("imap")
    tokens.revoke("imap")
    for _ in range(2):
        clock.advance(hours=1)
        with pytest.raises(PermanentError, match="imap.oauth2_token_command failed"):
            service.run_once()
    assert Outbox.select().where(Outbox.kind == "staff.alert.token").count() == 2
    code, doc = status_of(rig, capsys, clock)
    assert code == 2 and "imap token command failed" in doc["line"]
    assert clock.now() - timedelta(hours=3) < clock.now()
