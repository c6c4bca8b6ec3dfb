"""`ticket new`: a task given by phone or messenger enters exactly like a mailed one.

The manager's typed task becomes a mail from the client's address, is spooled
under a mailbox of its own ("phone") and goes through the same pipeline, so the
client gets the same acknowledgement and the manager the same notification.
"""

from __future__ import annotations

import mimetypes
import uuid
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from daemon.clock import Clock
from daemon.config import Settings
from daemon.core.errors import OneAssistError
from daemon.render.notices import Notifier
from daemon.runners.ingest import Pipeline
from parsers.addresses import domain_of, normalize
from store import spool
from store.queries import client_by_address

PHONE_ACCOUNT = "phone"


def build_task_mail(settings: Settings, client_email: str, name: str, subject: str, body: str,
                    attachments: list[str], now: datetime) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"{name} <{client_email}>" if name else client_email
    msg["To"] = settings.smtp.from_address
    msg["Subject"] = subject
    msg["Date"] = format_datetime(now)
    # Not our "oneassist." prefix: that one marks our own mail coming back as a loop.
    msg["Message-ID"] = f"<phone.{uuid.uuid4().hex}@{domain_of(settings.smtp.from_address)}>"
    msg["X-OneAssist-Channel"] = "phone"
    msg.set_content(body or subject)
    for name_ in attachments:
        path = Path(name_)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ValueError(f"--attach {name_}: {exc.strerror}") from None
        ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        maintype, subtype = ctype.split("/", 1)
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=path.name)
    return msg.as_bytes()


def new_phone_task(settings: Settings, *, client: str, subject: str, body: str,
                   attachments: list[str], clock: Clock) -> dict[str, Any]:
    address = normalize(client)
    row = client_by_address(address) if address else None
    if row is None:
        raise ValueError(f"no client with address {client!r} (see: oneassist client list)")
    if not subject.strip():
        raise ValueError("--subject must not be empty")
    raw = build_task_mail(settings, row.email, row.name, subject.strip(), body, attachments, clock.now())
    uid = spool.next_local_uid(PHONE_ACCOUNT)
    spool.put_many(PHONE_ACCOUNT, "phone", 1, [spool.Fetched(uid, raw, clock.now())], clock.now())
    entry_id = spool.entry_id_of(PHONE_ACCOUNT, uid)
    outcome = Pipeline(settings, clock, Notifier(settings)).process_one(entry_id)
    ticket_key = spool.ticket_key_of(entry_id)
    if ticket_key is None:
        raise OneAssistError(f"the task was not accepted as a ticket ({outcome}); see the log")
    return {"ticket": ticket_key, "client": row.email, "outcome": outcome}
