"""`oneassist client add|list|show|set`, and client registration (also used by the sandbox)."""

from __future__ import annotations

import argparse
from datetime import date, datetime, timedelta
from typing import Any

from daemon.cli import client_data
from daemon.cli.common import UsageError, command, iso, local_now, noun, with_store
from daemon.cli.invoice import invoice_row
from daemon.clock import Clock
from daemon.config import Settings
from daemon.core.subscription import NO_PERIOD, first_paid_until
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
        "subscription_start": _day(client.subscription_start), "paid_until": _day(client.paid_until),
    }


def _day(value: date | str | None) -> str | None:
    return value.isoformat() if isinstance(value, date) else value


def add_client(settings: Settings, *, email: str, name: str, tariff: str, manager: str,
               language: str | None, aliases: list[str], now: datetime,
               assistant: str | None = None, start: date | None = None,
               paid_until: date | None = None) -> dict[str, Any]:
    """Check a new client against the settings (tariff, manager, assistant), register it at `now`.

    The subscription starts on `start` (today, local, by default) and is paid for its first
    period unless `paid_until` says otherwise; a tariff without periods has no paid-until.
    """
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
    start = start or now.astimezone(settings.service.timezone).date()
    if plan.billing_period == NO_PERIOD:
        paid_until = None
    elif paid_until is None:
        paid_until = first_paid_until(start)
    elif paid_until < start - timedelta(days=1):
        raise ValueError(f"--paid-until {paid_until} is before --start {start}: the subscription cannot be "
                         "paid up to a day before it starts")
    client = store_clients.register_client(
        email=address, name=name.strip(), tariff=plan.code, manager_email=staff.email,
        language=language or settings.service.language, assistant_email=assistant_email,
        addresses=all_addresses, now=now, subscription_start=start, paid_until=paid_until)
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
    data["bounces"] = _bounces(data["addresses"], settings.limits.hard_bounce_limit)
    return data


def _bounces(addresses: list[str], limit: int) -> list[dict[str, Any]]:
    """Addresses that bounced our mail: hard bounces, the last one, and the undeliverable mark."""
    from store.bounces import bounces_of

    rows = []
    for row in bounces_of(addresses):
        last = row["last"]
        rows.append({"address": row["address"], "hard_bounces": row["hard_bounces"], "limit": limit,
                     "undeliverable_since": iso(row["undeliverable_since"]),
                     "last": None if last is None else {**last, "at": iso(last["at"])}})
    return rows


def format_client(d: dict[str, Any]) -> str:
    quota = d.get("quota") or {}
    lines = [f"{d['name']} <{d['email']}>  tariff {d['tariff']}  manager {d['manager']}"
             + ("  SUSPENDED" if d.get("suspended_at") else ""),
             f"quota this {quota.get('period', '-')}: {quota.get('used', '-')} used, "
             f"{'unlimited' if quota.get('quota') is None else quota.get('left')} left",
             f"subscription since {d['subscription_start'] or '-'}, paid until {d['paid_until'] or '- (no period)'}",
             f"deposit: {d['deposit']}" + ("  (pays the next tariff invoice)" if d["deposit_pays_tariff"] else ""),
             "", "ledger:"]
    lines += [f"  {e['at']}  {e['kind']:<8} {e['amount']:>12}  {e['note']}" for e in d["ledger"]] or ["  (empty)"]
    lines += ["", "open invoices:"]
    lines += [f"  {i['number']}  {i['amount']} {i['currency']}  due {i['due_at']}" for i in d["open_invoices"]] \
        or ["  (none)"]
    for b in d.get("bounces", []):
        mark = f"UNDELIVERABLE since {b['undeliverable_since']}" if b["undeliverable_since"] else "deliverable"
        lines += ["", f"bounces of {b['address']}: {b['hard_bounces']} hard (marked at {b['limit']}), {mark}"]
        if b["last"]:
            last = b["last"]
            lines.append(f"  last: {last['at']}  {last['kind']} {last['ticket'] or '-'}  "
                         f"{last['status'] or '-'} {last['diagnostic']}".rstrip())
    return "\n".join(lines)


# -- commands ---------------------------------------------------------------

def cmd_add(args: argparse.Namespace, clock: Clock) -> int:
    settings = with_store(args)
    client = add_client(settings, email=args.email, name=args.name, tariff=args.tariff,
                        manager=args.manager, language=args.lang, aliases=args.alias or [],
                        assistant=args.assistant, now=clock.now(), start=_date_arg("--start", args.start),
                        paid_until=_date_arg("--paid-until", args.paid_until))
    emit(client, args.json, lambda c: f"client {c['email']} added (tariff {c['tariff']}, manager {c['manager']}, "
                                      f"paid until {c['paid_until'] or '- (no period)'})")
    return 0


def _date_arg(name: str, text: str | None) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{name} {text!r} is not a date: write it as 2026-03-15") from None


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
        if plan.billing_period != NO_PERIOD and client.paid_until is None:
            # From a one-off tariff to one with periods: the subscription starts today and
            # nothing of it is paid yet, so its first invoice goes out on the next billing pass.
            today = local_now(clock, settings).date()
            store_clients.start_subscription(client, today, today - timedelta(days=1))
    client = store_clients.update_client(client, tariff=tariff, deposit_pays_tariff=args.deposit_pays_tariff,
                                         language=args.lang)
    if args.deliverable:
        # Automatic mail (acks, reminders) goes to the addresses again; the bounce history stays.
        store_clients.clear_undeliverable(client)
    data = client_dict(client, store_clients.addresses_of(client))
    if args.manager is not None:
        from daemon.render.notices import Notifier
        from daemon.runners.people import move_client

        moved = move_client(settings, Notifier(settings), client, args.manager, clock.now())
        data.update(manager=moved["manager"], previous_manager=moved["previous"], moved_tickets=moved["moved"])
    emit(data, args.json, _describe_set)
    return 0


def _describe_set(d: dict[str, Any]) -> str:
    if d.get("previous_manager") and d["previous_manager"] != d["manager"]:
        tickets = ", ".join(d["moved_tickets"]) or "no open tickets"
        return (f"client {d['email']} updated; manager {d['previous_manager']} -> {d['manager']} "
                f"({tickets}); the summary mail to the new manager is in the outbox")
    return f"client {d['email']} updated"


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
    p.add_argument("--start", help="the day the subscription starts (default: today): its periods run from it")
    p.add_argument("--paid-until", help="the last day paid for (default: the end of the first period)")
    command(client, "list", cmd_list, "list clients")
    p = command(client, "show", cmd_show, "tariff, quota left, deposit ledger, open invoices")
    p.add_argument("email")
    p = command(client, "set", cmd_set, "change a client's tariff, language, deposit use or manager")
    p.add_argument("email")
    p.add_argument("--deposit-pays-tariff", action=argparse.BooleanOptionalAction, default=None,
                   help="unspent deposit pays the next tariff invoice")
    p.add_argument("--tariff")
    p.add_argument("--deliverable", action="store_true",
                   help="lift the undeliverable mark that hard bounces put on the client's addresses")
    p.add_argument("--lang", choices=("ru", "en"))
    p.add_argument("--manager", help="move the client and their tickets to this manager (who gets one summary mail)")
    client_data.register(client)
