"""`oneassist sandbox`: the daemon on private loopback mail servers, for a first look.

`sandbox` (or `sandbox start`) starts a private Dovecot and SMTP server, writes a
config for them, registers a demo client and manager, and runs the daemon in
the foreground. From another terminal, `sandbox send "text"` mails a task as
the demo client and `sandbox mailbox` shows what the client received.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import tempfile
from email import policy as email_policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

from daemon.clock import Clock

SUPPORT = "support@desk.test"
MANAGER = "anna@desk.test"
ADMIN = "admin@desk.test"
CLIENT = "ivan@client.test"


def default_dir() -> Path:
    return Path(os.environ.get("ONEASSIST_SANDBOX", Path.cwd() / "oneassist-sandbox"))


def register(sub: Any) -> None:
    """`oneassist sandbox [start|send|mailbox]`, registered like every noun of daemon/cli/."""
    p = sub.add_parser("sandbox", help="run on private loopback mail servers with demo data",
                       description=__doc__)
    p.add_argument("--dir", type=Path, default=None, help="sandbox folder (default ./oneassist-sandbox)")
    p.add_argument("--json", action="store_true", default=argparse.SUPPRESS)
    p.set_defaults(func=run, sandbox_action="start")
    actions = p.add_subparsers(dest="sandbox_action", metavar="ACTION")
    actions.add_parser("start", help="start the servers and the daemon (default)")
    send = actions.add_parser("send", help="mail a task to the desk as the demo client")
    send.add_argument("text")
    send.add_argument("--subject", default=None)
    send.add_argument("--sender", default=CLIENT, help=f"From address (default {CLIENT})")
    box = actions.add_parser("mailbox", help="show the mails in a sandbox mailbox")
    box.add_argument("address", nargs="?", default=CLIENT)


def write_config(base: Path, imap_port: int, smtp_port: int) -> Path:
    state = base / "state"
    state.mkdir(parents=True, exist_ok=True)
    # The store and the secret live here: owner-only, like a real desk's data_dir.
    state.chmod(0o700)
    secret_file = state / "reply_token_secret"
    if not secret_file.exists():
        fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with open(fd, "w", encoding="utf-8") as out:
            out.write(secrets.token_urlsafe(32))
    secret_file.chmod(0o600)
    config = base / "oneassist.toml"
    config.write_text(f"""# Written by `oneassist sandbox`: private loopback servers, demo staff.
[imap]
host = "127.0.0.1"
port = {imap_port}
security = "none"
username = "{SUPPORT}"
password = "secret"
poll_seconds = 5

[smtp]
host = "127.0.0.1"
port = {smtp_port}
security = "none"
from_address = "{SUPPORT}"

[store]
url = "sqlite:///{state / 'oneassist.db'}"

[service]
name = "OneAssist"
timezone = "Europe/Moscow"
language = "ru"
reply_token_secret = "{secret_file.read_text().strip()}"
join_url = "https://oneassist.example/tariffs"
data_dir = "{state}"

[billing]
# A first look should show a task and its answer, not a renewal invoice.
auto_renewal = false

[[staff]]
email = "{MANAGER}"
name = "Анна"
role = "manager"

[[staff]]
email = "{ADMIN}"
name = "Admin"
role = "admin"
language = "en"

[[tariffs]]
code = "basis"
name = "Basis"
price = "4900.00"
currency = "RUB"
quota = 3
""", encoding="utf-8")
    config.chmod(0o600)
    return config


def start(base: Path, clock: Clock) -> int:
    from daemon.cli.client import add_client
    from daemon.config import load
    from daemon.logsetup import setup_logging
    from daemon.sandbox.dovecot import DovecotServer
    from daemon.sandbox.smtp import SmtpSink, deliver_to_dovecot
    from daemon.service import Service
    from store.db import init_db
    from store.queries import client_by_address

    setup_logging("INFO")
    base.mkdir(parents=True, exist_ok=True)
    # Dovecot's mail user must reach its files; a clone under /root would not let it,
    # so the sandbox's mail lives under /tmp and only config and store stay here.
    dovecot_dir = Path(tempfile.gettempdir()) / f"oneassist-sandbox-dovecot-{os.getuid()}"
    dovecot = DovecotServer(dovecot_dir).start()
    for user in (SUPPORT, MANAGER, ADMIN, CLIENT):
        dovecot.add_user(user)
    sink = SmtpSink(deliver=deliver_to_dovecot(dovecot)).start()
    try:
        config = write_config(base, dovecot.imap_port, sink.port)
        (base / "state" / "ports.json").write_text(json.dumps(
            {"imap": dovecot.imap_port, "smtp": sink.port, "dovecot_dir": str(dovecot_dir)}))
        settings = load(config)
        init_db(settings.store_url, settings.store_lock_wait_seconds)
        if client_by_address(CLIENT) is None:
            add_client(settings, email=CLIENT, name="Иван Петров", tariff="basis", manager=MANAGER,
                       language="ru", aliases=[], now=clock.now())
        # The other terminal has to find this sandbox: name its folder unless it is the default.
        me = "oneassist sandbox" + ("" if base == default_dir().resolve() else f" --dir {base}")
        print(f"""
OneAssist sandbox is running (Ctrl-C stops it).
  IMAP (Dovecot) 127.0.0.1:{dovecot.imap_port}  users {SUPPORT}, {CLIENT}, {MANAGER}; password "secret"
  SMTP           127.0.0.1:{sink.port}  delivers into those Dovecot mailboxes
  config         {config}
  demo client    Иван Петров <{CLIENT}>, tariff Basis, manager Анна <{MANAGER}>

In another terminal:
  {me} send "Забронируйте столик на двоих на пятницу, 19:00"
  {me} mailbox            # the client's acknowledgement
  oneassist --config {config} ticket list
""", flush=True)
        Service(settings, clock).run_forever()
    finally:
        sink.stop()
        dovecot.stop()
    return 0


def _servers(base: Path) -> dict[str, Any]:
    ports = base / "state" / "ports.json"
    if not ports.exists():
        raise SystemExit(f"oneassist: error: no sandbox in {base}; start one with `oneassist sandbox`")
    return json.loads(ports.read_text())


def send(base: Path, text: str, subject: str | None, sender: str, clock: Clock) -> int:
    from imapclient import IMAPClient

    ports = _servers(base)
    # CPython folds a long encoded subject by moving a space between two encoded words,
    # where RFC 2047 says it vanishes; a long line limit keeps the subject in one piece.
    msg = EmailMessage(policy=email_policy.default.clone(max_line_length=998))
    msg["From"] = f"Иван Петров <{sender}>" if sender == CLIENT else sender
    msg["To"] = SUPPORT
    msg["Subject"] = subject or text[:60]
    msg["Date"] = format_datetime(clock.now())
    msg["Message-ID"] = make_msgid(domain=sender.split("@")[-1])
    msg.set_content(text)
    with IMAPClient("127.0.0.1", port=ports["imap"], ssl=False, timeout=10) as client:
        client.login(SUPPORT, "secret")
        client.append("INBOX", msg.as_bytes())
    print(f"mailed to {SUPPORT} as {sender}; see the answer with: oneassist sandbox mailbox {sender}")
    return 0


def mailbox(base: Path, address: str, as_json: bool) -> int:
    from email import message_from_bytes, policy

    from imapclient import IMAPClient

    ports = _servers(base)
    rows = []
    with IMAPClient("127.0.0.1", port=ports["imap"], ssl=False, timeout=10) as client:
        client.login(address, "secret")
        client.select_folder("INBOX", readonly=True)
        uids = client.search(["ALL"])
        for uid, data in client.fetch(uids, ["BODY.PEEK[]"]).items():
            msg = message_from_bytes(data[b"BODY[]"], policy=policy.default)
            body = msg.get_body(("plain",))
            rows.append({"uid": uid, "from": str(msg["From"]), "subject": str(msg["Subject"]),
                         "date": str(msg["Date"]), "text": body.get_content() if body else ""})
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    if not rows:
        print(f"{address}: no mail yet")
    for row in rows:
        print(f"--- {row['date']}\nFrom: {row['from']}\nSubject: {row['subject']}\n\n{row['text']}")
    return 0


def run(args: argparse.Namespace, clock: Clock) -> int:
    base = (args.dir or default_dir()).resolve()
    action = args.sandbox_action or "start"
    if action == "send":
        return send(base, args.text, args.subject, args.sender, clock)
    if action == "mailbox":
        return mailbox(base, args.address, getattr(args, "json", False))
    return start(base, clock)

