"""The daemon's main loop: a fetcher thread (IDLE or poll), an outbox thread, the scheduler.

Fetching and sending run on their own threads so one slow side never holds
up the other; `schedule` ticks on the main thread and only kicks work whose
deadlines live in the store. Signals stop the loops cleanly; systemd hears
READY, WATCHDOG and STOPPING.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
import time
from collections import Counter as Tally

import schedule

from daemon.adapters import systemd
from daemon.adapters.imap import ImapMailbox
from daemon.adapters.memory import release_free_memory
from daemon.adapters.smtp import SmtpSender
from daemon.clock import Clock, SystemClock
from daemon.config import Settings
from daemon.core.errors import PermanentError, TransientError
from daemon.render.notices import Notifier
from daemon.runners.backlog import send_back_notices
from daemon.runners.fetch import fetch_cycle
from daemon.runners.ingest import Pipeline
from daemon.runners.outbox import OutboxWorker, recover_interrupted
from daemon.runners.rate import RateWindow
from daemon.runners.store_health import RETRY_SECONDS, StoreHealth
from daemon.runners.timers import Scheduler as TimerScheduler
from store import spool
from store.db import probe_write, reset_connection, unavailable_reason

log = logging.getLogger("oneassist.service")

RECONNECT_MIN, RECONNECT_MAX = 1.0, 300.0
RETRY_PENDING_SECONDS = 2.0


class Service:
    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.notifier = Notifier(settings)
        self.pipeline = Pipeline(settings, self.clock, self.notifier)
        self.timers = TimerScheduler(settings, self.clock, self.notifier)
        self.node = f"{socket.gethostname()}:{id(self):x}"
        self.stop_event = threading.Event()
        self.outbox_wake = threading.Event()
        self.scheduler = schedule.Scheduler()
        self.health = StoreHealth(settings.service.data_dir, self.clock.now)
        self.send_window = RateWindow(settings.smtp.max_per_minute)
        # True in outbox_loop: the worker then holds a send's outcome until the store writes.
        self.looping = False
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

    def stop(self, *_: object) -> None:
        self.stop_event.set()
        self.outbox_wake.set()

    # -- work units ---------------------------------------------------------

    def process(self) -> Tally[str]:
        tally = self.pipeline.process_pending()
        if tally.get("new-ticket-late"):
            self.late_pending = True
        if tally:
            self.outbox_wake.set()
            release_free_memory()
        return tally

    def tell_late_clients(self) -> None:
        """After a whole fetch cycle: one "we are back" notice per client with late tasks (case 35).

        Not after each FETCH batch: a backlog is fetched in many, and its clients must hear once.
        """
        if self.late_pending:
            # None: mail still waits in the spool; try after the next cycle.
            self.late_pending = send_back_notices(self.notifier, self.clock.now()) is None
            self.outbox_wake.set()

    def fetch_once(self) -> int:
        box = ImapMailbox(self.settings.imap)
        box.connect()
        try:
            return fetch_cycle(box, self.clock.now, self.process)
        finally:
            box.close()

    def tick(self) -> Tally[str]:
        """Fire the timers that are due; runs on the main thread, apart from fetch and send."""
        try:
            tally = self.timers.tick()
        except Exception as exc:  # noqa: BLE001 - the next tick tries again; the deadlines are in the store
            if not self.store_failed("timers", exc):
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
        except Exception as exc:  # noqa: BLE001 - try again next time; invoices are keyed by period
            if not self.store_failed("billing", exc):
                log.exception("billing pass failed")
            return Tally()
        if tally:
            self.outbox_wake.set()
        return tally

    def flush_once(self, sender: SmtpSender) -> Tally[str]:
        worker = OutboxWorker(sender, self.notifier, self.node, self.settings.smtp.max_attempts,
                              window=self.send_window)
        if self.looping:
            worker.stop, worker.on_store_failure = self.stop_event.is_set, self.store_failed
        tally = worker.flush(self.clock.now())
        if tally:
            release_free_memory()
        return tally

    def run_once(self) -> dict[str, int]:
        """`oneassist run --once`: fetch what waits, process it, send what is due, return."""
        recover_interrupted()
        fetched = self.fetch_once()
        self.process()
        self.tell_late_clients()
        self.tick()
        self.billing()
        sender = SmtpSender(self.settings.smtp)
        try:
            sent = self.flush_once(sender)
        finally:
            sender.close()
        return {"fetched": fetched, **{f"outbox_{k}": v for k, v in sent.items()}}

    # -- loops --------------------------------------------------------------

    def fetch_loop(self) -> None:
        s = self.settings.imap
        delay = RECONNECT_MIN
        while not self.stop_event.is_set():
            box = ImapMailbox(s)
            store_down = False
            try:
                box.connect()
                while not self.stop_event.is_set():
                    fetch_cycle(box, self.clock.now, self.process)
                    # Reset only after a whole cycle: a server that logs us in and then cuts
                    # every FETCH must see the backoff grow (docs/reliability.md case 3).
                    delay = RECONNECT_MIN
                    # Failed mails wait in the spool for their next attempt.
                    self.process()
                    self.tell_late_clients()
                    if self.health.failing:
                        probe_write()  # a cycle with no mail wrote nothing: prove it
                        self.health.ok("fetch")
                    # IDLE is renewed before the server's 29-minute limit (RFC 2177). A mail
                    # left for another attempt must not wait for the next new mail to arrive.
                    wait = s.idle_renew_seconds if s.idle else min(s.idle_renew_seconds, s.poll_seconds)
                    if spool.pending_ids(1):
                        wait = min(wait, RETRY_PENDING_SECONDS)
                    box.wait(wait, self.stop_event.is_set)
            except (TransientError, PermanentError) as exc:
                log.warning("%s; reconnecting in %.0fs", exc, delay)
            except Exception as exc:  # noqa: BLE001 - the fetcher must outlive any one bug
                # The store cannot write: the mail stays in the intake folder (nothing is
                # moved before it is spooled); try again soon, not after a growing backoff.
                store_down = self.store_failed("fetch", exc)
                if not store_down:
                    log.exception("fetcher failed; reconnecting in %.0fs", delay)
            finally:
                box.close()
            if store_down:
                self.stop_event.wait(RETRY_SECONDS)
                continue
            self.stop_event.wait(delay)
            delay = min(RECONNECT_MAX, delay * 2)

    def outbox_loop(self) -> None:
        self.looping = True
        sender = SmtpSender(self.settings.smtp)
        try:
            while not self.stop_event.is_set():
                self.outbox_wake.wait(timeout=1.0)
                self.outbox_wake.clear()
                if self.stop_event.is_set():
                    break
                try:
                    if self.flush_once(sender):
                        self.health.ok("outbox")  # it recorded what it sent: a write
                except Exception as exc:  # noqa: BLE001 - keep sending after any one failure
                    if self.store_failed("outbox", exc):
                        self.stop_event.wait(RETRY_SECONDS)
                        continue
                    log.exception("outbox flush failed; will try again")
                    time.sleep(1.0)
        finally:
            sender.close()

    def run_forever(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        recover_interrupted()
        threads = [threading.Thread(target=self.fetch_loop, name="fetch", daemon=True),
                   threading.Thread(target=self.outbox_loop, name="outbox", daemon=True)]
        for thread in threads:
            thread.start()
        # Retries whose backoff has passed are picked up by the outbox thread's own poll;
        # the scheduler keeps systemd's watchdog fed.
        self.scheduler.every(self.settings.sla.tick_seconds).seconds.do(self.tick)
        self.scheduler.every(5).minutes.do(self.billing)
        self.billing()
        interval = systemd.watchdog_interval()
        if interval:
            self.scheduler.every(max(1, int(interval))).seconds.do(systemd.notify, "WATCHDOG=1")
        systemd.notify("READY=1\nSTATUS=fetching and sending")
        log.info("daemon started: intake %s on %s, store %s", self.settings.imap.folder,
                 self.settings.imap.host, self.settings.store_url.split("://")[0])
        while not self.stop_event.is_set():
            self.scheduler.run_pending()
            self.stop_event.wait(0.5)
        systemd.notify("STOPPING=1")
        log.info("daemon stopping")
        for thread in threads:
            thread.join(timeout=10)
