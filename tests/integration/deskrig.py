"""A OneAssist desk wired to the test Dovecot and SMTP sink, and mail the way clients write it."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.header import Header
from email.message import EmailMessage, Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr, make_msgid
from pathlib import Path

from daemon.cli.client import add_client
from daemon.config import Settings, load
from daemon.sandbox.dovecot import DovecotServer
from daemon.sandbox.smtp import SmtpSink
from daemon.service import Service
from store.db import close_db, init_db

ROOT = Path(__file__).resolve().parents[2]


def client_mail(
    sender: str,
    to: str,
    subject: str,
    body: str,
    *,
    charset: str = "utf-8",
    name: str = "Иван Петров",
    message_id: str | None = "auto",
    in_reply_to: str | None = None,
    cc: str | None = None,
    extra: dict[str, str] | None = None,
    html: str | None = None,
) -> bytes:
    """A plain mail as Thunderbird or Outlook writes it: the charset in the bytes, RFC 2047 headers."""
    text = MIMEText(body, "plain", charset)
    if html is not None:
        msg: Message = MIMEMultipart("alternative")
        msg.attach(text)
        msg.attach(MIMEText(html, "html", charset))
    else:
        msg = text
    msg["From"] = (
        formataddr((str(Header(name, charset)), sender))
        if charset != "utf-8"
        else formataddr((name, sender), charset="utf-8")
    )
    msg["To"] = to
    if cc:
        msg["Cc"] = cc
    msg["Subject"] = Header(subject, charset).encode()
    msg["Date"] = format_datetime(datetime.now(UTC))
    if message_id == "auto":
        message_id = make_msgid(domain=sender.split("@")[1])
    if message_id is not None:
        msg["Message-ID"] = message_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    for key, value in (extra or {}).items():
        msg[key] = value
    return msg.as_bytes()


def parse_mail(raw: bytes) -> EmailMessage:
    return message_from_bytes(raw, policy=policy.default)  # type: ignore[return-value]


class DeskRig:
    def __init__(
        self, tmp_path: Path, dovecot: DovecotServer, sink: SmtpSink, new_user, **config
    ) -> None:
        self.tmp = tmp_path
        self.dovecot = dovecot
        self.sink = sink
        self.new_user = new_user
        self.support = new_user("support")
        self.manager = new_user("anna")
        self.admin = new_user("ops")
        self.assistant = new_user("petr")
        self.manager2 = new_user("boris")
        self.config_path = self.write_config(**config)
        self.settings: Settings = load(self.config_path)
        init_db(self.settings.store_url)

    def write_config(
        self,
        *,
        fetch_batch: int = 100,
        poll_seconds: float = 30,
        idle: bool = True,
        max_message_bytes: int = 40 * 1024 * 1024,
        extra_toml: str = "",
    ) -> Path:
        path = self.tmp / "oneassist.toml"
        path.write_text(
            f"""
[imap]
host = "127.0.0.1"
port = {self.dovecot.imap_port}
security = "none"
username = "{self.support}"
password = "secret"
fetch_batch = {fetch_batch}
poll_seconds = {poll_seconds}
idle = {"true" if idle else "false"}
max_message_bytes = {max_message_bytes}

[smtp]
host = "127.0.0.1"
port = {self.sink.port}
security = "none"
from_address = "{self.support}"
max_attempts = 4
# Tests send bursts in one pass; the cap itself is tested in test_faults_backlog.py.
max_per_minute = 1000000

[store]
url = "sqlite:///{self.tmp / "desk.db"}"

[service]
name = "OneAssist"
reply_token_secret = "{secrets.token_urlsafe(32)}"

[[staff]]
email = "{self.manager}"
name = "Анна"
role = "manager"

[[staff]]
email = "{self.admin}"
name = "Ops"
role = "admin"
language = "en"

[[staff]]
email = "{self.assistant}"
name = "Пётр"
role = "assistant"

[[staff]]
email = "{self.manager2}"
name = "Борис"
role = "manager"

[staff_mail]
trusted_authserv_ids = ["mx.desk.test"]

[billing]
# Tests must not depend on today's date: renewals are tested with an explicit clock.
auto_renewal = false

[[tariffs]]
code = "basis"
name = "Basis"
price = "4900.00"
quota = 3

[[tariffs]]
code = "one"
name = "One"
price = "59900.00"
dedicated = true
around_the_clock = true
{extra_toml}
""",
            encoding="utf-8",
        )
        path.chmod(0o600)
        return path

    def reconfigure(self, extra_toml: str) -> None:
        """Rewrite the config with `extra_toml` appended (before the first mail: the secret is new)."""
        self.config_path = self.write_config(extra_toml=extra_toml)
        self.settings = load(self.config_path)

    def add_client(self, prefix: str = "client", *, name: str = "Иван Петров", lang: str = "ru",
                   aliases: tuple[str, ...] = (), tariff: str = "basis", assistant: str | None = None,
                   manager: str | None = None) -> str:
        email = self.new_user(prefix)
        add_client(self.settings, email=email, name=name, tariff=tariff, manager=manager or self.manager,
                   language=lang, aliases=list(aliases), assistant=assistant, now=datetime.now(UTC))
        return email

    def new_task(self, client: str, subject: str = "Билеты в театр", body: str = "Два билета на субботу"
                 ) -> tuple[EmailMessage, EmailMessage]:
        """The client mails a task; returns (the client's ack, the manager's notification)."""
        self.deliver(client_mail(client, self.support, subject, body))
        self.run_once()
        ack = self.inbox(client)[-1]
        notice = self.inbox(self.manager)[-1]
        return ack, notice

    def latest(self, user: str) -> EmailMessage:
        return self.inbox(user)[-1]

    def deliver(self, raw: bytes, **kw) -> int:
        """The mail reaches the support mailbox, as the MTA would put it there."""
        return self.dovecot.append(self.support, raw, **kw)

    def run_once(self) -> dict[str, int]:
        return Service(self.settings).run_once()

    def answer(self, notice: EmailMessage, sender: str, body: str, **kw) -> dict[str, int]:
        """`sender` replies to `notice` (see reply_to) and the daemon takes one pass."""
        self.deliver(reply_to(notice, sender, body, **kw))
        return self.run_once()

    def run_process(
        self, *args: str, crash_at: str | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess:
        """The daemon as its own process (`python -m daemon`), e.g. to be killed at a checkpoint."""
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        env.pop("ONEASSIST_CRASH_AT", None)
        if crash_at:
            env["ONEASSIST_CRASH_AT"] = crash_at
        return subprocess.run(
            [sys.executable, "-m", "daemon", "--config", str(self.config_path), *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            timeout=timeout,
        )

    def inbox(self, user: str) -> list[EmailMessage]:
        return [parse_mail(raw) for raw in self.dovecot.messages(user)]

    def intake_left(self) -> list[int]:
        return self.dovecot.folder_uids(self.support)

    def close(self) -> None:
        close_db()


def reply_to(notice: EmailMessage, sender: str, body: str, *, style: str = "gmail", name: str = "Анна",
             attachments: tuple[tuple[str, str, bytes], ...] = (), html: bool = False,
             to: str | None = None, subject: str | None = None, extra: dict[str, str] | None = None) -> bytes:
    """A reply to `notice` as Gmail or Outlook writes it: new text on top, the original quoted below."""
    from email.mime.application import MIMEApplication

    original = notice.get_body(("plain",)).get_content()
    if style == "gmail":
        quoted = "\n".join("> " + line for line in original.splitlines())
        text = f"{body}\n\nпт, 27 нояб. 2026 г. в 10:00, OneAssist <{notice['From'].addresses[0].addr_spec}>:\n{quoted}\n"
    else:
        text = (f"{body}\n\n________________________________\nОт: OneAssist <{notice['From'].addresses[0].addr_spec}>\n"
                f"Отправлено: 27 ноября 2026 г. 10:00\nКому: {sender}\nТема: {notice['Subject']}\n\n{original}\n")
    if html:
        html_text = "<html><body>" + "".join(f"<div>{line}</div>" for line in text.splitlines()) + "</body></html>"
        part: Message = MIMEText(html_text, "html", "utf-8")
    else:
        part = MIMEText(text, "plain", "utf-8")
    if attachments:
        msg: Message = MIMEMultipart("mixed")
        msg.attach(part)
        for filename, ctype, data in attachments:
            att = MIMEApplication(data, ctype.split("/")[1])
            att.replace_header("Content-Type", ctype)
            att.add_header("Content-Disposition", "attachment", filename=("utf-8", "", filename))
            msg.attach(att)
    else:
        msg = part
    msg["From"] = formataddr((name, sender), charset="utf-8")
    msg["To"] = to or str(notice["Reply-To"].addresses[0].addr_spec)
    msg["Subject"] = Header(subject or ("RE: " if style == "outlook" else "Re: ") + str(notice["Subject"]),
                            "utf-8").encode()
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain=sender.split("@")[1])
    msg["In-Reply-To"] = notice["Message-ID"]
    msg["References"] = notice["Message-ID"]
    for key, value in (extra or {}).items():
        msg[key] = value
    return msg.as_bytes()
