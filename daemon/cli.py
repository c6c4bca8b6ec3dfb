"""The `oneassist` command: argparse subcommands over the store and the service.

Every list and show command prints a readable table for people or, with
--json, one JSON document for scripts. Errors go to stderr with exit code 2
(bad input or config) or 1 (a server or the store did not answer).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from datetime import date, datetime, time
from typing import Any

from daemon import views
from daemon.config import Settings, load
from daemon.core.errors import ConfigError, OneAssistError, PermanentError, TransientError
from daemon.logsetup import setup_logging
from daemon.output import emit, table


class UsageError(OneAssistError):
    """Bad arguments: say what is wrong and how to write it."""


def settings_from(args: argparse.Namespace) -> Settings:
    return load(args.config)


def with_store(args: argparse.Namespace) -> Settings:
    from store.db import init_db

    settings = settings_from(args)
    setup_logging(settings.log_level if not args.verbose else "DEBUG")
    init_db(settings.store_url)
    return settings


# -- commands ---------------------------------------------------------------

def require_templates() -> None:
    """Refuse to start without every notice template: mail would be taken, then quarantined."""
    from daemon.render.compose import make_environment
    from daemon.render.notice_catalogue import missing_files

    try:
        missing = missing_files(make_environment())
    except ValueError as exc:  # PackageLoader: the package has no templates folder at all
        missing = [str(exc)]
    if missing:
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise OneAssistError(f"notice templates missing from the installed package: "
                             f"{', '.join(missing[:5])}{more}; reinstall it (`oneassist check` names each one)")


def cmd_run(args: argparse.Namespace) -> int:
    from daemon.service import Service

    require_templates()
    settings = with_store(args)
    service = Service(settings)
    if args.once:
        result = service.run_once()
        emit(result, args.json, lambda r: " ".join(f"{k}={v}" for k, v in r.items()) or "nothing to do")
        return 0
    service.run_forever()
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from daemon.checks import run_checks

    settings = settings_from(args)
    setup_logging("WARNING")
    results = run_checks(settings)
    ok = all(r["ok"] for r in results)
    emit({"ok": ok, "checks": results}, args.json,
         lambda d: "\n".join(f"{'ok  ' if r['ok'] else 'FAIL'}  {r['name']}: {r['detail']}" for r in d["checks"]))
    return 0 if ok else 1


def cmd_client_add(args: argparse.Namespace) -> int:
    settings = with_store(args)
    client = views.add_client(settings, email=args.email, name=args.name, tariff=args.tariff,
                              manager=args.manager, language=args.lang, aliases=args.alias or [],
                              assistant=args.assistant)
    emit(client, args.json, lambda c: f"client {c['email']} added (tariff {c['tariff']}, manager {c['manager']})")
    return 0


def cmd_client_list(args: argparse.Namespace) -> int:
    with_store(args)
    rows = views.list_clients()
    emit(rows, args.json, lambda r: table(r, ("email", "name", "tariff", "manager", "language", "active", "tickets")))
    return 0


def when_arg(settings: Settings, text: str | None) -> datetime | None:
    """A WHEN of the tag language (`2026-11-28 18:00`, `+2d`, `завтра`), or a bare date for reports."""
    from parsers.when import WhenError, parse_when

    if not text:
        return None
    now = datetime.now(settings.service.timezone)
    try:
        return parse_when(text, now, settings.service.timezone)
    except WhenError:
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise UsageError(f"{text!r} is not a time: write 2026-11-28, '2026-11-28 18:00' or +2d") from None
        return datetime.combine(day, time(0), settings.service.timezone)


def cmd_ticket_list(args: argparse.Namespace) -> int:
    settings = with_store(args)
    rows = views.list_tickets(status=args.status, client=args.client, limit=args.limit, breached=args.breached,
                              due_before=when_arg(settings, args.due_before))
    emit(rows, args.json, lambda r: table(r, ("key", "status", "client", "subject", "messages", "created_at",
                                              "due_at")))
    return 0


def cmd_ticket_show(args: argparse.Namespace) -> int:
    with_store(args)
    data = views.show_ticket(args.key)
    emit(data, args.json, views.format_ticket)
    return 0


def cmd_ticket_new(args: argparse.Namespace) -> int:
    from daemon.runners.phone import new_phone_task

    settings = with_store(args)
    if args.body_file:
        body = open(args.body_file, encoding="utf-8").read()  # noqa: SIM115
    elif not sys.stdin.isatty():
        body = sys.stdin.read()
    else:
        body = ""
    result = new_phone_task(settings, client=args.client, subject=args.subject, body=body,
                            attachments=args.attach)
    emit(result, args.json, lambda r: f"{r['ticket']} created for {r['client']}; the acknowledgement and "
                                      f"the manager's notice are in the outbox")
    return 0


def cmd_report_sla(args: argparse.Namespace) -> int:
    settings = with_store(args)
    start = when_arg(settings, getattr(args, "from"))
    end = when_arg(settings, args.to)
    report = views.sla_report(start, end, datetime.now(settings.service.timezone))
    emit(report, args.json, views.format_sla_report)
    return 0


def cmd_payment_add(args: argparse.Namespace) -> int:
    from daemon.runners.billing import add_payment

    settings = with_store(args)
    result = add_payment(settings, args.client, args.amount, datetime.now(settings.service.timezone),
                         to_deposit=args.deposit, invoice_number=args.invoice)
    emit(result, args.json, lambda r: f"payment recorded for {r['client']}"
         + (f", invoice {r['invoice']} paid" if r["invoice"] else "") + f"; deposit {r['deposit']}"
         + ("; client reactivated" if r["reactivated"] else ""))
    return 0


def cmd_invoice_issue(args: argparse.Namespace) -> int:
    from daemon.render.notices import Notifier
    from daemon.runners.billing import issue_on_request

    settings = with_store(args)
    result = issue_on_request(settings, Notifier(settings), args.client, args.amount,
                              datetime.now(settings.service.timezone))
    emit(result, args.json, lambda r: f"invoice {r['number']} for {r['amount']} {r['currency']} queued to "
                                      f"{r['client']}")
    return 0


def cmd_invoice_list(args: argparse.Namespace) -> int:
    with_store(args)
    rows = views.list_invoices(client=args.client, status=args.status)
    emit(rows, args.json, lambda r: table(r, ("number", "client", "kind", "amount", "currency", "status",
                                              "issued_at", "due_at", "paid_at")))
    return 0


def cmd_client_show(args: argparse.Namespace) -> int:
    settings = with_store(args)
    data = views.show_client(settings, args.email, datetime.now(settings.service.timezone))
    emit(data, args.json, views.format_client)
    return 0


def cmd_client_set(args: argparse.Namespace) -> int:
    settings = with_store(args)
    data = views.set_client(settings, args.email, deposit_pays_tariff=args.deposit_pays_tariff,
                            tariff=args.tariff, language=args.lang)
    emit(data, args.json, lambda d: f"client {d['email']} updated")
    return 0


def cmd_report_billing(args: argparse.Namespace) -> int:
    settings = with_store(args)
    report = views.billing_report(settings)
    emit(report, args.json, views.format_billing_report)
    return 0


def cmd_outbox_list(args: argparse.Namespace) -> int:
    with_store(args)
    rows = views.list_outbox(status=args.status, limit=args.limit)
    emit(rows, args.json, lambda r: table(r, ("id", "status", "kind", "ticket", "to", "attempts", "resends",
                                              "next_attempt_at", "last_error")))
    return 0


def cmd_quarantine_list(args: argparse.Namespace) -> int:
    with_store(args)
    rows = views.list_quarantine()
    emit(rows, args.json, lambda r: table(r, ("id", "uid", "size", "attempts", "fetched_at", "error")))
    return 0


def cmd_quarantine_show(args: argparse.Namespace) -> int:
    with_store(args)
    data = views.show_quarantine(args.id)
    if args.raw:
        sys.stdout.buffer.write(data.pop("raw_bytes"))
        return 0
    data.pop("raw_bytes")
    emit(data, args.json, lambda d: "\n".join(f"{k}: {v}" for k, v in d.items()))
    return 0


def cmd_quarantine_retry(args: argparse.Namespace) -> int:
    from store import spool

    with_store(args)
    if not spool.retry(args.id):
        raise UsageError(f"spool entry {args.id} is not in quarantine (see: oneassist quarantine list)")
    emit({"id": args.id, "state": "pending"}, args.json,
         lambda d: f"spool entry {d['id']} queued again; the running daemon (or `run --once`) picks it up")
    return 0


def write_private(path: str, write: Callable[[Any], None]) -> None:
    """Write a file only its owner can read (0600), whatever the umask.

    It is written under a temporary name in the same folder (mkstemp: 0600, O_EXCL) and
    renamed over `path`: an existing file, perhaps one another user made readable or holds
    open, is replaced, never written into.
    """
    import tempfile
    from pathlib import Path

    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        with open(fd, "w", encoding="utf-8") as out:
            write(out)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def cmd_export(args: argparse.Namespace) -> int:
    with_store(args)
    document = views.export_all()

    def dump(out: Any) -> None:
        json.dump(document, out, ensure_ascii=False, indent=2, default=str)
        out.write("\n")

    if args.output:
        # The export holds every raw mail: owner-only, like the store.
        write_private(args.output, dump)
    else:
        dump(sys.stdout)
    if args.output:
        print(f"exported {len(document['tickets'])} ticket(s) to {args.output}", file=sys.stderr)
    return 0


def cmd_secret(args: argparse.Namespace) -> int:
    import secrets

    # 32 random bytes (256 bits) as 43 URL-safe characters: fits TOML and shell quoting.
    print(secrets.token_urlsafe(32))
    return 0


def cmd_sandbox(args: argparse.Namespace) -> int:
    from daemon.sandbox import cli as sandbox_cli

    return sandbox_cli.run(args)


# -- parser -----------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="oneassist", description="OneAssist desk: tasks by email.")
    parser.add_argument("--config", help="config file (default: $ONEASSIST_CONFIG)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func: Callable[[argparse.Namespace], int], help_text: str,
            into: Any = sub) -> argparse.ArgumentParser:
        p = into.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")
        p.set_defaults(func=func)
        return p

    p = add("run", cmd_run, "run the daemon (IMAP IDLE, outbox, scheduler)")
    p.add_argument("--once", action="store_true", help="process what waits, send what is due, exit")
    add("check", cmd_check, "validate the config and try IMAP, SMTP and the store")
    p = add("export", cmd_export, "every ticket with its messages as one JSON document")
    p.add_argument("--output", "-o", help="write to this file (mode 0600) instead of stdout")
    add("secret", cmd_secret, "print a fresh random service.reply_token_secret")

    client = sub.add_parser("client", help="clients").add_subparsers(dest="action", required=True)
    p = add("add", cmd_client_add, "register a client", client)
    p.add_argument("email")
    p.add_argument("--name", required=True)
    p.add_argument("--tariff", required=True)
    p.add_argument("--manager", required=True, help="the personal manager's staff email")
    p.add_argument("--lang", choices=("ru", "en"), default=None)
    p.add_argument("--alias", action="append", help="another address of the same client")
    p.add_argument("--assistant", help="the dedicated assistant (tariffs with dedicated = true)")
    add("list", cmd_client_list, "list clients", client)
    p = add("show", cmd_client_show, "tariff, quota left, deposit ledger, open invoices", client)
    p.add_argument("email")
    p = add("set", cmd_client_set, "change a client's tariff, language or deposit use", client)
    p.add_argument("email")
    p.add_argument("--deposit-pays-tariff", action=argparse.BooleanOptionalAction, default=None,
                   help="unspent deposit pays the next tariff invoice")
    p.add_argument("--tariff")
    p.add_argument("--lang", choices=("ru", "en"))

    payment = sub.add_parser("payment", help="payments").add_subparsers(dest="action", required=True)
    p = add("add", cmd_payment_add, "record a payment (against the oldest open invoice, or --deposit)", payment)
    p.add_argument("client")
    p.add_argument("amount", help="e.g. 4900 or '1 500,50'")
    p.add_argument("--deposit", action="store_true", help="put it on the deposit, not against an invoice")
    p.add_argument("--invoice", help="the invoice number it pays (default: the oldest open one)")

    invoice = sub.add_parser("invoice", help="invoices").add_subparsers(dest="action", required=True)
    p = add("issue", cmd_invoice_issue, "email an invoice: the next period's tariff, or --amount top-up", invoice)
    p.add_argument("client")
    p.add_argument("--amount", help="a deposit top-up of this amount instead of the tariff")
    p = add("list", cmd_invoice_list, "list invoices", invoice)
    p.add_argument("--client")
    p.add_argument("--status", choices=("open", "paid"))

    ticket = sub.add_parser("ticket", help="tickets").add_subparsers(dest="action", required=True)
    p = add("list", cmd_ticket_list, "list tickets", ticket)
    p.add_argument("--status")
    p.add_argument("--client")
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--breached", action="store_true", help="only tickets whose first answer was late")
    p.add_argument("--due-before", metavar="WHEN", help="open tickets due before WHEN (e.g. +1d)")
    p = add("show", cmd_ticket_show, "a ticket's timeline", ticket)
    p.add_argument("key")
    p = add("new", cmd_ticket_new, "a task given by phone or messenger, handled as if mailed", ticket)
    p.add_argument("--client", required=True, help="the client's registered address")
    p.add_argument("--subject", required=True)
    p.add_argument("--body-file", help="the task text (default: read stdin if it is not a terminal)")
    p.add_argument("--attach", action="append", default=[], help="a file to attach (repeatable)")

    outbox = sub.add_parser("outbox", help="outgoing mail").add_subparsers(dest="action", required=True)
    p = add("list", cmd_outbox_list, "list outgoing mail", outbox)
    p.add_argument("--status", choices=("pending", "sending", "sent", "dead"))
    p.add_argument("--limit", type=int, default=100)

    report = sub.add_parser("report", help="reports").add_subparsers(dest="action", required=True)
    add("billing", cmd_report_billing, "per tariff: clients, open and overdue invoices, deposits", report)
    p = add("sla", cmd_report_sla, "first-response times, breaches, late tasks, delay notices", report)
    p.add_argument("--from", metavar="DATE", help="from this date (2026-11-01) or WHEN")
    p.add_argument("--to", metavar="DATE", help="up to this date, exclusive")

    quarantine = sub.add_parser("quarantine", help="mail that could not be processed").add_subparsers(
        dest="action", required=True)
    add("list", cmd_quarantine_list, "list quarantined mail", quarantine)
    p = add("show", cmd_quarantine_show, "details of one quarantined mail", quarantine)
    p.add_argument("id", type=int)
    p.add_argument("--raw", action="store_true", help="write the raw mail bytes to stdout")
    p = add("retry", cmd_quarantine_retry, "queue a quarantined mail again", quarantine)
    p.add_argument("id", type=int)

    from daemon.sandbox.cli import add_parser as add_sandbox

    add_sandbox(sub, cmd_sandbox)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "json"):
        args.json = False
    try:
        return args.func(args)
    except (ConfigError, UsageError, views.NotFound, ValueError) as exc:
        print(f"oneassist: error: {exc}", file=sys.stderr)
        return 2
    except (TransientError, PermanentError, OneAssistError) as exc:
        print(f"oneassist: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `oneassist ticket list | head`: not an error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    logging.captureWarnings(True)
    sys.exit(main())
