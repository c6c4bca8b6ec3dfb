"""`oneassist ticket list|show|new`, and a ticket's timeline as a document (also for export)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, tzinfo
from typing import Any

from daemon.cli.common import (
    NotFound,
    command,
    for_people,
    iso,
    local_now,
    noun,
    when_arg,
    with_store,
)
from daemon.clock import Clock
from daemon.output import emit, table
from store import tickets_read
from store.tickets_read import Timeline

COLUMNS = ("key", "status", "client", "subject", "messages", "created_at", "due_at")
# The moments a table shows in the service timezone; --json keeps them ISO 8601 with the offset.
TIMES = ("created_at", "first_response_due", "due_at", "breached_at")
ARROWS = {"in": "<-", "staff": "<=", "out": "->", "note": "##"}


def ticket_document(timeline: Timeline) -> dict[str, Any]:
    ticket = timeline.ticket
    messages = [{
        "at": iso(m.created_at), "direction": m.direction, "kind": m.kind, "from": m.sender,
        "to": [r for r in m.recipients.split("\n") if r], "subject": m.subject, "text": m.text,
        "message_id": m.message_id,
        "attachments": [{"filename": a.filename, "content_type": a.content_type, "size": a.size,
                         "sha256": a.sha256} for a in timeline.attachments.get(m.id, [])],
    } for m in timeline.messages]
    events = [{"at": iso(e.at), "kind": e.kind, "detail": e.detail} for e in timeline.events]
    outbox = [{"id": o.id, "kind": o.kind, "status": o.status, "to": o.recipients.split("\n"),
               "attempts": o.attempts, "sent_at": iso(o.sent_at), "message_id": o.message_id}
              for o in timeline.outbox]
    return {
        "key": ticket.key, "status": ticket.status, "subject": ticket.subject,
        "client": timeline.client.email, "client_name": timeline.client.name, "manager": ticket.manager_email,
        "created_at": iso(ticket.created_at), "updated_at": iso(ticket.updated_at),
        "first_response_due": iso(ticket.first_response_due),
        "messages": messages, "events": events, "outbox": outbox,
    }


def format_ticket(doc: dict[str, Any], zone: tzinfo = UTC) -> str:
    """The timeline for people: every time in the service timezone, to the minute, with its zone."""
    def when(value: str | None) -> str:
        return for_people(value, zone)

    lines = [f"{doc['key']}  [{doc['status']}]  {doc['subject']}",
             f"client: {doc['client_name']} <{doc['client']}>   manager: {doc['manager']}",
             f"created: {when(doc['created_at'])}   first response due: {when(doc['first_response_due'])}", ""]
    if doc.get("manager_away"):
        away = doc["manager_away"]
        lines[2:2] = [f"manager away until {when(away['until'])}; deputy: {away['deputy']}"]
    timeline = [(m["at"], "mail", m) for m in doc["messages"]] + [(e["at"], "event", e) for e in doc["events"]]
    client_mails = 0
    for iso_at, kind, item in sorted(timeline, key=lambda x: x[0] or ""):
        at = when(iso_at)
        if kind == "event":
            lines.append(f"{at}  * {item['kind']} {item['detail']}".rstrip())
            continue
        arrow = ARROWS.get(item["direction"], "--")
        who = item["from"] if item["direction"] in ("in", "staff", "note") else ", ".join(item["to"])
        label = item["kind"]
        if item["direction"] == "in":
            # The client's mails are numbered: `#split mails 2-3` names them by these numbers.
            client_mails += 1
            label = f"client mail {client_mails}"
        lines.append(f"{at}  {arrow} {label} {who}")
        for text_line in (item["text"] or "").strip().splitlines()[:40]:
            lines.append(f"      {text_line}")
        for a in item["attachments"]:
            lines.append(f"      [file] {a['filename']} ({a['content_type']}, {a['size']} bytes)")
    lines.append("")
    lines.append("outgoing: " + (", ".join(f"#{o['id']} {o['kind']} {o['status']}" for o in doc["outbox"]) or "-"))
    return "\n".join(lines)


# -- commands ---------------------------------------------------------------

def cmd_list(args: argparse.Namespace, clock: Clock) -> int:
    settings = with_store(args)
    due_before = when_arg(settings, args.due_before, local_now(clock, settings))
    counts = tickets_read.inbound_counts()
    rows = [{
        "key": t.key, "status": t.status, "client": t.client.email, "subject": t.subject,
        "manager": t.manager_email, "messages": counts.get(t.id, 0),
        "created_at": iso(t.created_at), "first_response_due": iso(t.first_response_due),
        "due_at": iso(t.due_at), "breached_at": iso(t.breached_at), "assignee": t.assignee_email,
    } for t in tickets_read.tickets_matching(status=args.status, client=args.client, limit=args.limit,
                                             breached=args.breached, due_before=due_before)]
    zone = settings.service.timezone
    emit(rows, args.json, lambda r: table([{**row, **{c: for_people(row[c], zone) for c in TIMES}} for row in r],
                                          COLUMNS))
    return 0


def cmd_show(args: argparse.Namespace, clock: Clock) -> int:
    settings = with_store(args)
    ticket = tickets_read.ticket_with_key(args.key)
    if ticket is None:
        raise NotFound(f"no ticket {args.key!r} (see: oneassist ticket list)")
    doc = ticket_document(tickets_read.timeline_of(ticket))
    doc["manager_away"] = _away_of(ticket.manager_email, clock)
    emit(doc, args.json, lambda doc: format_ticket(doc, settings.service.timezone))
    return 0


def _away_of(email: str, clock: Clock) -> dict[str, str] | None:
    """The manager's absence now, if any (`staff away`), for the header of `ticket show`."""
    from daemon.core.absence import away
    from store.absences import active

    now = clock.now()
    absence = away(email, active(now), now)
    return {"until": absence.until.isoformat(), "deputy": absence.deputy} if absence else None


def cmd_new(args: argparse.Namespace, clock: Clock) -> int:
    from daemon.runners.phone import new_phone_task

    settings = with_store(args)
    if args.body_file:
        body = open(args.body_file, encoding="utf-8").read()  # noqa: SIM115
    elif not sys.stdin.isatty():
        body = sys.stdin.read()
    else:
        body = ""
    result = new_phone_task(settings, client=args.client, subject=args.subject, body=body,
                            attachments=args.attach, clock=clock)
    emit(result, args.json, lambda r: f"{r['ticket']} created for {r['client']}; the acknowledgement and "
                                      f"the manager's notice are in the outbox")
    return 0


def register(sub: Any) -> None:
    ticket = noun(sub, "ticket", "tickets")
    p = command(ticket, "list", cmd_list, "list tickets")
    p.add_argument("--status")
    p.add_argument("--client")
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--breached", action="store_true", help="only tickets whose first answer was late")
    p.add_argument("--due-before", metavar="WHEN", help="open tickets due before WHEN (e.g. +1d)")
    p = command(ticket, "show", cmd_show, "a ticket's timeline")
    p.add_argument("key")
    p = command(ticket, "new", cmd_new, "a task given by phone or messenger, handled as if mailed")
    p.add_argument("--client", required=True, help="the client's registered address")
    p.add_argument("--subject", required=True)
    p.add_argument("--body-file", help="the task text (default: read stdin if it is not a terminal)")
    p.add_argument("--attach", action="append", default=[], help="a file to attach (repeatable)")
