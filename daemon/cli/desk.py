"""The commands about the desk as a whole: `run`, `check`, `export`, `secret`."""

from __future__ import annotations

import argparse
import base64
import os
import signal
import sys
from typing import Any

from daemon.cli.client import client_dict
from daemon.cli.common import command, settings_from, with_store, write_private
from daemon.cli.ticket import ticket_document
from daemon.clock import Clock
from daemon.core.errors import OneAssistError
from daemon.logsetup import setup_logging
from daemon.output import document, dump_json, emit, line, note


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


def cmd_run(args: argparse.Namespace, clock: Clock) -> int:
    require_templates()
    settings = with_store(args)  # the schema is brought up to date here, before any runner starts
    if args.once:
        from daemon.service import Service

        result = Service(settings, clock).run_once()
        emit(result, args.json, lambda r: " ".join(f"{k}={v}" for k, v in r.items()) or "nothing to do")
        return 0
    # The master needs none of the CLI: it becomes `python -m daemon.master` (same pid for
    # systemd, and ~15 MiB less for the life of the daemon).
    assert settings.source is not None
    sys.stdout.flush()
    sys.stderr.flush()
    # A stop asked for across the exec waits, blocked, until the master's handlers are in
    # place (a blocked signal stays pending through exec), instead of killing it half-started.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    os.execv(sys.executable, [sys.executable, "-P", "-m", "daemon.master", "--config", str(settings.source.resolve()),
                              *(["--verbose"] if args.verbose else [])])


def cmd_check(args: argparse.Namespace, clock: Clock) -> int:
    from daemon.checks import run_checks

    settings = settings_from(args)
    setup_logging("WARNING")
    results = run_checks(settings)
    ok = all(r["ok"] for r in results)
    emit({"ok": ok, "checks": results}, args.json,
         lambda d: "\n".join(f"{'ok  ' if r['ok'] else 'FAIL'}  {r['name']}: {r['detail']}" for r in d["checks"]))
    return 0 if ok else 1


def export_all(clock: Clock) -> dict[str, Any]:
    """Every client and ticket with its messages; raw mail is base64 so the document is exact."""
    from store import clients, spool, tickets_read

    tickets = []
    for ticket in tickets_read.all_tickets():
        timeline = tickets_read.timeline_of(ticket)
        doc = ticket_document(timeline)
        for message, row in zip(doc["messages"], timeline.messages, strict=True):
            message["raw_base64"] = base64.b64encode(spool.raw_of(row.spool_id)).decode() if row.spool_id else None
        tickets.append(doc)
    addresses = clients.addresses_by_client()
    return {
        "format": "oneassist-export/1",
        "exported_at": clock.now().isoformat(),
        "clients": [client_dict(c, addresses.get(c.id, [])) for c in clients.all_clients()],
        "tickets": tickets,
    }


def cmd_export(args: argparse.Namespace, clock: Clock) -> int:
    with_store(args)
    exported = export_all(clock)
    if args.output:
        # The export holds every raw mail: owner-only, like the store.
        write_private(args.output, lambda out: dump_json(exported, out))
        note(f"exported {len(exported['tickets'])} ticket(s) to {args.output}")
    else:
        document(exported)
    return 0


def cmd_secret(args: argparse.Namespace, clock: Clock) -> int:
    import secrets

    # 32 random bytes (256 bits) as 43 URL-safe characters: fits TOML and shell quoting.
    line(secrets.token_urlsafe(32))
    return 0


def register(sub: Any) -> None:
    p = command(sub, "run", cmd_run, "run the daemon (IMAP IDLE, outbox, scheduler)")
    p.add_argument("--once", action="store_true", help="process what waits, send what is due, exit")
    command(sub, "check", cmd_check, "validate the config and try IMAP, SMTP and the store")
    p = command(sub, "export", cmd_export, "every ticket with its messages as one JSON document")
    p.add_argument("--output", "-o", help="write to this file (mode 0600) instead of stdout")
    command(sub, "secret", cmd_secret, "print a fresh random service.reply_token_secret")
