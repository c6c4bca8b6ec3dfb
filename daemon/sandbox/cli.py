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
from pathlib import Path
from typing import Any

from daemon.clock import Clock
from daemon.sandbox.client_side import (
    CLIENT,
    CLIENT_NAME,
    PASSWORD,
    SUPPORT,
    default_dir,
    mailbox,
    send,
    shell_command,
)

MANAGER = "anna@desk.test"
ADMIN = "admin@desk.test"

__all__ = ["ADMIN", "CLIENT", "MANAGER", "SUPPORT", "default_dir", "register", "write_config"]


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
    box.add_argument("--headers", action="store_true",
                     help="every header (Reply-To, Message-ID ...), to answer as a mail client would")
    box.add_argument("--json", action="store_true", default=argparse.SUPPRESS)


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
    from daemon.master import Master
    from daemon.sandbox.dovecot import DovecotServer
    from daemon.sandbox.smtp import SmtpSink, deliver_to_dovecot
    from store.db import init_db
    from store.queries import client_by_address

    setup_logging("INFO")
    base.mkdir(parents=True, exist_ok=True)
    # Dovecot's users, mail and log belong to this sandbox and stay with its store: a
    # second sandbox elsewhere has mail of its own. Confined, so the folder may be
    # anywhere, /root included (see daemon/sandbox/dovecot_config.py).
    dovecot_dir = base / "dovecot"
    dovecot = DovecotServer(dovecot_dir, confined=True).start()
    for user in (SUPPORT, MANAGER, ADMIN, CLIENT):
        dovecot.add_user(user, PASSWORD)
    sink = SmtpSink(deliver=deliver_to_dovecot(dovecot)).start()
    try:
        config = write_config(base, dovecot.imap_port, sink.port)
        (base / "state" / "ports.json").write_text(json.dumps(
            {"imap": dovecot.imap_port, "smtp": sink.port, "dovecot_dir": str(dovecot_dir)}))
        settings = load(config)
        init_db(settings.store_url, settings.store_lock_wait_seconds)
        if client_by_address(CLIENT) is None:
            add_client(settings, email=CLIENT, name=CLIENT_NAME, tariff="basis", manager=MANAGER,
                       language="ru", aliases=[], now=clock.now())
        print(banner(base, config, dovecot.imap_port, sink.port), flush=True)
        Master(settings).run()
    finally:
        sink.stop()
        dovecot.stop()
    return 0


def banner(base: Path, config: Path, imap_port: int, smtp_port: int) -> str:
    """What the sandbox prints at start: its servers, and commands that work as printed."""
    # The other terminal has to find this sandbox: name its folder unless it is the default.
    where = [] if base == default_dir().resolve() else ["--dir", str(base)]
    sandbox = shell_command("sandbox", *where)
    desk = shell_command("--config", config)
    return f"""
OneAssist sandbox is running; Ctrl-C stops it (everything stays in its folder).
  IMAP (Dovecot) 127.0.0.1:{imap_port}  users {SUPPORT}, {CLIENT}, {MANAGER}; password "{PASSWORD}"
  SMTP           127.0.0.1:{smtp_port}  no login; delivers into those mailboxes, user+tag@ into user@
  folder         {base}  (config, store, secret in state/, Dovecot's mail in dovecot/)
  config         {config}
  demo client    {CLIENT_NAME} <{CLIENT}>, tariff Basis, manager Анна <{MANAGER}>

In another terminal:
  {sandbox} send "Забронируйте столик на двоих на пятницу, 19:00"
  {sandbox} mailbox                    # the client's acknowledgement
  {sandbox} mailbox --headers          # with its Reply-To and Message-ID
  {sandbox} mailbox {MANAGER}     # the manager's notice; answer its Reply-To with #accept
  {desk} ticket list
  {desk} ticket show OA-1

Or point a mail client (neomutt, Thunderbird) at those ports as {CLIENT} or {MANAGER}
and reply to the Reply-To of a mail: the reply joins its ticket.
"""


def run(args: argparse.Namespace, clock: Clock) -> int:
    base = (args.dir or default_dir()).resolve()
    action = args.sandbox_action or "start"
    if action == "send":
        return send(base, args.text, args.subject, args.sender, clock)
    if action == "mailbox":
        return mailbox(base, args.address, getattr(args, "json", False), args.headers)
    return start(base, clock)
