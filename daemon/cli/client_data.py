"""`oneassist client export EMAIL [-o FILE]` and `client erase EMAIL [--yes]` (152-FZ, issue 13).

Export writes everything the desk holds about one client as one JSON document, raw mail
included (base64, exact bytes). Erase removes it (store/privacy.py says what that is and
what stays: invoices and the ledger, with the name replaced), after a confirmation that
names the client, or with --yes for scripts. Neither prints mail content on stderr.
"""

from __future__ import annotations

import argparse
import base64
import sys
from typing import Any

from daemon.cli.common import NotFound, UsageError, command, iso, with_store, write_private
from daemon.cli.ticket import ticket_document
from daemon.clock import Clock
from daemon.output import document, emit, note
from store import clients as store_clients
from store import privacy, queries, tickets_read
from store.rows import Client


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _client(email: str) -> Client:
    client = store_clients.client_by_email(email)
    if client is None:
        raise NotFound(f"no client with address {email!r} (see: oneassist client list)")
    return client


def client_export(client: Client, clock: Clock) -> dict[str, Any]:
    held = privacy.holdings_of(client)
    tickets = [ticket_document(tickets_read.timeline_of(queries.ticket_by_id(t))) for t in held.tickets]
    return {
        "format": "oneassist-client-export/1",
        "exported_at": clock.now().isoformat(),
        "client": {"email": client.email, "name": client.name, "tariff": client.tariff,
                   "manager": client.manager_email, "language": client.language, "active": client.active,
                   "assistant": client.assistant_email, "created_at": iso(client.created_at),
                   "addresses": held.addresses},
        "tickets": tickets,
        "mails_received": [{
            "spool_id": e.id, "fetched_at": iso(e.fetched_at), "internaldate": iso(e.internaldate),
            "sender": e.sender, "message_id": e.message_id, "state": e.state, "outcome": e.outcome,
            "size": e.size, "raw_base64": _b64(raw)} for e, raw in privacy.spool_rows(held.spool)],
        "mails_sent": [{
            "outbox_id": o.id, "kind": o.kind, "to": o.recipients.split("\n"), "status": o.status,
            "message_id": o.message_id, "created_at": iso(o.created_at), "sent_at": iso(o.sent_at),
            "raw_base64": _b64(raw)} for o, raw in privacy.outbox_rows(held.outbox)],
        "invoices": [{"number": i.number, "kind": i.kind, "amount": str(i.amount), "currency": i.currency,
                      "status": i.status, "issued_at": iso(i.issued_at), "due_at": iso(i.due_at),
                      "lines": i.lines} for i in privacy.invoices_of(client)],
        "ledger": [{"kind": e.kind, "amount": str(e.amount), "at": iso(e.at), "note": e.note}
                   for e in store_clients.ledger_of(client)],
        "autoreplies": [{"address": a.address, "kind": a.kind, "sent_at": iso(a.sent_at)}
                        for a in privacy.autoreplies_to(held.addresses)],
    }


def cmd_export(args: argparse.Namespace, clock: Clock) -> int:
    with_store(args)
    exported = client_export(_client(args.email), clock)
    if args.output:
        # Everything about a person, raw mail included: owner-only, like the store.
        from daemon.output import dump_json

        write_private(args.output, lambda out: dump_json(exported, out))
        note(f"exported {len(exported['tickets'])} ticket(s) and "
             f"{len(exported['mails_received']) + len(exported['mails_sent'])} mail(s) to {args.output}")
    else:
        document(exported)
    return 0


def _confirmed(client: Client, held: privacy.Holdings) -> bool:
    if not sys.stdin.isatty():
        raise UsageError("client erase asks for confirmation on a terminal; in a script pass --yes")
    sys.stderr.write(f"Erase {client.email} ({len(held.addresses)} address(es), {len(held.tickets)} ticket(s), "
                     f"{len(held.spool)} mail(s) in, {len(held.outbox)} out)? Invoices stay, with the "
                     f"name replaced. This cannot be undone.\nType the address to confirm: ")
    sys.stderr.flush()
    return sys.stdin.readline().strip().lower() == client.email.lower()


def cmd_erase(args: argparse.Namespace, clock: Clock) -> int:
    with_store(args)
    client = _client(args.email)
    if not args.yes and not _confirmed(client, privacy.holdings_of(client)):
        note("not confirmed: nothing was erased")
        return 1
    counts, clean = privacy.erase_client(client)
    result = {"erased": args.email, "client_id": client.id, "deleted": counts, "files_scrubbed": clean}
    emit(result, args.json, lambda r: "erased: " + ", ".join(f"{k} {v}" for k, v in r["deleted"].items()))
    if not clean:
        note("the store's WAL could not be truncated (a reader held it): the erased bytes may remain in "
             "the -wal file until the next checkpoint; run `oneassist client erase` again when it is quiet")
        return 1
    return 0


def register(client: Any) -> None:
    p = command(client, "export", cmd_export, "everything the desk holds about one client, as JSON")
    p.add_argument("email")
    p.add_argument("--output", "-o", help="write to this file (mode 0600) instead of stdout")
    p = command(client, "erase", cmd_erase,
                "delete one client's mail, addresses and names everywhere (invoices stay, name replaced)")
    p.add_argument("email")
    p.add_argument("--yes", action="store_true", help="do not ask (scripts)")
