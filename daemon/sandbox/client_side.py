"""What a mail client does in the sandbox: mail a task (`sandbox send`) and read a mailbox
(`sandbox mailbox`), over the sandbox's own IMAP server, the way Thunderbird would.

Also how the other terminal should type the `oneassist` command (`command_words`): the
banner prints commands that work as printed, whatever way the sandbox was started.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

from daemon.clock import Clock
from daemon.core.errors import TransientError
from daemon.output import dump_json

SUPPORT = "support@desk.test"
CLIENT = "ivan@client.test"
PASSWORD = "secret"
CLIENT_NAME = "Иван Петров"

# The headers a person needs to answer a mail by hand, in the order a mail client shows them.
_HEADLINE = ("Date", "From", "To", "Cc", "Reply-To", "Subject", "Message-ID", "In-Reply-To",
             "References")


def command_words(argv0: str | None = None, executable: str | None = None) -> list[str]:
    """The words that start `oneassist` again as this process was started.

    A console script keeps the path it was typed with (`.venv/bin/oneassist` works from
    the same folder; a bare `oneassist` was found on PATH); `python -m daemon` becomes
    this interpreter with `-m daemon`, since the venv need not be activated.
    """
    argv0 = sys.argv[0] if argv0 is None else argv0
    executable = executable or sys.executable
    name = Path(argv0).name
    if name in ("__main__.py", "-m", "-c", "") or name.endswith(".py"):
        return [executable, "-m", "daemon"]
    return [argv0]


def shell_command(*words: str | Path, argv0: str | None = None) -> str:
    """One command line, quoted for a POSIX shell."""
    return shlex.join([*command_words(argv0), *(str(w) for w in words)])


def servers(base: Path) -> dict[str, Any]:
    ports = base / "state" / "ports.json"
    if not ports.exists():
        raise SystemExit(f"oneassist: error: no sandbox in {base}; start one with "
                         f"`{shell_command('sandbox', '--dir', base)}`")
    return json.loads(ports.read_text())


def _imap(base: Path, address: str) -> Any:
    """A logged-in IMAP connection to the sandbox's Dovecot, or an error that says what to do."""
    from imapclient import IMAPClient
    from imapclient.exceptions import LoginError

    ports = servers(base)
    try:
        client = IMAPClient("127.0.0.1", port=ports["imap"], ssl=False, timeout=10)
    except OSError:
        raise TransientError(f"the sandbox in {base} is not running (nothing answers on 127.0.0.1:"
                             f"{ports['imap']}); start it with `{shell_command('sandbox', *_dir_words(base))}`"
                             ) from None
    try:
        client.login(address, PASSWORD)
    except LoginError:
        client.shutdown()
        raise ValueError(f"no mailbox {address} in this sandbox; its users are {SUPPORT}, {CLIENT}, "
                         f"anna@desk.test, admin@desk.test and whoever it delivered mail to") from None
    return client


def send(base: Path, text: str, subject: str | None, sender: str, clock: Clock) -> int:
    # CPython folds a long encoded subject by moving a space between two encoded words,
    # where RFC 2047 says it vanishes; a long line limit keeps the subject in one piece.
    msg = EmailMessage(policy=email_policy.default.clone(max_line_length=998))
    msg["From"] = f"{CLIENT_NAME} <{sender}>" if sender == CLIENT else sender
    msg["To"] = SUPPORT
    msg["Subject"] = subject or text[:60]
    msg["Date"] = format_datetime(clock.now())
    msg["Message-ID"] = make_msgid(domain=sender.split("@")[-1])
    msg.set_content(text)
    with _imap(base, SUPPORT) as client:
        client.append("INBOX", msg.as_bytes())
    print(f"mailed to {SUPPORT} as {sender}; see the answer with: "
          f"{shell_command('sandbox', *_dir_words(base), 'mailbox', sender)}")
    return 0


def read_mailbox(base: Path, address: str) -> list[dict[str, Any]]:
    """Every mail in the address's INBOX: its headers in order, decoded, and its text."""
    rows = []
    with _imap(base, address) as client:
        client.select_folder("INBOX", readonly=True)
        uids = client.search(["ALL"])
        fetched = client.fetch(uids, ["BODY.PEEK[]"]) if uids else {}
        for uid in sorted(fetched):
            msg = message_from_bytes(fetched[uid][b"BODY[]"], policy=email_policy.default)
            body = msg.get_body(("plain",))
            headers = [[name, str(value)] for name, value in msg.items()]
            rows.append({
                "uid": uid,
                "from": str(msg["From"]), "to": str(msg["To"]), "subject": str(msg["Subject"]),
                "date": str(msg["Date"]), "message_id": _get(msg, "Message-ID"),
                "reply_to": _get(msg, "Reply-To"), "in_reply_to": _get(msg, "In-Reply-To"),
                "headers": headers,
                "attachments": [part.get_filename() or "" for part in msg.iter_attachments()],
                "text": body.get_content() if body else "",
            })
    return rows


def mailbox(base: Path, address: str, as_json: bool, headers: bool) -> int:
    rows = read_mailbox(base, address)
    if as_json:
        dump_json(rows, sys.stdout)
        return 0
    if not rows:
        print(f"{address}: no mail yet")
    for row in rows:
        print("---" if headers else f"--- {row['date']}")
        if headers:
            shown = [(n, v) for n, v in row["headers"] if n in _HEADLINE]
            rest = [(n, v) for n, v in row["headers"] if n not in _HEADLINE]
            for name, value in sorted(shown, key=lambda h: _HEADLINE.index(h[0])) + rest:
                print(f"{name}: {value}")
        else:
            print(f"From: {row['from']}\nSubject: {row['subject']}")
        for name in row["attachments"]:
            print(f"[attached: {name}]")
        print(f"\n{row['text']}")
    return 0


def _get(msg: EmailMessage, name: str) -> str | None:
    value = msg[name]
    return None if value is None else str(value)


def _dir_words(base: Path) -> list[str]:
    """`--dir BASE` unless BASE is where the other terminal finds the sandbox by default."""
    return [] if base == default_dir().resolve() else ["--dir", str(base)]


def default_dir() -> Path:
    return Path(os.environ.get("ONEASSIST_SANDBOX", Path.cwd() / "oneassist-sandbox"))
