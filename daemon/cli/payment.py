"""`oneassist payment add`."""

from __future__ import annotations

import argparse
from typing import Any

from daemon.cli.common import command, local_now, noun, with_store
from daemon.clock import Clock
from daemon.output import emit


def describe(r: dict[str, Any]) -> str:
    return (f"payment recorded for {r['client']}" + (f", invoice {r['invoice']} paid" if r["invoice"] else "")
            + f"; deposit {r['deposit']}" + ("; client reactivated" if r["reactivated"] else "")
            + (f"; resumed {', '.join(r['resumed'])} (expense charged, manager told)" if r.get("resumed") else ""))


def cmd_add(args: argparse.Namespace, clock: Clock) -> int:
    from daemon.runners.billing import add_payment

    settings = with_store(args)
    result = add_payment(settings, args.client, args.amount, local_now(clock, settings),
                         to_deposit=args.deposit, invoice_number=args.invoice)
    emit(result, args.json, describe)
    return 0


def register(sub: Any) -> None:
    payment = noun(sub, "payment", "payments")
    p = command(payment, "add", cmd_add, "record a payment (against the oldest open invoice, or --deposit)")
    p.add_argument("client")
    p.add_argument("amount", help="e.g. 4900 or '1 500,50'")
    p.add_argument("--deposit", action="store_true", help="put it on the deposit, not against an invoice")
    p.add_argument("--invoice", help="the invoice number it pays (default: the oldest open one)")
