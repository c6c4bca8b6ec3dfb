"""`oneassist report sla|billing`: the figures are computed here from rows the store reads."""

from __future__ import annotations

import argparse
from datetime import datetime
from decimal import Decimal
from typing import Any

from daemon.cli.common import command, local_now, noun, when_arg, with_store
from daemon.clock import Clock
from daemon.output import emit, table
from store import reports
from store.db import from_db

SLA_COLUMNS = ("manager", "tickets", "answered", "median", "p90", "breaches", "late_tasks",
               "delays_by_people", "delays_by_daemon")
BILLING_COLUMNS = ("tariff", "clients", "suspended", "deposits", "open_invoices", "open_amount",
                   "overdue_invoices")
COUNTED = ("tickets", "breaches", "late_tasks", "delays_by_people", "delays_by_daemon")


def percentile(values: list[int], q: float) -> int | None:
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
    rows: dict[str, dict[str, Any]] = {}

    def row(manager: str) -> dict[str, Any]:
        return rows.setdefault(manager, {"manager": manager, "tickets": 0, "responses": [], "breaches": 0,
                                         "late_tasks": 0, "delays_by_people": 0, "delays_by_daemon": 0})

    for ticket in reports.tickets_created(start, end):
        row(ticket.manager_email)["tickets"] += 1
        due = from_db(ticket.due_at)
        closed = from_db(ticket.closed_at)
        if due is not None and ((closed is not None and ticket.status == "done" and closed > due)
                                or (closed is None and due < now)):
            row(ticket.manager_email)["late_tasks"] += 1
    for event in reports.events_between(start, end):
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
        return {**data, "answered": len(responses), "first_response_median_seconds": percentile(responses, 0.5),
                "first_response_p90_seconds": percentile(responses, 0.9)}

    total = row("*")
    for key, data in rows.items():
        if key == "*":
            continue
        for field in COUNTED:
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
    return table(rows, SLA_COLUMNS)


def billing_report(now: datetime) -> dict[str, Any]:
    """Per tariff: clients, suspended ones, deposits, open and overdue invoices."""
    tariffs: dict[str, dict[str, Any]] = {}
    for client, deposit, open_invoices in reports.money_by_client():
        row = tariffs.setdefault(client.tariff, {"tariff": client.tariff, "clients": 0, "suspended": 0,
                                                 "deposits": Decimal("0.00"), "open_invoices": 0,
                                                 "open_amount": Decimal("0.00"), "overdue_invoices": 0})
        row["clients"] += 1
        row["suspended"] += int(client.suspended_at is not None)
        row["deposits"] += deposit
        for invoice in open_invoices:
            row["open_invoices"] += 1
            row["open_amount"] += Decimal(str(invoice.amount))
            row["overdue_invoices"] += int(from_db(invoice.due_at) <= now)
    rows = [{k: (str(v) if isinstance(v, Decimal) else v) for k, v in r.items()} for r in tariffs.values()]
    return {"tariffs": sorted(rows, key=lambda r: r["tariff"])}


def format_billing_report(report: dict[str, Any]) -> str:
    return table(report["tariffs"], BILLING_COLUMNS)


# -- commands ---------------------------------------------------------------

def cmd_sla(args: argparse.Namespace, clock: Clock) -> int:
    settings = with_store(args)
    now = local_now(clock, settings)
    start = when_arg(settings, getattr(args, "from"), now)
    end = when_arg(settings, args.to, now)
    emit(sla_report(start, end, now), args.json, format_sla_report)
    return 0


def cmd_billing(args: argparse.Namespace, clock: Clock) -> int:
    with_store(args)
    emit(billing_report(clock.now()), args.json, format_billing_report)
    return 0


def register(sub: Any) -> None:
    report = noun(sub, "report", "reports")
    command(report, "billing", cmd_billing, "per tariff: clients, open and overdue invoices, deposits")
    p = command(report, "sla", cmd_sla, "first-response times, breaches, late tasks, delay notices")
    p.add_argument("--from", metavar="DATE", help="from this date (2026-11-01) or WHEN")
    p.add_argument("--to", metavar="DATE", help="up to this date, exclusive")
