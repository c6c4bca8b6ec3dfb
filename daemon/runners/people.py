"""Moving a client to another manager (`client set --manager`): the store change and the one
summary mail to the new manager, in one transaction (issue 12).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from daemon.config import Settings
from daemon.core import notice_kinds as kinds
from daemon.core.absence import redirect
from daemon.core.model import Notice
from daemon.core.routing import status_word
from daemon.render.notices import Notifier
from parsers.tokens import reply_address
from store import absences
from store import clients as store_clients
from store.db import from_db, write_transaction
from store.outbox import enqueue
from store.rows import Client

log = logging.getLogger("oneassist.people")


def manager_or_fail(settings: Settings, email: str) -> str:
    member = settings.staff_by_email(email)
    if member is None or member.role not in ("manager", "admin"):
        managers = ", ".join(m.email for m in settings.staff if m.role in ("manager", "admin")) or "none"
        raise ValueError(f"{email!r} is not a manager in [[staff]]; managers: {managers}")
    return member.email


def move_client(settings: Settings, notifier: Notifier, client: Client, manager: str,
                now: datetime) -> dict[str, Any]:
    """The client and their tickets go to `manager`, who gets one mail listing the open tickets."""
    new = manager_or_fail(settings, manager)
    if new == client.manager_email:
        return {"client": client.email, "manager": new, "previous": new, "moved": []}
    with write_transaction():
        previous, open_tickets = store_clients.move_to_manager(client, new, now)
        # Each ticket's staff reply address: the new manager has no earlier mail of these
        # tickets to answer, and staff mail is routed by that address (docs/threading.md).
        service = settings.service
        member = settings.staff_by_email(new)
        language = member.language if member else settings.service.language
        rows = tuple((t.key, t.subject, status_word(t.status, language), notifier.local_time(from_db(t.due_at)) or "-",
                      reply_address(settings.smtp.from_address, t.key, service.staff_token_secret))
                     for t in open_tickets)
        notice = Notice(template=kinds.CLIENT_MOVED, to=(new,), language=language, autoreply=False,
                        context=(("client_name", client.name), ("client_email", client.email),
                                 ("previous_manager", notifier.staff_name(previous)), ("tickets", rows)))
        # A new manager who is away has the summary go to the deputy, like any notification.
        languages = {m.email: m.language for m in settings.staff}
        enqueue(notifier.render(redirect(notice, absences.active(now), now, languages), None, None, now), now)
    log.info("client=%s moved to another manager with %s open ticket(s)", client.id, len(rows))
    return {"client": client.email, "manager": new, "previous": previous, "moved": [r[0] for r in rows]}
