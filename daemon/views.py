"""What the CLI shows and changes: store rows as plain dicts, and client registration."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import peewee

from daemon.config import Settings
from daemon.core.errors import OneAssistError
from daemon.output import table
from parsers.addresses import normalize
from store import spool
from store.db import from_db, to_db, write_transaction
from store.models import (
    AttachmentMeta,
    Client,
    ClientAddress,
    Event,
    Message,
    Outbox,
    SpoolEntry,
    Ticket,
)


class NotFound(OneAssistError):
    """The thing named on the command line does not exist."""


def _iso(value: datetime | None) -> str | None:
    moment = from_db(value)
    return moment.isoformat() if moment else None


def add_client(settings: Settings, *, email: str, name: str, tariff: str, manager: str,
               language: str | None, aliases: list[str], assistant: str | None = None) -> dict[str, Any]:
    address = normalize(email)
    if not address:
        raise ValueError(f"{email!r} is not an email address")
    if settings.tariff(tariff) is None:
        known = ", ".join(t.code for t in settings.tariffs) or "none configured: add [[tariffs]] to the config"
        raise ValueError(f"unknown tariff {tariff!r}; known tariffs: {known}")
    staff = settings.staff_by_email(manager)
    if staff is None or staff.role not in ("manager", "admin"):
        managers = ", ".join(m.email for m in settings.staff if m.role in ("manager", "admin")) or "none"
        raise ValueError(f"{manager!r} is not a manager in [[staff]]; managers: {managers}")
    assistant_email = None
    if assistant:
        member = settings.staff_by_email(assistant)
        if member is None or member.role != "assistant":
            names = ", ".join(m.email for m in settings.staff if m.role == "assistant") or "none"
            raise ValueError(f"{assistant!r} is not an assistant in [[staff]]; assistants: {names}")
        assistant_email = member.email
    elif settings.tariff(tariff).dedicated:
        raise ValueError(f"tariff {tariff!r} is dedicated: name the client's assistant with --assistant EMAIL")
    all_addresses = [address] + [normalize(a) for a in aliases]
    if any(not a for a in all_addresses):
        raise ValueError("an --alias is not an email address")
    if any(settings.staff_by_email(a) for a in all_addresses):
        raise ValueError("a staff address cannot be registered as a client address")
    with write_transaction():
        taken = ClientAddress.select().where(ClientAddress.email.in_(all_addresses)).first()
        if taken is not None:
            raise ValueError(f"{taken.email} is already registered to client {taken.client.email}")
        client = Client.create(email=address, name=name.strip(), tariff=settings.tariff(tariff).code,
                               manager_email=staff.email, language=language or settings.service.language,
                               active=True, created_at=to_db(datetime.now(UTC)),
                               assistant_email=assistant_email)
        for a in dict.fromkeys(all_addresses):
            ClientAddress.create(client=client, email=a)
    return client_dict(client)


def client_dict(client: Client) -> dict[str, Any]:
    return {
        "email": client.email, "name": client.name, "tariff": client.tariff,
        "manager": client.manager_email, "language": client.language, "active": client.active,
        "addresses": [a.email for a in client.addresses],
        "assistant": client.assistant_email,
    }


def list_clients() -> list[dict[str, Any]]:
    counts = dict(Ticket.select(Ticket.client, peewee.fn.COUNT(Ticket.id)).group_by(Ticket.client).tuples())
    return [{**client_dict(c), "tickets": counts.get(c.id, 0)} for c in Client.select().order_by(Client.id)]


def list_tickets(status: str | None = None, client: str | None = None, limit: int = 100,
                 breached: bool = False, due_before: datetime | None = None) -> list[dict[str, Any]]:
    query = Ticket.select(Ticket, Client).join(Client).order_by(Ticket.number.desc()).limit(limit)
    if status:
        query = query.where(Ticket.status == status)
    if breached:
        query = query.where(Ticket.breached_at.is_null(False))
    if due_before is not None:
        query = query.where(Ticket.due_at < to_db(due_before),
                            Ticket.status.not_in(("done", "cancelled", "rejected", "merged", "closed")))
    if client:
        query = query.where(Client.email == normalize(client))
    counts = dict(Message.select(Message.ticket, peewee.fn.COUNT(Message.id))
                  .where(Message.direction == "in").group_by(Message.ticket).tuples())
    return [{
        "key": t.key, "status": t.status, "client": t.client.email, "subject": t.subject,
        "manager": t.manager_email, "messages": counts.get(t.id, 0),
        "created_at": _iso(t.created_at), "first_response_due": _iso(t.first_response_due),
        "due_at": _iso(t.due_at), "breached_at": _iso(t.breached_at), "assignee": t.assignee_email,
    } for t in query]


def ticket_or_fail(key: str) -> Ticket:
    ticket = Ticket.get_or_none(Ticket.key == key.upper())
    if ticket is None:
        raise NotFound(f"no ticket {key!r} (see: oneassist ticket list)")
    return ticket


def ticket_document(ticket: Ticket) -> dict[str, Any]:
    messages = []
    for m in ticket.messages.order_by(Message.created_at, Message.id):
        messages.append({
            "at": _iso(m.created_at), "direction": m.direction, "kind": m.kind, "from": m.sender,
            "to": [r for r in m.recipients.split("\n") if r], "subject": m.subject, "text": m.text,
            "message_id": m.message_id,
            "attachments": [{"filename": a.filename, "content_type": a.content_type, "size": a.size,
                             "sha256": a.sha256} for a in m.attachments.order_by(AttachmentMeta.id)],
        })
    events = [{"at": _iso(e.at), "kind": e.kind, "detail": e.detail}
              for e in ticket.events.order_by(Event.at, Event.id)]
    outbox = [{"id": o.id, "kind": o.kind, "status": o.status, "to": o.recipients.split("\n"),
               "attempts": o.attempts, "sent_at": _iso(o.sent_at), "message_id": o.message_id}
              for o in ticket.outbox.order_by(Outbox.id)]
    return {
        "key": ticket.key, "status": ticket.status, "subject": ticket.subject,
        "client": ticket.client.email, "client_name": ticket.client.name, "manager": ticket.manager_email,
        "created_at": _iso(ticket.created_at), "updated_at": _iso(ticket.updated_at),
        "first_response_due": _iso(ticket.first_response_due),
        "messages": messages, "events": events, "outbox": outbox,
    }


def show_ticket(key: str) -> dict[str, Any]:
    return ticket_document(ticket_or_fail(key))


def format_ticket(doc: dict[str, Any]) -> str:
    lines = [f"{doc['key']}  [{doc['status']}]  {doc['subject']}",
             f"client: {doc['client_name']} <{doc['client']}>   manager: {doc['manager']}",
             f"created: {doc['created_at']}   first response due: {doc['first_response_due'] or '-'}", ""]
    timeline = [(m["at"], "mail", m) for m in doc["messages"]] + [(e["at"], "event", e) for e in doc["events"]]
    for at, kind, item in sorted(timeline, key=lambda x: x[0] or ""):
        if kind == "event":
            lines.append(f"{at}  * {item['kind']} {item['detail']}".rstrip())
            continue
        arrow = {"in": "<-", "staff": "<=", "out": "->", "note": "##"}.get(item["direction"], "--")
        who = item["from"] if item["direction"] in ("in", "staff", "note") else ", ".join(item["to"])
        lines.append(f"{at}  {arrow} {item['kind']} {who}")
        for text_line in (item["text"] or "").strip().splitlines()[:40]:
            lines.append(f"      {text_line}")
        for a in item["attachments"]:
            lines.append(f"      [file] {a['filename']} ({a['content_type']}, {a['size']} bytes)")
    lines.append("")
    lines.append("outgoing: " + (", ".join(f"#{o['id']} {o['kind']} {o['status']}" for o in doc["outbox"]) or "-"))
    return "\n".join(lines)


def list_outbox(status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    query = Outbox.select().order_by(Outbox.id.desc()).limit(limit)
    if status:
        query = query.where(Outbox.status == status)
    return [{
        "id": o.id, "status": o.status, "kind": o.kind,
        "ticket": o.ticket.key if o.ticket_id else None, "to": o.recipients.replace("\n", ", "),
        "attempts": o.attempts, "resends": o.resends, "next_attempt_at": _iso(o.next_attempt_at),
        "sent_at": _iso(o.sent_at), "message_id": o.message_id, "last_error": o.last_error or None,
    } for o in query]


def list_quarantine() -> list[dict[str, Any]]:
    from store.spool import quarantined

    return [{"id": e.id, "uid": e.uid, "mailbox": e.mailbox, "size": e.size, "attempts": e.attempts,
             "fetched_at": _iso(e.fetched_at), "error": e.error[:120], "sha256": e.sha256}
            for e in quarantined()]


def show_quarantine(entry_id: int) -> dict[str, Any]:
    entry = SpoolEntry.get_or_none(SpoolEntry.id == entry_id)
    if entry is None or entry.state != "quarantined":
        raise NotFound(f"spool entry {entry_id} is not in quarantine (see: oneassist quarantine list)")
    return {"id": entry.id, "mailbox": entry.mailbox, "uidvalidity": entry.uidvalidity, "uid": entry.uid,
            "size": entry.size, "sha256": entry.sha256, "attempts": entry.attempts,
            "fetched_at": _iso(entry.fetched_at), "error": entry.error, "raw_bytes": spool.raw_of(entry.id)}


def export_all() -> dict[str, Any]:
    """Every client and ticket with its messages; raw mail is base64 so the document is exact."""
    tickets = []
    for ticket in Ticket.select().order_by(Ticket.number):
        doc = ticket_document(ticket)
        spool_of_message = {m.id: m.spool_id for m in ticket.messages if m.spool_id}
        for message, row in zip(doc["messages"], ticket.messages.order_by(Message.created_at, Message.id),
                                strict=True):
            entry_id = spool_of_message.get(row.id)
            message["raw_base64"] = base64.b64encode(spool.raw_of(entry_id)).decode() if entry_id else None
        tickets.append(doc)
    return {
        "format": "oneassist-export/1",
        "exported_at": datetime.now(UTC).isoformat(),
        "clients": [client_dict(c) for c in Client.select().order_by(Client.id)],
        "tickets": tickets,
    }


def _percentile(values: list[int], q: float) -> int | None:
    if not values:
        return None
    ordered = sorted(values)
    # Nearest-rank percentile: an actual observed response time, never an interpolation.
    rank = max(1, -(-len(ordered) * q // 1))
    return ordered[int(rank) - 1]


def _detail(text: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in text.split() if "=" in part)


def sla_report(start: datetime | None, end: datetime | None, now: datetime) -> dict[str, Any]:
    """Per manager and in total: tickets, first-response median/p90, breaches, late tasks, delays."""
    def in_range(query, field):
        if start is not None:
            query = query.where(field >= to_db(start))
        if end is not None:
            query = query.where(field < to_db(end))
        return query

    rows: dict[str, dict[str, Any]] = {}

    def row(manager: str) -> dict[str, Any]:
        return rows.setdefault(manager, {"manager": manager, "tickets": 0, "responses": [], "breaches": 0,
                                         "late_tasks": 0, "delays_by_people": 0, "delays_by_daemon": 0})

    for ticket in in_range(Ticket.select(), Ticket.created_at):
        row(ticket.manager_email)["tickets"] += 1
        due = from_db(ticket.due_at)
        closed = from_db(ticket.closed_at)
        if due is not None and ((closed is not None and ticket.status == "done" and closed > due)
                                or (closed is None and due < now)):
            row(ticket.manager_email)["late_tasks"] += 1
    events = in_range(Event.select(Event, Ticket).join(Ticket), Event.at)
    for event in events:
        manager = event.ticket.manager_email
        if event.kind == "response":
            row(_detail(event.detail).get("manager", manager))["responses"].append(
                int(_detail(event.detail).get("seconds", "0")))
        elif event.kind == "sla-breach":
            row(manager)["breaches"] += 1
        elif event.kind == "delay":
            row(manager)["delays_by_daemon" if event.detail == "by daemon" else "delays_by_people"] += 1

    def finish(data: dict[str, Any]) -> dict[str, Any]:
        responses = data.pop("responses")
        return {**data, "answered": len(responses), "first_response_median_seconds": _percentile(responses, 0.5),
                "first_response_p90_seconds": _percentile(responses, 0.9)}

    total = row("*")
    for key, data in rows.items():
        if key == "*":
            continue
        for field in ("tickets", "breaches", "late_tasks", "delays_by_people", "delays_by_daemon"):
            total[field] += data[field]
        total["responses"].extend(data["responses"])
    managers = [finish(rows[k]) for k in sorted(rows) if k != "*"]
    return {"from": start.isoformat() if start else None, "to": end.isoformat() if end else None,
            "managers": managers, "total": {k: v for k, v in finish(total).items() if k != "manager"}}


def format_sla_report(report: dict[str, Any]) -> str:
    def secs(value: int | None) -> str:
        return "-" if value is None else f"{value // 60}m{value % 60:02d}s"

    rows = [{**m, "median": secs(m["first_response_median_seconds"]), "p90": secs(m["first_response_p90_seconds"])}
            for m in report["managers"]]
    total = report["total"]
    rows.append({**total, "manager": "TOTAL", "median": secs(total["first_response_median_seconds"]),
                 "p90": secs(total["first_response_p90_seconds"])})
    return table(rows, ("manager", "tickets", "answered", "median", "p90", "breaches", "late_tasks",
                        "delays_by_people", "delays_by_daemon"))


def list_invoices(client: str | None = None, status: str | None = None) -> list[dict[str, Any]]:
    from daemon.runners.billing import invoice_dict
    from store.models import Invoice

    query = Invoice.select(Invoice, Client).join(Client).order_by(Invoice.id.desc())
    if client:
        query = query.where(Client.email == normalize(client))
    if status:
        query = query.where(Invoice.status == status)
    return [invoice_dict(i) for i in query]


def show_client(settings: Settings, email: str, now: datetime) -> dict[str, Any]:
    from daemon.core.quota import period_of, remaining
    from daemon.runners.billing import client_or_fail
    from store.billing import deposit_of, quota_used
    from store.models import LedgerEntry

    client = client_or_fail(email)
    tariff = settings.tariff(client.tariff)
    data = client_dict(client)
    if tariff is not None:
        start, end = period_of(now, tariff.quota_period, settings.service.timezone)
        used = quota_used(client, start)
        data["quota"] = {"period": tariff.quota_period, "from": start.isoformat(), "to": end.isoformat(),
                         "quota": tariff.quota, "used": used, "left": remaining(tariff.quota, used)}
    data["deposit"] = str(deposit_of(client))
    data["deposit_pays_tariff"] = client.deposit_pays_tariff
    data["suspended_at"] = _iso(client.suspended_at)
    data["ledger"] = [{"at": _iso(e.at), "kind": e.kind, "amount": str(e.amount), "note": e.note}
                      for e in LedgerEntry.select().where(LedgerEntry.client == client).order_by(LedgerEntry.id)]
    data["open_invoices"] = list_invoices(client.email, "open")
    return data


def format_client(d: dict[str, Any]) -> str:
    quota = d.get("quota") or {}
    lines = [f"{d['name']} <{d['email']}>  tariff {d['tariff']}  manager {d['manager']}"
             + ("  SUSPENDED" if d.get("suspended_at") else ""),
             f"quota this {quota.get('period', '-')}: {quota.get('used', '-')} used, "
             f"{'unlimited' if quota.get('quota') is None else quota.get('left')} left",
             f"deposit: {d['deposit']}" + ("  (pays the next tariff invoice)" if d["deposit_pays_tariff"] else ""),
             "", "ledger:"]
    lines += [f"  {e['at']}  {e['kind']:<8} {e['amount']:>12}  {e['note']}" for e in d["ledger"]] or ["  (empty)"]
    lines += ["", "open invoices:"]
    lines += [f"  {i['number']}  {i['amount']} {i['currency']}  due {i['due_at']}" for i in d["open_invoices"]] \
        or ["  (none)"]
    return "\n".join(lines)


def set_client(settings: Settings, email: str, *, deposit_pays_tariff: bool | None, tariff: str | None,
               language: str | None) -> dict[str, Any]:
    from daemon.runners.billing import client_or_fail

    client = client_or_fail(email)
    if tariff is not None:
        if settings.tariff(tariff) is None:
            raise ValueError(f"unknown tariff {tariff!r}; known tariffs: "
                             + ", ".join(t.code for t in settings.tariffs))
        client.tariff = settings.tariff(tariff).code
    if deposit_pays_tariff is not None:
        client.deposit_pays_tariff = deposit_pays_tariff
    if language is not None:
        client.language = language
    client.save()
    return client_dict(client)


def billing_report(settings: Settings) -> dict[str, Any]:
    from decimal import Decimal

    from store.billing import deposit_of
    from store.models import Invoice

    now = datetime.now(UTC)
    tariffs: dict[str, dict[str, Any]] = {}
    for client in Client.select():
        row = tariffs.setdefault(client.tariff, {"tariff": client.tariff, "clients": 0, "suspended": 0,
                                                 "deposits": Decimal("0.00"), "open_invoices": 0,
                                                 "open_amount": Decimal("0.00"), "overdue_invoices": 0})
        row["clients"] += 1
        row["suspended"] += int(client.suspended_at is not None)
        row["deposits"] += deposit_of(client)
        for invoice in Invoice.select().where(Invoice.client == client, Invoice.status == "open"):
            row["open_invoices"] += 1
            row["open_amount"] += Decimal(str(invoice.amount))
            row["overdue_invoices"] += int(from_db(invoice.due_at) <= now)
    rows = [{k: (str(v) if isinstance(v, Decimal) else v) for k, v in r.items()} for r in tariffs.values()]
    return {"tariffs": sorted(rows, key=lambda r: r["tariff"])}


def format_billing_report(report: dict[str, Any]) -> str:
    return table(report["tariffs"], ("tariff", "clients", "suspended", "deposits", "open_invoices",
                                     "open_amount", "overdue_invoices"))
