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
from collections.abc import Callable

from daemon.clock import Clock
from daemon.config import Settings
from daemon.core.errors import PermanentError, TransientError
from daemon.runners.link import Link
from daemon.runners.loop_support import (
    hold_fetch_lock,
    metrics_server,
    note_imap_down,
    probe_store,
    retention_safe,
    runner_health,
    store_failed,
    token_source,
)

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
RETENTION_EVERY_SECONDS = 3600.0
# How soon a runner tries a store that could not write again: short, so it resumes by itself.
STORE_RETRY_SECONDS = 5.0
# A fetch-lock holder checks its lock's connection at least this often (a holder that lost
# it must stop fetching: a standby has taken over); a standby tries for it this often.
LOCK_CHECK_SECONDS = 30.0


def node_name(role: str) -> str:
    """Who holds a claim: host, process and role, unique per running process."""
    return f"{socket.gethostname()}:{os.getpid()}:{role}"


def fetch(settings: Settings, clock: Clock, link: Link) -> None:
    """IMAP -> spool; kicks the ingest workers after each spooled batch. Processes nothing itself.

    On a shared (PostgreSQL) store one fetcher per mailbox works at a time: this one holds
    the fetch lock (store/locks.py) or waits as a standby, trying every few seconds.
    """
    from daemon.adapters.imap import ImapMailbox
    from daemon.adapters.memory import release_free_memory
    from daemon.core.health import FETCH_HEARTBEAT_SECONDS
    from daemon.runners.fetch import account_of, fetch_cycle
    from store import ops
    from store.locks import FetchLock

    s = settings.imap
    counts: Tally[str] = Tally()
    health = runner_health(settings, clock)
    tokens = token_source(settings, clock, "imap")
    lock = (FetchLock(settings.store_url, f"{account_of(s)}/{s.folder}", node_name("fetch"))
            if settings.store_url.startswith(("postgresql://", "postgres://")) else None)
    # A pass at least every FETCH_HEARTBEAT_SECONDS lets `status` tell a quiet mailbox from a
    # dead fetcher; a lock holder checks its lock's connection at least every LOCK_CHECK_SECONDS.
    wait = s.idle_renew_seconds if s.idle else min(s.idle_renew_seconds, s.poll_seconds)
    wait = min(wait, FETCH_HEARTBEAT_SECONDS, LOCK_CHECK_SECONDS if lock is not None else wait)
    # The next beat comes after the next proof of the connection or the next pass.
    idle_due = min(wait, s.liveness_seconds) + s.liveness_timeout_seconds
    batch_due = 2 * 60.0  # one FETCH of at most a few MiB and its commit (ImapMailbox timeout 60 s)

    def batch_done() -> None:
        counts["batches"] += 1
        link.kick("ingest")
        release_free_memory()
        # Recorded in the store: a first pass over a full mailbox takes minutes (`status`).
        ops.note_fetch_ok(clock.now())
        link.beat(batch_due, "fetching", counts)

    delay = RECONNECT_MIN
    while not link.stopping:
        if lock is not None and not hold_fetch_lock(lock, settings, link, counts):
            return
        box = ImapMailbox(s, tokens=tokens)
        link.beat(batch_due, "connecting", counts)
        store_down = False
        try:
            box.connect()
            while not link.poll():
                if lock is not None and not lock.alive():
                    break  # another daemon fetches now; back to standby
                counts["fetched"] += fetch_cycle(box, clock.now, batch_done)
                # Reset only after a whole cycle: a server that logs us in and then cuts
                # every FETCH must see the backoff grow (docs/reliability.md case 3).
                delay = RECONNECT_MIN
                ops.note_fetch_ok(clock.now())
                if health.failing:
                    probe_store(health, "fetch")  # a cycle with no mail wrote nothing: prove it
                link.beat(idle_due, "idle", counts)
                box.wait(wait, link.poll, proven=lambda: link.beat(idle_due, "idle", counts))
        except (TransientError, PermanentError) as exc:
            log.warning("%s; reconnecting in %.0fs", exc, delay)
            note_imap_down(str(exc), clock)
        except Exception as exc:  # noqa: BLE001 - the fetcher must outlive any one bug
            # The store cannot write: the mail stays in the intake folder (nothing is moved
            # before it is spooled); try again soon, not after a growing backoff.
            store_down = store_failed(health, "fetch", exc)
            if not store_down:
                log.exception("fetcher failed; reconnecting in %.0fs", delay)
                note_imap_down(type(exc).__name__, clock)
        finally:
            box.close()
        if link.stopping:
            return
        if store_down:
            link.beat(STORE_RETRY_SECONDS + batch_due, "store unavailable", counts)
            link.wait(STORE_RETRY_SECONDS)
            continue
        counts["reconnects"] += 1
        # Waiting to reconnect is progress too: restarting the daemon would not bring the server back.
        link.beat(delay + batch_due, "reconnecting", counts)
        link.wait(delay)
        delay = min(RECONNECT_MAX, delay * 2)


def ingest(settings: Settings, clock: Clock, link: Link, index: int) -> None:
    """Spool -> parse -> route -> decide -> apply, one mail at a time, oldest first."""
    from daemon.adapters.memory import release_free_memory
    from daemon.render.notices import Notifier
    from daemon.runners.backlog import send_back_notices
    from daemon.runners.ingest import RETRY_DELAY_SECONDS, Pipeline
    from store.claims import claim_spool, release_spool, renew_spool

    worker = node_name(f"ingest-{index}")
    notifier = Notifier(settings)
    pipeline = Pipeline(settings, clock, notifier, worker=worker)
    lease = settings.leases.lease_seconds
    health = runner_health(settings, clock)
    counts: Tally[str] = Tally()
    # A late task was processed and its client not yet told (daemon/runners/backlog.py).
    late_pending = index == 1
    # Entries this worker holds but could not process because the store stopped writing:
    # still leased to it, so taken up again first, not left waiting for the lease to run out.
    carried: list[int] = []
    while not link.poll():
        link.beat(PER_MAIL_SECONDS, "claiming", counts)
        try:
            if carried:
                renew_spool(worker, carried, lease)  # also proves the store writes again
                ids, carried = carried, []
            else:
                # Leased per client lane (store/claims.py): other workers take other clients' mail.
                ids = claim_spool(worker, CLAIM_LIMIT, lease)
        except Exception as exc:  # noqa: BLE001 - a store hiccup: try again after the poll interval
            if not store_failed(health, "ingest", exc):  # that one is said once a minute
                log.exception("ingest: claiming spool entries failed")
            ids = []
        progressed = False
        kicked = renewed = time.monotonic()
        for done, entry_id in enumerate(ids):
            if link.poll():
                # The rest go back to the spool at once, for the next start or another worker.
                release_spool(worker, ids[done:])
                break
            if time.monotonic() - renewed > lease / 3:
                renew_spool(worker, ids[done:], lease)
                renewed = time.monotonic()
            link.beat(PER_MAIL_SECONDS, "working", counts)
            try:
                outcome = pipeline.process_one(entry_id)
            except Exception as exc:  # the store, not the mail (Pipeline re-raises only those)
                if not store_failed(health, "ingest", exc):
                    raise
                link.beat(STORE_RETRY_SECONDS + PER_MAIL_SECONDS, "store unavailable", counts)
                link.wait(STORE_RETRY_SECONDS)
                carried = ids[done:]
                break
            if health.failing:
                health.ok("ingest")
            counts[outcome] += 1
            late_pending |= outcome == "new-ticket-late"
            progressed |= outcome != "retry"
            if outcome == "retry":
                # Tried again after a pause; the client's later mail waits behind it.
                release_spool(worker, [entry_id], delay_seconds=RETRY_DELAY_SECONDS)
            if time.monotonic() - kicked >= KICK_EVERY_SECONDS:
                # In a backlog the sender hears every so often and sends what queued up in one
                # batch; a kick per mail would make it claim one or two rows at a time.
                link.kick("outbox")
                kicked = time.monotonic()
        if ids:
            link.kick("outbox")
            release_free_memory()
        if late_pending and index == 1 and not ids:
            # The backlog is through: one "we are back" notice per client with late tasks
            # (case 35); None while mail still waits. The first worker alone tells them.
            try:
                late_pending = send_back_notices(notifier, clock.now()) is None
                link.kick("outbox")
            except Exception as exc:  # noqa: BLE001 - told at the next idle pass
                if not store_failed(health, "ingest", exc):
                    log.exception("ingest: telling late clients failed")
        if not progressed:
            # Nothing waits, or only mail that failed a moment ago: its next try is not at once.
            link.beat(RETRY_PENDING_SECONDS, "idle", counts)
            link.wait(RETRY_PENDING_SECONDS)


def outbox(settings: Settings, clock: Clock, link: Link) -> None:
    """Outbox -> SMTP. On stop it sends what is due once more (the drain), then exits."""
    from daemon.adapters.memory import release_free_memory
    from daemon.adapters.smtp import SmtpSender
    from daemon.render.notices import Notifier
    from daemon.runners.outbox import OutboxWorker, recover_expired, recover_interrupted
    from daemon.runners.rate import RateWindow

    shared = settings.store_url.startswith(("postgresql://", "postgres://"))
    # The one sender of this desk (the master holds the SQLite store's lock): rows it left
    # 'sending' when it died go out again (RFC 1047), once the store writes. On a shared store
    # only expired leases do.
    interrupted = not shared

    sender = SmtpSender(settings.smtp, token_source(settings, clock, "smtp"))
    worker = OutboxWorker(sender, Notifier(settings), node_name("outbox"), settings.smtp.max_attempts,
                          lease_seconds=settings.leases.lease_seconds,
                          window=RateWindow(settings.smtp.max_per_minute))
    health = runner_health(settings, clock)
    # A send's outcome is held while the store cannot write, until it writes or we stop.
    worker.stop = lambda: link.stopping
    worker.on_store_failure = lambda where, exc: store_failed(health, where, exc)
    next_recovery = 0.0
    counts: Tally[str] = Tally()
    batch_due = 3 * settings.smtp.timeout_seconds  # connect, DATA, the reply after the dot

    def sent(tally: Tally[str]) -> None:
        link.beat(batch_due, "sending", counts + tally)

    try:
        while True:
            link.beat(batch_due, "sending", counts)
            if interrupted:
                try:
                    recover_interrupted()
                    interrupted = False
                except Exception as exc:  # noqa: BLE001 - said once a minute; tried again in a moment
                    if not store_failed(health, "outbox", exc):
                        raise
                    link.beat(STORE_RETRY_SECONDS + batch_due, "store unavailable", counts)
                    link.wait(STORE_RETRY_SECONDS)
                    continue
            if shared and time.monotonic() >= next_recovery:
                # Rows of a sender on any host that died mid-send, once their lease ran out.
                next_recovery = time.monotonic() + max(1.0, settings.leases.lease_seconds / 4)
                try:
                    recover_expired()
                except Exception:  # noqa: BLE001 - the next pass tries again
                    log.exception("outbox: lease recovery failed")
            try:
                tally = worker.flush(clock.now(), progress=sent)
                counts.update(tally)
                if tally:
                    release_free_memory()
                    if health.failing:
                        health.ok("outbox")  # it recorded what it sent: a write
            except Exception as exc:  # noqa: BLE001 - keep sending after any one failure
                if store_failed(health, "outbox", exc):
                    link.beat(STORE_RETRY_SECONDS + batch_due, "store unavailable", counts)
                    link.wait(STORE_RETRY_SECONDS)
                    continue
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
    """Timers (reminders, escalations, auto-close) every sla.tick_seconds, billing every 5
    minutes, retention hourly: jobs of a `schedule.Scheduler`; the deadlines live in the store."""
    import schedule

    from daemon.render.notices import Notifier
    from daemon.runners.billing import billing_tick
    from daemon.runners.timers import Scheduler

    notifier = Notifier(settings)
    timers = Scheduler(settings, clock, notifier)
    counts: Tally[str] = Tally()
    tick = settings.sla.tick_seconds

    health = runner_health(settings, clock)

    def job(name: str, work: Callable[[], Tally[str]]) -> Callable[[], None]:
        def run() -> None:
            try:
                tally = work()
            except Exception as exc:  # noqa: BLE001 - the next run tries again; what is due is in the store
                if not store_failed(health, name, exc):
                    log.exception("%s pass failed", name)
                return
            if tally:
                counts.update({f"{name}_{k}" if name != "timers" else k: v for k, v in tally.items()})
                link.kick("outbox")
        return run

    jobs = schedule.Scheduler()
    jobs.every(tick).seconds.do(job("timers", timers.tick))
    jobs.every(BILLING_EVERY_SECONDS).seconds.do(job("billing", lambda: billing_tick(settings, notifier, clock.now())))
    jobs.every(RETENTION_EVERY_SECONDS).seconds.do(job("retention", lambda: retention_safe(settings, clock)))
    metrics = metrics_server(settings, clock)
    try:
        jobs.run_all()  # each once at start: a restarted scheduler catches up at once
        while not link.poll():
            link.beat(PER_MAIL_SECONDS, "working", counts)
            jobs.run_pending()
            idle = max(0.05, min(float(tick), jobs.idle_seconds or tick))
            link.beat(idle + tick, "idle", counts)
            link.wait(idle)
    finally:
        if metrics is not None:
            metrics[0].shutdown()
