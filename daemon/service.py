"""The daemon's work units in one process: `oneassist run --once` and the tests' service.

fetch, process, tick the timers, bill, send: each once, in that order. The long-running
daemon does the same work in a process per stage (daemon/master.py, daemon/runners/loops.py).
"""

from __future__ import annotations

import logging
import socket
from collections import Counter as Tally

from daemon.adapters.imap import ImapMailbox
from daemon.adapters.memory import release_free_memory
from daemon.adapters.smtp import SmtpSender
from daemon.clock import Clock, SystemClock
from daemon.config import Settings
from daemon.render.notices import Notifier
from daemon.runners.fetch import fetch_cycle
from daemon.runners.ingest import Pipeline
from daemon.runners.outbox import OutboxWorker, recover_interrupted
from daemon.runners.timers import Scheduler as TimerScheduler

log = logging.getLogger("oneassist.service")


class Service:
    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.notifier = Notifier(settings)
        self.pipeline = Pipeline(settings, self.clock, self.notifier)
        self.timers = TimerScheduler(settings, self.clock, self.notifier)
        self.node = f"{socket.gethostname()}:{id(self):x}"

    # -- work units ---------------------------------------------------------

    def process(self) -> Tally[str]:
        tally = self.pipeline.process_pending()
        if tally:
            release_free_memory()
        return tally

    def fetch_once(self) -> int:
        box = ImapMailbox(self.settings.imap)
        box.connect()
        try:
            return fetch_cycle(box, self.clock.now, self.process)
        finally:
            box.close()

    def tick(self) -> Tally[str]:
        """Fire the timers that are due."""
        try:
            tally = self.timers.tick()
        except Exception:  # noqa: BLE001 - the next tick tries again; the deadlines are in the store
            log.exception("scheduler pass failed")
            return Tally()
        return tally

    def billing(self) -> Tally[str]:
        """Renewal invoices, reminders, suspensions: idempotent, so running it often is harmless."""
        from daemon.runners.billing import billing_tick

        try:
            tally = billing_tick(self.settings, self.notifier, self.clock.now())
        except Exception:  # noqa: BLE001 - try again next time; invoices are keyed by period
            log.exception("billing pass failed")
            return Tally()
        return tally

    def flush_once(self, sender: SmtpSender) -> Tally[str]:
        worker = OutboxWorker(sender, self.notifier, self.node, self.settings.smtp.max_attempts)
        tally = worker.flush(self.clock.now())
        if tally:
            release_free_memory()
        return tally

    def run_once(self) -> dict[str, int]:
        """`oneassist run --once`: fetch what waits, process it, send what is due, return."""
        recover_interrupted()
        fetched = self.fetch_once()
        self.process()
        self.tick()
        self.billing()
        sender = SmtpSender(self.settings.smtp)
        try:
            sent = self.flush_once(sender)
        finally:
            sender.close()
        return {"fetched": fetched, **{f"outbox_{k}": v for k, v in sent.items()}}
