"""The four runners of `oneassist run`, each the main loop of its own process (issue 11).

After GNU Mailman 3's runners: one job per process, durable queues between them (the
spool, the outbox, the timers table), a master that starts, watches and restarts them
(daemon/master.py). Each loop beats its heartbeat on the link (daemon/runners/link.py)
whenever it has shown progress, promising the next beat within `due` seconds:

- fetch: after each FETCH batch is spooled, after each pass over the intake, and after
  each proof that the IDLE connection lives (DONE, NOOP, IDLE; imap.liveness_seconds).
- ingest: before each mail (it must finish within PER_MAIL_SECONDS) and between polls.
- outbox: after each sent batch and between polls.
- scheduler: after each tick.

Each runner imports only what its stage needs: a process's RSS is its imports plus its work.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections import Counter as Tally

from daemon.clock import Clock
from daemon.config import Settings
from daemon.core.errors import PermanentError, TransientError
from daemon.runners.link import Link

log = logging.getLogger("oneassist.runner")

RECONNECT_MIN, RECONNECT_MAX = 1.0, 300.0
# A mail left for another attempt is retried after this; also the ingest worker's poll.
RETRY_PENDING_SECONDS = 2.0
# One mail: parse, route, apply, render. CPU is capped per stage (limits.stage_cpu_seconds);
# this leaves room for a store that is busy with another writer (busy_timeout 30 s).
PER_MAIL_SECONDS = 120.0
# Entries one claim takes; the leasing claim keeps them from other workers meanwhile.
CLAIM_LIMIT = 50
CLAIM_LEASE_SECONDS = 300
OUTBOX_POLL_SECONDS = 1.0
KICK_EVERY_SECONDS = 0.25
BILLING_EVERY_SECONDS = 300.0


def node_name(role: str) -> str:
    """Who holds a claim: host, process and role, unique per running process."""
    return f"{socket.gethostname()}:{os.getpid()}:{role}"


def fetch(settings: Settings, clock: Clock, link: Link) -> None:
    """IMAP -> spool; kicks the ingest workers after each spooled batch. Processes nothing itself."""
    from daemon.adapters.imap import ImapMailbox
    from daemon.adapters.memory import release_free_memory
    from daemon.runners.fetch import fetch_cycle

    s = settings.imap
    counts: Tally[str] = Tally()
    wait = s.idle_renew_seconds if s.idle else min(s.idle_renew_seconds, s.poll_seconds)
    # The next beat comes after the next proof of the connection or the next pass.
    idle_due = min(wait, s.liveness_seconds) + s.liveness_timeout_seconds
    batch_due = 2 * 60.0  # one FETCH of at most a few MiB and its commit (ImapMailbox timeout 60 s)

    def batch_done() -> None:
        counts["batches"] += 1
        link.kick("ingest")
        release_free_memory()
        link.beat(batch_due, "fetching", counts)

    delay = RECONNECT_MIN
    while not link.stopping:
        box = ImapMailbox(s)
        link.beat(batch_due, "connecting", counts)
        try:
            box.connect()
            delay = RECONNECT_MIN
            while not link.poll():
                counts["fetched"] += fetch_cycle(box, clock.now, batch_done)
                link.beat(idle_due, "idle", counts)
                box.wait(wait, link.poll, proven=lambda: link.beat(idle_due, "idle", counts))
        except (TransientError, PermanentError) as exc:
            log.warning("%s; reconnecting in %.0fs", exc, delay)
        except Exception:  # noqa: BLE001 - the fetcher must outlive any one bug
            log.exception("fetcher failed; reconnecting in %.0fs", delay)
        finally:
            box.close()
        if link.stopping:
            return
        counts["reconnects"] += 1
        # Waiting to reconnect is progress too: restarting the daemon would not bring the server back.
        link.beat(delay + batch_due, "reconnecting", counts)
        link.wait(delay)
        delay = min(RECONNECT_MAX, delay * 2)


def ingest(settings: Settings, clock: Clock, link: Link, index: int) -> None:
    """Spool -> parse -> route -> decide -> apply, one mail at a time, oldest first."""
    from daemon.adapters.memory import release_free_memory
    from daemon.render.notices import Notifier
    from daemon.runners.claim import claim_spool
    from daemon.runners.ingest import Pipeline

    pipeline = Pipeline(settings, clock, Notifier(settings))
    worker = node_name(f"ingest-{index}")
    counts: Tally[str] = Tally()
    while not link.poll():
        link.beat(PER_MAIL_SECONDS, "claiming", counts)
        try:
            ids = claim_spool(worker, CLAIM_LIMIT, CLAIM_LEASE_SECONDS)
        except Exception:  # noqa: BLE001 - a store hiccup: try again after the poll interval
            log.exception("ingest: claiming spool entries failed")
            ids = []
        progressed = False
        kicked = time.monotonic()
        for entry_id in ids:
            if link.poll():
                break  # the rest stay pending for the next start
            link.beat(PER_MAIL_SECONDS, "working", counts)
            outcome = pipeline.process_one(entry_id)
            counts[outcome] += 1
            progressed |= outcome != "retry"
            if time.monotonic() - kicked >= KICK_EVERY_SECONDS:
                # In a backlog the sender hears every so often and sends what queued up in one
                # batch; a kick per mail would make it claim one or two rows at a time.
                link.kick("outbox")
                kicked = time.monotonic()
        if ids:
            link.kick("outbox")
            release_free_memory()
        if not progressed:
            # Nothing waits, or only mail that failed a moment ago: its next try is not at once.
            link.beat(RETRY_PENDING_SECONDS, "idle", counts)
            link.wait(RETRY_PENDING_SECONDS)


def outbox(settings: Settings, clock: Clock, link: Link) -> None:
    """Outbox -> SMTP. On stop it sends what is due once more (the drain), then exits."""
    from daemon.adapters.memory import release_free_memory
    from daemon.adapters.smtp import SmtpSender
    from daemon.render.notices import Notifier
    from daemon.runners.outbox import OutboxWorker, recover_interrupted

    # The one sender of this desk: rows it left 'sending' when it died go out again (RFC 1047).
    recover_interrupted()
    sender = SmtpSender(settings.smtp)
    worker = OutboxWorker(sender, Notifier(settings), node_name("outbox"), settings.smtp.max_attempts)
    counts: Tally[str] = Tally()
    batch_due = 3 * settings.smtp.timeout_seconds  # connect, DATA, the reply after the dot

    def sent(tally: Tally[str]) -> None:
        link.beat(batch_due, "sending", counts + tally)

    try:
        while True:
            link.beat(batch_due, "sending", counts)
            try:
                tally = worker.flush(clock.now(), progress=sent)
                counts.update(tally)
                if tally:
                    release_free_memory()
            except Exception:  # noqa: BLE001 - keep sending after any one failure
                log.exception("outbox flush failed; will try again")
                time.sleep(1.0)
            if link.poll():
                return
            link.beat(OUTBOX_POLL_SECONDS, "idle", counts)
            # Retries whose backoff has passed are found by this poll; new mail by a kick.
            link.wait(OUTBOX_POLL_SECONDS)
    finally:
        sender.close()


def scheduler(settings: Settings, clock: Clock, link: Link) -> None:
    """Timers (reminders, escalations, auto-close) every sla.tick_seconds; billing every 5 minutes."""
    from daemon.render.notices import Notifier
    from daemon.runners.billing import billing_tick
    from daemon.runners.timers import Scheduler

    notifier = Notifier(settings)
    timers = Scheduler(settings, clock, notifier)
    counts: Tally[str] = Tally()
    tick = settings.sla.tick_seconds
    next_billing = 0.0
    while not link.poll():
        link.beat(PER_MAIL_SECONDS, "working", counts)
        tally: Tally[str] = Tally()
        try:
            tally.update(timers.tick())
        except Exception:  # noqa: BLE001 - the next tick tries again; the deadlines are in the store
            log.exception("scheduler pass failed")
        if time.monotonic() >= next_billing:
            next_billing = time.monotonic() + BILLING_EVERY_SECONDS
            try:
                tally.update({f"billing_{k}": v for k, v in billing_tick(settings, notifier, clock.now()).items()})
            except Exception:  # noqa: BLE001 - try again next time; invoices are keyed by period
                log.exception("billing pass failed")
        if tally:
            counts.update(tally)
            link.kick("outbox")
        link.beat(tick, "idle", counts)
        link.wait(tick)
