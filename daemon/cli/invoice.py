"""`oneassist invoice issue|list`."""

from __future__ import annotations

import argparse
from decimal import Decimal
from typing import Any

from daemon.cli.common import command, iso, local_now, noun, with_store
from daemon.clock import Clock
from daemon.core.billing import money
from daemon.output import emit, table
from store.listings import invoices_matching
from store.rows import Invoice

COLUMNS = ("number", "client", "kind", "amount", "currency", "status", "issued_at", "due_at", "paid_at")


def invoice_row(invoice: Invoice) -> dict[str, Any]:
    """An invoice read with its client joined in (store.listings.invoices_matching)."""
    return {"number": invoice.number, "client": invoice.client.email, "kind": invoice.kind,
            "amount": str(money(Decimal(str(invoice.amount)))), "currency": invoice.currency,
            "status": invoice.status, "issued_at": iso(invoice.issued_at), "due_at": iso(invoice.due_at),
            "paid_at": iso(invoice.paid_at)}


def cmd_issue(args: argparse.Namespace, clock: Clock) -> int:
    from daemon.render.notices import Notifier
    from daemon.runners.billing import issue_on_request

    settings = with_store(args)
    result = issue_on_request(settings, Notifier(settings), args.client, args.amount, local_now(clock, settings))
    emit(result, args.json, lambda r: f"invoice {r['number']} for {r['amount']} {r['currency']} queued to "
                                      f"{r['client']}")
    return 0


def cmd_list(args: argparse.Namespace, clock: Clock) -> int:
    with_store(args)
    rows = [invoice_row(i) for i in invoices_matching(client=args.client, status=args.status)]
    emit(rows, args.json, lambda r: table(r, COLUMNS))
    return 0


def register(sub: Any) -> None:
    invoice = noun(sub, "invoice", "invoices")
    p = command(invoice, "issue", cmd_issue, "email an invoice: the next period's tariff, or --amount top-up")
    p.add_argument("client")
    p.add_argument("--amount", help="a deposit top-up of this amount instead of the tariff")
    p = command(invoice, "list", cmd_list, "list invoices")
    p.add_argument("--client")
    p.add_argument("--status", choices=("open", "paid"))
