"""`oneassist client add|list|show|set`, and client registration (also used by the sandbox)."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from daemon.cli import client_data
from daemon.cli.common import command, iso, local_now, noun, with_store
from daemon.cli.invoice import invoice_row
from daemon.clock import Clock
from daemon.config import Settings
from daemon.output import emit, table
from parsers.addresses import normalize
from store import clients as store_clients
from store.rows import Client


def client_or_fail(email: str) -> Client:
    client = store_clients.client_by_email(email)
    if client is None:
        raise ValueError(f"no client with address {email!r} (see: oneassist client list)")
    return client


def client_dict(client: Client, addresses: list[str]) -> dict[str, Any]:
    return {
        "email": client.email, "name": client.name, "tariff": client.tariff,
        "manager": client.manager_email, "language": client.language, "active": client.active,
        "addresses": addresses, "assistant": client.assistant_email,
    }


def add_client(settings: Settings, *, email: str, name: str, tariff: str, manager: str,
               language: str | None, aliases: list[str], now: datetime,
               assistant: str | None = None) -> dict[str, Any]:
    """Check a new client against the settings (tariff, manager, assistant), register it at `now`."""
    address = normalize(email)
    if not address:
        raise ValueError(f"{email!r} is not an email address")
    plan = settings.tariff(tariff)
    if plan is None:
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
    elif plan.dedicated:
        raise ValueError(f"tariff {tariff!r} is dedicated: name the client's assistant with --assistant EMAIL")
    all_addresses = [address] + [normalize(a) for a in aliases]
    if any(not a for a in all_addresses):
        raise ValueError("an --alias is not an email address")
    if any(settings.staff_by_email(a) for a in all_addresses):
        raise ValueError("a staff address cannot be registered as a client address")
    client = store_clients.register_client(
        email=address, name=name.strip(), tariff=plan.code, manager_email=staff.email,
        language=language or settings.service.language, assistant_email=assistant_email,
        addresses=all_addresses, now=now)
    return client_dict(client, store_clients.addresses_of(client))


def show_client(settings: Settings, email: str, now: datetime) -> dict[str, Any]:
    from daemon.core.quota import period_of, remaining
    from store.billing import deposit_of, quota_used
    from store.listings import invoices_matching

    client = client_or_fail(email)
    tariff = settings.tariff(client.tariff)
    data = client_dict(client, store_clients.addresses_of(client))
    if tariff is not None:
        start, end = period_of(now, tariff.quota_period, settings.service.timezone)
        used = quota_used(client, start)
        data["quota"] = {"period": tariff.quota_period, "from": start.isoformat(), "to": end.isoformat(),
                         "quota": tariff.quota, "used": used, "left": remaining(tariff.quota, used)}
    data["deposit"] = str(deposit_of(client))
    data["deposit_pays_tariff"] = client.deposit_pays_tariff
    data["suspended_at"] = iso(client.suspended_at)
    data["ledger"] = [{"at": iso(e.at), "kind": e.kind, "amount": str(e.amount), "note": e.note}
                      for e in store_clients.ledger_of(client)]
    data["open_invoices"] = [invoice_row(i) for i in invoices_matching(client=client.email, status="open")]
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


# -- commands ---------------------------------------------------------------

def cmd_add(args: argparse.Namespace, clock: Clock) -> int:
    settings = with_store(args)
    client = add_client(settings, email=args.email, name=args.name, tariff=args.tariff,
                        manager=args.manager, language=args.lang, aliases=args.alias or [],
                        assistant=args.assistant, now=clock.now())
    emit(client, args.json, lambda c: f"client {c['email']} added (tariff {c['tariff']}, manager {c['manager']})")
    return 0


def cmd_list(args: argparse.Namespace, clock: Clock) -> int:
    with_store(args)
    addresses = store_clients.addresses_by_client()
    counts = store_clients.ticket_counts()
    rows = [{**client_dict(c, addresses.get(c.id, [])), "tickets": counts.get(c.id, 0)}
            for c in store_clients.all_clients()]
    emit(rows, args.json, lambda r: table(r, ("email", "name", "tariff", "manager", "language", "active", "tickets")))
    return 0


def cmd_show(args: argparse.Namespace, clock: Clock) -> int:
    settings = with_store(args)
    emit(show_client(settings, args.email, local_now(clock, settings)), args.json, format_client)
    return 0


def cmd_set(args: argparse.Namespace, clock: Clock) -> int:
    settings = with_store(args)
    client = client_or_fail(args.email)
    tariff = None
    if args.tariff is not None:
        plan = settings.tariff(args.tariff)
        if plan is None:
            raise ValueError(f"unknown tariff {args.tariff!r}; known tariffs: "
                             + ", ".join(t.code for t in settings.tariffs))
        tariff = plan.code
    client = store_clients.update_client(client, tariff=tariff, deposit_pays_tariff=args.deposit_pays_tariff,
                                         language=args.lang)
    emit(client_dict(client, store_clients.addresses_of(client)), args.json,
         lambda d: f"client {d['email']} updated")
    return 0


def register(sub: Any) -> None:
    client = noun(sub, "client", "clients")
    p = command(client, "add", cmd_add, "register a client")
    p.add_argument("email")
    p.add_argument("--name", required=True)
    p.add_argument("--tariff", required=True)
    p.add_argument("--manager", required=True, help="the personal manager's staff email")
    p.add_argument("--lang", choices=("ru", "en"), default=None)
    p.add_argument("--alias", action="append", help="another address of the same client")
    p.add_argument("--assistant", help="the dedicated assistant (tariffs with dedicated = true)")
    command(client, "list", cmd_list, "list clients")
    p = command(client, "show", cmd_show, "tariff, quota left, deposit ledger, open invoices")
    p.add_argument("email")
    p = command(client, "set", cmd_set, "change a client's tariff, language or deposit use")
    p.add_argument("email")
    p.add_argument("--deposit-pays-tariff", action=argparse.BooleanOptionalAction, default=None,
                   help="unspent deposit pays the next tariff invoice")
    p.add_argument("--tariff")
    p.add_argument("--lang", choices=("ru", "en"))
    client_data.register(client)
