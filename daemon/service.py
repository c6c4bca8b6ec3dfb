"""The daemon's work units in one process: `oneassist run --once` and the tests' service.

fetch, process, tick the timers, bill, send: each once, in that order. The long-running
daemon does the same work in a process per stage (daemon/master.py, daemon/runners/loops.py).
"""

from __future__ import annotations

import logging
from collections import Counter as Tally

from daemon.adapters.imap import ImapMailbox
from daemon.adapters.memory import release_free_memory
from daemon.adapters.oauth2 import TokenSource
from daemon.adapters.smtp import SmtpSender
from daemon.clock import Clock, SystemClock
from daemon.config import Settings
from daemon.render.notices import Notifier
from daemon.runners.backlog import send_back_notices
from daemon.runners.fetch import account_of, fetch_cycle
from daemon.runners.ingest import Pipeline, worker_id
from daemon.runners.outbox import OutboxWorker, recover_expired, recover_interrupted
from daemon.runners.rate import RateWindow
from daemon.runners.store_health import StoreHealth
from daemon.runners.timers import Scheduler as TimerScheduler
from daemon.runners.tokens import TokenReporter
from store import ops
from store.claims import release_all_leases
from store.db import reset_connection, unavailable_reason
from store.locks import FetchLock, StoreLock

log = logging.getLogger("oneassist.service")


class Service:
    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.notifier = Notifier(settings)
        self.node = worker_id()
        self.pipeline = Pipeline(settings, self.clock, self.notifier, worker=self.node)
        self.timers = TimerScheduler(settings, self.clock, self.notifier)
        self.store_lock = StoreLock(settings.store_url)
        # One fetcher per mailbox on a shared (PostgreSQL) store; None where one daemon owns it.
        self.fetch_lock = (FetchLock(settings.store_url, f"{account_of(settings.imap)}/{settings.imap.folder}",
                                     self.node) if self.store_lock.path is None
                           and settings.store_url.startswith(("postgresql://", "postgres://")) else None)
        # One token per protocol for the service's life: re-run before expiry and after a refusal.
        report = TokenReporter(self.notifier, self.clock)
        self.imap_tokens = (TokenSource("imap", settings.imap.oauth2_token_command, self.clock.now, report)
                            if settings.imap.oauth2_token_command else None)
        self.smtp_tokens = (TokenSource("smtp", settings.smtp.oauth2_token_command or "", self.clock.now, report)
                            if settings.smtp.auth == "xoauth2" else None)
        self.health = StoreHealth(settings.service.data_dir, self.clock.now)
        self.send_window = RateWindow(settings.smtp.max_per_minute)
        # A late task was processed and its client not yet told (daemon/runners/backlog.py).
        self.late_pending = True

    def store_failed(self, where: str, exc: BaseException) -> bool:
        """True if `exc` says the store cannot write: reported (one ERROR a minute), connection reset."""
        reason = unavailable_reason(exc)
        if reason is None:
            return False
        self.health.failed(where, reason)
        reset_connection()
        return True

    # -- work units ---------------------------------------------------------

    def process(self) -> Tally[str]:
        tally = self.pipeline.process_pending()
        if tally.get("new-ticket-late"):
            self.late_pending = True
        if tally:
            release_free_memory()
        return tally

    def after_batch(self) -> None:
        """A fetched batch is spooled: process it, and record that the fetcher is alive (a
        first pass over a full mailbox takes minutes, and `status` must not call it dead)."""
        self.process()
        ops.note_fetch_ok(self.clock.now())

    def tell_late_clients(self) -> None:
        """After a whole fetch cycle: one "we are back" notice per client with late tasks (case 35).

        Not after each FETCH batch: a backlog is fetched in many, and its clients must hear once.
        """
        if self.late_pending:
            # None: mail still waits in the spool; try after the next cycle.
            self.late_pending = send_back_notices(self.notifier, self.clock.now()) is None

    def fetch_once(self) -> int:
        box = ImapMailbox(self.settings.imap, tokens=self.imap_tokens)
        box.connect()
        try:
            fetched = fetch_cycle(box, self.clock.now, self.after_batch)
            ops.note_fetch_ok(self.clock.now())
            return fetched
        finally:
            box.close()

    def tick(self) -> Tally[str]:
        """Fire the timers that are due."""
        try:
            tally = self.timers.tick()
        except Exception as exc:  # noqa: BLE001 - the next tick tries again; the deadlines are in the store
            if not self.store_failed("timers", exc):
                log.exception("scheduler pass failed")
            return Tally()
        return tally

    def billing(self) -> Tally[str]:
        """Renewal invoices, reminders, suspensions: idempotent, so running it often is harmless."""
        from daemon.runners.billing import billing_tick

        try:
            tally = billing_tick(self.settings, self.notifier, self.clock.now())
        except Exception as exc:  # noqa: BLE001 - try again next time; invoices are keyed by period
            if not self.store_failed("billing", exc):
                log.exception("billing pass failed")
            return Tally()
        return tally

    def retention(self) -> Tally[str]:
        """Purge raw mail and tickets past `[retention]`; idempotent, a batch at a time."""
        from daemon.runners.retention import retention_pass

        try:
            return retention_pass(self.settings.retention, self.clock.now())
        except Exception:  # noqa: BLE001 - the next pass tries again; nothing is half-purged
            log.exception("retention pass failed")
            return Tally()

    def flush_once(self, sender: SmtpSender) -> Tally[str]:
        worker = OutboxWorker(sender, self.notifier, self.node, self.settings.smtp.max_attempts,
                              lease_seconds=self.settings.leases.lease_seconds, window=self.send_window)
        tally = worker.flush(self.clock.now())
        if tally:
            release_free_memory()
        return tally

    def start_on_store(self) -> None:
        """Take the store (SQLite: this daemon alone, or an error) and recover what a dead
        daemon left: everything where this one owns the store, expired leases where it shares it."""
        self.store_lock.acquire()
        if self.store_lock.exclusive:
            recover_interrupted()
            release_all_leases()
        else:
            self.recover()

    def recover(self) -> int:
        """Outbox rows of senders whose lease ran out, back in the queue (spool claims expire by themselves)."""
        try:
            return recover_expired()
        except Exception:  # noqa: BLE001 - the next pass tries again
            log.exception("lease recovery failed")
            return 0

    def leave_store(self) -> None:
        if self.fetch_lock is not None:
            self.fetch_lock.release()
        self.store_lock.release()

    def may_fetch(self) -> bool:
        """This daemon fetches: it owns the store, or holds the mailbox's fetch lock."""
        return self.fetch_lock is None or self.fetch_lock.try_acquire()

    def run_once(self) -> dict[str, int]:
        """`oneassist run --once`: fetch what waits, process it, send what is due, return."""
        self.start_on_store()
        try:
            # On a shared store another daemon may hold the fetch lock: then only process and send.
            fetched = self.fetch_once() if self.may_fetch() else 0
            self.process()
            self.tell_late_clients()
            self.tick()
            self.billing()
            sender = SmtpSender(self.settings.smtp, self.smtp_tokens)
            try:
                sent = self.flush_once(sender)
            finally:
                sender.close()
        finally:
            self.leave_store()
        return {"fetched": fetched, **{f"outbox_{k}": v for k, v in sent.items()}}
