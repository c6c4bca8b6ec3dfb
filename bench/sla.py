"""bench/sla: one scheduler pass over a store with 100,000 open tickets.

Fills a fresh SQLite store with N open tickets of which a small share have a
timer due now, then times Scheduler.tick() (find what is due, decide, enqueue
the mails) and, as the baseline of the same run on the same file, a bare
indexed SELECT of the due timers through sqlite3 and a full scan of the timer
table. Target: the pass under 100 ms.

    python -m bench.sla [--tickets 100000] [--due 20] [--json]
"""

from __future__ import annotations

import argparse
import json
import secrets
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from daemon.clock import FrozenClock
from daemon.config import parse_settings
from daemon.render.notices import Notifier
from daemon.runners.timers import Scheduler
from store.db import close_db, database, init_db
from store.models import Client, ClientAddress, Ticket, Timer


def settings_for(path: Path):
    return parse_settings({
        "imap": {"host": "imap.test", "username": "support@desk.test", "password": "x"},
        "smtp": {"host": "smtp.test", "from_address": "support@desk.test"},
        "service": {"reply_token_secret": secrets.token_urlsafe(32)},
        "store": {"url": f"sqlite:///{path}"},
        "staff": [{"email": "anna@desk.test", "name": "Анна", "role": "manager"},
                  {"email": "ops@desk.test", "name": "Ops", "role": "admin"}],
        "tariffs": [{"code": "basis", "name": "Basis", "price": "4900", "quota": 3}],
    }, path.parent)


def fill(tickets: int, due: int, now: datetime) -> None:
    """Open tickets, each with its two due-time timers; `due` of them are due now."""
    client = Client.create(email="c@x.test", name="Клиент", tariff="basis", manager_email="anna@desk.test",
                           created_at=now)
    ClientAddress.create(client=client, email="c@x.test")
    step = max(1, tickets // max(1, due))
    with database.atomic():
        rows, timers = [], []
        for n in range(1, tickets + 1):
            due_at = now - timedelta(minutes=1) if n % step == 0 and n // step <= due else now + timedelta(days=2)
            rows.append({"number": n, "key": f"OA-{n}", "client": client.id, "subject": f"Задача {n}",
                         "subject_norm": f"задача {n}", "status": "accepted", "manager_email": "anna@desk.test",
                         "created_at": now, "updated_at": now, "due_at": due_at})
            if len(rows) == 1000:
                Ticket.insert_many(rows).execute()
                rows = []
        if rows:
            Ticket.insert_many(rows).execute()
        naive_now = now.replace(tzinfo=None)
        for ticket_id, due_at in Ticket.select(Ticket.id, Ticket.due_at).tuples():
            timers.append({"ticket": ticket_id, "kind": "due-warning", "fire_at": due_at - timedelta(minutes=60),
                           "created_at": naive_now})
            timers.append({"ticket": ticket_id, "kind": "due-client-notice",
                           "fire_at": due_at - timedelta(minutes=15), "created_at": naive_now})
            if len(timers) >= 1000:
                Timer.insert_many(timers).execute()
                timers = []
        if timers:
            Timer.insert_many(timers).execute()


def timed(fn, repeat: int = 5) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=10, help="tickets with a timer due in the timed pass")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sla.db"
        settings = settings_for(path)
        init_db(settings.store_url)
        print(f"filling {args.tickets} open tickets ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        fill(args.tickets, args.due, now)
        print(f"filled in {time.perf_counter() - started:.1f}s", file=sys.stderr, flush=True)
        timer_rows = Timer.select().count()
        raw = sqlite3.connect(path)
        cutoff = now.replace(tzinfo=None).isoformat(sep=" ")
        indexed = timed(lambda: raw.execute("SELECT id FROM timer WHERE fired_at IS NULL AND fire_at <= ? "
                                            "ORDER BY fire_at LIMIT 500", (cutoff,)).fetchall())
        scan = timed(lambda: raw.execute("SELECT COUNT(*) FROM timer WHERE kind || '' = 'x'").fetchall())
        scheduler = Scheduler(settings, FrozenClock(now), Notifier(settings))
        started = time.perf_counter()
        tally = scheduler.tick()
        first_pass = time.perf_counter() - started
        idle_pass = timed(lambda: scheduler.tick())
        raw.close()
        close_db()
    result = {
        "tickets": args.tickets, "timers": timer_rows, "fired": sum(tally.values()),
        "pass_with_due_ms": round(first_pass * 1000, 1), "pass_idle_ms": round(idle_pass * 1000, 2),
        "baseline_indexed_select_ms": round(indexed * 1000, 2), "baseline_full_scan_ms": round(scan * 1000, 1),
        "target_ms": 100, "pass_vs_target": round(first_pass * 1000 / 100, 3),
        "ms_per_fired_timer": round(first_pass * 1000 / max(1, sum(tally.values())), 2),
        "idle_pass_vs_indexed_select": round(idle_pass / indexed, 1) if indexed else None,
        "pass_vs_full_scan": round(first_pass / scan, 2) if scan else None,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{args.tickets} open tickets, {timer_rows} timers; fired {result['fired']} in one pass")
        print(f"  pass with {result['fired']} due: {result['pass_with_due_ms']} ms "
              f"({result['pass_vs_target']:.2f}x the 100 ms target, {result['pass_vs_full_scan']}x one full scan)")
        print(f"  {result['ms_per_fired_timer']} ms per fired timer (decide, render, enqueue, replan)")
        print(f"  idle pass: {result['pass_idle_ms']} ms; bare indexed SELECT {result['baseline_indexed_select_ms']} ms; "
              f"full scan {result['baseline_full_scan_ms']} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
