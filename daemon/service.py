"""The daemon's main loop: a fetcher thread (IDLE or poll), an outbox thread, the scheduler.

Fetching and sending run on their own threads so one slow side never holds
up the other; `schedule` ticks on the main thread and only kicks work whose
deadlines live in the store. Signals stop the loops cleanly; systemd hears
READY, WATCHDOG and STOPPING.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections import Counter as Tally

import schedule

from daemon.adapters import systemd
from daemon.adapters.imap import ImapMailbox
from daemon.adapters.memory import release_free_memory
from daemon.adapters.oauth2 import TokenSource
from daemon.adapters.smtp import SmtpSender
from daemon.clock import Clock, SystemClock
from daemon.config import Settings
from daemon.core.errors import PermanentError, TransientError
from daemon.core.health import FETCH_HEARTBEAT_SECONDS
from daemon.render.notices import Notifier
from daemon.runners.fetch import account_of, fetch_cycle
from daemon.runners.ingest import Pipeline, worker_id
from daemon.runners.outbox import OutboxWorker, recover_expired, recover_interrupted
from daemon.runners.timers import Scheduler as TimerScheduler
from daemon.runners.tokens import TokenReporter
from store import ops, spool
from store.claims import release_all_leases
from store.locks import FetchLock, StoreLock

log = logging.getLogger("oneassist.service")

RECONNECT_MIN, RECONNECT_MAX = 1.0, 300.0
RETRY_PENDING_SECONDS = 2.0
# How often systemd's STATUS= line is brought up to date from the store.
STATUS_SECONDS = 30
# How often the scheduler purges what `[retention]` no longer keeps.
RETENTION_MINUTES = 60
# On a shared store the fetch lock's connection is checked at least this often (a holder
# that lost it must stop fetching: a standby has taken over).
FETCH_LOCK_CHECK_SECONDS = 30.0
# How often an idle standby looks at the spool for mail the fetcher stored.
STANDBY_POLL_SECONDS = 0.2


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
        self.stop_event = threading.Event()
        self.outbox_wake = threading.Event()
        self.scheduler = schedule.Scheduler()
        # One token per protocol for the daemon's life: re-run before expiry and after a refusal.
        report = TokenReporter(self.notifier, self.clock)
        self.imap_tokens = (TokenSource("imap", settings.imap.oauth2_token_command, self.clock.now, report)
                            if settings.imap.oauth2_token_command else None)
        self.smtp_tokens = (TokenSource("smtp", settings.smtp.oauth2_token_command or "", self.clock.now, report)
                            if settings.smtp.auth == "xoauth2" else None)

    def stop(self, *_: object) -> None:
        self.stop_event.set()
        self.outbox_wake.set()

    # -- work units ---------------------------------------------------------

    def process(self) -> Tally[str]:
        tally = self.pipeline.process_pending()
        if tally:
            self.outbox_wake.set()
            release_free_memory()
        return tally

    def after_batch(self) -> None:
        """A fetched batch is spooled: process it, and record that the fetcher is alive (a
        first pass over a full mailbox takes minutes, and `status` must not call it dead)."""
        self.process()
        ops.note_fetch_ok(self.clock.now())

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
        """Fire the timers that are due; runs on the main thread, apart from fetch and send."""
        try:
            tally = self.timers.tick()
        except Exception:  # noqa: BLE001 - the next tick tries again; the deadlines are in the store
            log.exception("scheduler pass failed")
            return Tally()
        if tally:
            self.outbox_wake.set()
        return tally

    def billing(self) -> Tally[str]:
        """Renewal invoices, reminders, suspensions: idempotent, so running it often is harmless."""
        from daemon.runners.billing import billing_tick

        try:
            tally = billing_tick(self.settings, self.notifier, self.clock.now())
        except Exception:  # noqa: BLE001 - try again next time; invoices are keyed by period
            log.exception("billing pass failed")
            return Tally()
        if tally:
            self.outbox_wake.set()
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
                              lease_seconds=self.settings.leases.lease_seconds)
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

    # -- loops --------------------------------------------------------------

    def wait_for_fetch_lock(self) -> None:
        """Until this daemon may fetch: a standby meanwhile works the spool as one more worker."""
        retry = self.settings.leases.fetch_lock_retry_seconds
        standby_logged = False
        next_try = 0.0
        while not self.stop_event.is_set():
            if time.monotonic() >= next_try:
                if self.may_fetch():
                    return
                next_try = time.monotonic() + retry
                if not standby_logged:
                    log.info("standby: another daemon fetches %s; trying for the fetch lock every %gs",
                             self.settings.imap.folder, retry)
                    standby_logged = True
            try:
                worked = self.process()
            except Exception:  # noqa: BLE001 - the standby must outlive any one bug
                log.exception("standby processing failed")
                worked = None
            # While the spool has work the standby keeps at it; idle, it looks again soon.
            self.stop_event.wait(0 if worked else min(STANDBY_POLL_SECONDS, max(0.0, next_try - time.monotonic())))

    def fetch_loop(self) -> None:
        s = self.settings.imap
        delay = RECONNECT_MIN
        while not self.stop_event.is_set():
            self.wait_for_fetch_lock()
            if self.stop_event.is_set():
                break
            box = ImapMailbox(s, tokens=self.imap_tokens)
            try:
                box.connect()
                delay = RECONNECT_MIN
                while not self.stop_event.is_set():
                    if self.fetch_lock is not None and not self.fetch_lock.alive():
                        break  # another daemon fetches now; back to standby
                    fetch_cycle(box, self.clock.now, self.after_batch)
                    ops.note_fetch_ok(self.clock.now())
                    # Failed mails wait in the spool for their next attempt.
                    self.process()
                    # IDLE is renewed before the server's 29-minute limit (RFC 2177). A mail
                    # left for another attempt must not wait for the next new mail to arrive.
                    # A pass at least every FETCH_HEARTBEAT_SECONDS lets `status` tell a quiet
                    # mailbox from a dead fetcher.
                    wait = s.idle_renew_seconds if s.idle else min(s.idle_renew_seconds, s.poll_seconds)
                    wait = min(wait, FETCH_HEARTBEAT_SECONDS)
                    if spool.pending_ids(1):
                        wait = min(wait, RETRY_PENDING_SECONDS)
                    if self.fetch_lock is not None:
                        wait = min(wait, FETCH_LOCK_CHECK_SECONDS)
                    box.wait(wait, self.stop_event.is_set)
            except (TransientError, PermanentError) as exc:
                log.warning("%s; reconnecting in %.0fs", exc, delay)
                self._note_imap_down(str(exc))
            except Exception as exc:  # noqa: BLE001 - the fetcher must outlive any one bug
                log.exception("fetcher failed; reconnecting in %.0fs", delay)
                self._note_imap_down(type(exc).__name__)
            finally:
                box.close()
            self.stop_event.wait(delay)
            delay = min(RECONNECT_MAX, delay * 2)

    def _note_imap_down(self, error: str) -> None:
        try:
            ops.note_imap_down(error, self.clock.now())
        except Exception:  # noqa: BLE001 - a store that does not answer is the next pass's problem
            log.exception("could not record the IMAP state")

    def outbox_loop(self) -> None:
        sender = SmtpSender(self.settings.smtp, self.smtp_tokens)
        try:
            while not self.stop_event.is_set():
                self.outbox_wake.wait(timeout=1.0)
                self.outbox_wake.clear()
                if self.stop_event.is_set():
                    break
                try:
                    self.flush_once(sender)
                except Exception:  # noqa: BLE001 - keep sending after any one failure
                    log.exception("outbox flush failed; will try again")
                    time.sleep(1.0)
        finally:
            sender.close()

    def report_status(self) -> str | None:
        """systemd's STATUS=: the same one line as `oneassist status`, read from the store."""
        from daemon.runners.health import read_summary

        try:
            _, summary = read_summary(self.settings, self.clock.now())
        except Exception:  # noqa: BLE001 - the status line must never stop the daemon
            log.exception("could not read the desk's status")
            return None
        systemd.notify(f"STATUS={summary.line}")
        return summary.line

    def start_metrics(self):
        """The Prometheus endpoint, when configured; it reads the store at every scrape."""
        from daemon.adapters.metrics import serve

        try:
            return serve(self.settings, self.clock)
        except OSError as exc:
            # A taken port must not keep mail from being answered: say so and go on.
            log.error("metrics: cannot listen on %s:%s: %s", self.settings.metrics.host,
                      self.settings.metrics.port, exc.strerror or exc)
            return None

    def run_forever(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        self.start_on_store()
        try:
            self._serve()
        finally:
            self.leave_store()

    def _serve(self) -> None:
        threads = [threading.Thread(target=self.fetch_loop, name="fetch", daemon=True),
                   threading.Thread(target=self.outbox_loop, name="outbox", daemon=True)]
        for thread in threads:
            thread.start()
        metrics = self.start_metrics()
        # Retries whose backoff has passed are picked up by the outbox thread's own poll;
        # the scheduler keeps systemd's watchdog fed.
        self.scheduler.every(self.settings.sla.tick_seconds).seconds.do(self.tick)
        self.scheduler.every(5).minutes.do(self.billing)
        if not self.store_lock.exclusive:
            # Outbox rows of a daemon that died mid-send, once their lease ran out.
            self.scheduler.every(max(1, self.settings.leases.lease_seconds // 4)).seconds.do(self.recover)
        self.billing()
        self.scheduler.every(RETENTION_MINUTES).minutes.do(self.retention)
        self.retention()
        interval = systemd.watchdog_interval()
        if interval:
            self.scheduler.every(max(1, int(interval))).seconds.do(systemd.notify, "WATCHDOG=1")
        self.scheduler.every(STATUS_SECONDS).seconds.do(self.report_status)
        systemd.notify("READY=1\nSTATUS=starting: fetching and sending")
        self.report_status()
        log.info("daemon started: intake %s on %s, store %s", self.settings.imap.folder,
                 self.settings.imap.host, self.settings.store_url.split("://")[0])
        while not self.stop_event.is_set():
            self.scheduler.run_pending()
            self.stop_event.wait(0.5)
        systemd.notify("STOPPING=1")
        if metrics is not None:
            metrics[0].shutdown()
        log.info("daemon stopping")
        for thread in threads:
            thread.join(timeout=10)
