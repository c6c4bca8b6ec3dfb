"""`oneassist outbox list`."""

from __future__ import annotations

import argparse
from typing import Any

from daemon.cli.common import command, iso, noun, with_store
from daemon.clock import Clock
from daemon.output import emit, table
from store.listings import outgoing_mail
from store.rows import Outbox

COLUMNS = ("id", "status", "kind", "ticket", "to", "attempts", "resends", "next_attempt_at", "last_error")


def outbox_row(o: Outbox) -> dict[str, Any]:
    return {
        "id": o.id, "status": o.status, "kind": o.kind,
        "ticket": o.ticket.key if o.ticket_id else None, "to": o.recipients.replace("\n", ", "),
        "attempts": o.attempts, "resends": o.resends, "next_attempt_at": iso(o.next_attempt_at),
        "sent_at": iso(o.sent_at), "message_id": o.message_id, "last_error": o.last_error or None,
    }


def cmd_list(args: argparse.Namespace, clock: Clock) -> int:
    with_store(args)
    rows = [outbox_row(o) for o in outgoing_mail(status=args.status, limit=args.limit)]
    emit(rows, args.json, lambda r: table(r, COLUMNS))
    return 0


def register(sub: Any) -> None:
    outbox = noun(sub, "outbox", "outgoing mail")
    p = command(outbox, "list", cmd_list, "list outgoing mail")
    p.add_argument("--status", choices=("pending", "sending", "sent", "dead"))
    p.add_argument("--limit", type=int, default=100)
