"""`oneassist quarantine list|show|retry`: mail that could not be processed, kept byte for byte."""

from __future__ import annotations

import argparse
from typing import Any

from daemon.cli.common import NotFound, UsageError, command, iso, noun, with_store
from daemon.clock import Clock
from daemon.output import emit, raw, table
from store import spool
from store.listings import quarantined_entry

COLUMNS = ("id", "uid", "size", "attempts", "fetched_at", "error")


def cmd_list(args: argparse.Namespace, clock: Clock) -> int:
    with_store(args)
    rows = [{"id": e.id, "uid": e.uid, "mailbox": e.mailbox, "size": e.size, "attempts": e.attempts,
             "fetched_at": iso(e.fetched_at), "error": e.error[:120], "sha256": e.sha256}
            for e in spool.quarantined()]
    emit(rows, args.json, lambda r: table(r, COLUMNS))
    return 0


def cmd_show(args: argparse.Namespace, clock: Clock) -> int:
    with_store(args)
    entry = quarantined_entry(args.id)
    if entry is None:
        raise NotFound(f"spool entry {args.id} is not in quarantine (see: oneassist quarantine list)")
    if args.raw:
        raw(spool.raw_of(entry.id))
        return 0
    data = {"id": entry.id, "mailbox": entry.mailbox, "uidvalidity": entry.uidvalidity, "uid": entry.uid,
            "size": entry.size, "sha256": entry.sha256, "attempts": entry.attempts,
            "fetched_at": iso(entry.fetched_at), "error": entry.error}
    emit(data, args.json, lambda d: "\n".join(f"{k}: {v}" for k, v in d.items()))
    return 0


def cmd_retry(args: argparse.Namespace, clock: Clock) -> int:
    with_store(args)
    if not spool.retry(args.id):
        raise UsageError(f"spool entry {args.id} is not in quarantine (see: oneassist quarantine list)")
    emit({"id": args.id, "state": "pending"}, args.json,
         lambda d: f"spool entry {d['id']} queued again; the running daemon (or `run --once`) picks it up")
    return 0


def register(sub: Any) -> None:
    quarantine = noun(sub, "quarantine", "mail that could not be processed")
    command(quarantine, "list", cmd_list, "list quarantined mail")
    p = command(quarantine, "show", cmd_show, "details of one quarantined mail")
    p.add_argument("id", type=int)
    p.add_argument("--raw", action="store_true", help="write the raw mail bytes to stdout")
    p = command(quarantine, "retry", cmd_retry, "queue a quarantined mail again")
    p.add_argument("id", type=int)
