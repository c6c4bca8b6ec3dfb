"""flush(): claim due outbox rows, send them by SMTP, and record what happened.

A row is 'sending' while its SMTP transaction runs. A row still 'sending' at
start-up was interrupted between the server's reply and our update (the
RFC 1047 window): it is sent again with the same bytes and Message-ID, and
counted in `resends`.
"""

from __future__ import annotations

import logging
import random
import time
from collections import Counter as Tally
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from daemon.adapters.smtp import Envelope, SendResult, SmtpSender
from daemon.core.model import Notice
from daemon.core.retry import OK, PERMANENT, backoff, classify_smtp
from daemon.faults import checkpoint
from daemon.render.notices import Notifier
from daemon.runners.alerts import send_capped
from daemon.runners.rate import RateWindow
from daemon.runners.timers import flood_caps
from store import outbox
from store.db import unavailable_reason, write_transaction
from store.outbox import Claimed, bodies_of, claim

log = logging.getLogger("oneassist.outbox")

RECORD_RETRY_SECONDS = 2.0


def recover_interrupted(node: str | None = None) -> int:
    """Put rows left 'sending' by a crash back in the queue; returns how many."""
    count = outbox.requeue_interrupted(node)
    if count:
        log.warning("outbox: %s mail(s) were interrupted mid-send; sending again with the same Message-ID",
                    count)
    return count


class OutboxWorker:
    def __init__(self, sender: SmtpSender, notifier: Notifier, node: str, max_attempts: int,
                 rng: random.Random | None = None, window: RateWindow | None = None) -> None:
        self.sender = sender
        self.notifier = notifier
        self.node = node
        self.max_attempts = max_attempts
        self.rng = rng or random.Random()
        self.caps = flood_caps(notifier.settings)
        # smtp.max_per_minute (docs/reliability.md case 35); None: no cap (tests, tools).
        self.window = window
        # While the store cannot write after a send: keep trying until stop() (the daemon's
        # loop sets both); None (run --once, tools): give up at once, as before.
        self.stop: Callable[[], bool] | None = None
        self.on_store_failure: Callable[[str, BaseException], object] | None = None

    def flush(self, now: datetime, limit: int = 50) -> Tally[str]:
        tally: Tally[str] = Tally()
        while True:
            room = self.window.room() if self.window is not None else limit
            if room <= 0:
                return tally  # the minute's share is sent; the outbox loop comes back each second
            rows = claim(now, self.node, min(limit, room))
            if not rows:
                return tally
            if self.window is not None:
                self.window.spent(len(rows))
            raw = bodies_of([r.id for r in rows])
            envelopes = [Envelope(r.id, r.envelope_from, r.recipients, raw[r.id])
                         for r in rows]
            del raw
            results = self.sender.send_many(envelopes)
            if any(classify_smtp(r.code) == OK for r in results):
                checkpoint("smtp-accepted")
            self.record_all(rows, results, now, tally)
            checkpoint("marked-sent")
            if len(rows) < limit and not self.more_pending(now):
                return tally

    def record_all(self, rows: list[Claimed], results: list[SendResult], now: datetime, tally: Tally[str]) -> None:
        """Record what the server said; while the store cannot write, keep trying.

        The mails are with the relay now: given up, the rows would stay 'sending' and go
        out again at the next start (a duplicate for every row of the batch). So the
        outcome is held and written as soon as the store writes again (docs/reliability.md
        case 8); each try starts from the rows as claimed, since record() changes them.
        """
        while True:
            copies = {r.id: replace(r) for r in rows}
            outcomes: Tally[str] = Tally()
            try:
                with write_transaction():
                    for result in results:
                        outcomes[self.record(copies[result.key], result, now)] += 1
            except Exception as exc:
                reason = unavailable_reason(exc)
                if reason is None or self.stop is None or self.stop():
                    raise
                if self.on_store_failure is not None:
                    self.on_store_failure("outbox", exc)
                time.sleep(RECORD_RETRY_SECONDS)
                continue
            tally.update(outcomes)
            return

    @staticmethod
    def more_pending(now: datetime) -> bool:
        # A batch cut short by CLAIM_BYTES leaves due rows behind.
        return outbox.any_due(now)

    def record(self, row: Claimed, result: SendResult, now: datetime) -> str:
        verdict = classify_smtp(result.code)
        row.attempts += 1
        if verdict == OK:
            row.status, row.sent_at, row.last_error = "sent", now, ""
            outbox.record_attempt(row)
            log.info("outbox=%s ticket=%s kind=%s sent", row.id, row.ticket_id or "-", row.kind)
            return "sent"
        row.last_error = f"{result.code or '-'} {result.detail}"[:500]
        if verdict == PERMANENT or row.attempts >= self.max_attempts:
            row.status = "dead"
            outbox.record_attempt(row)
            log.error("outbox=%s ticket=%s kind=%s dead after %s attempt(s): code=%s",
                      row.id, row.ticket_id or "-", row.kind, row.attempts, result.code or "-")
            self.alert_dead(row, now)
            return "dead"
        row.status = "pending"
        if result.ambiguous:
            row.resends += 1
        delay = backoff(row.attempts, self.rng.random())
        row.next_attempt_at = now + timedelta(seconds=delay)
        outbox.record_attempt(row)
        log.warning("outbox=%s ticket=%s attempt=%s failed (code=%s); retry in %.0fs",
                    row.id, row.ticket_id or "-", row.attempts, result.code or "-", delay)
        return "retry"

    def alert_dead(self, row: Claimed, now: datetime) -> None:
        settings = self.notifier.settings
        if row.kind.startswith("staff.alert") or not settings.admins:
            return  # never alert about an alert: that is how mail loops start
        ticket_key = row.ticket_key or "-"
        notice = Notice(
            template="staff.alert.undeliverable", to=tuple(m.email for m in settings.admins),
            language=settings.admins[0].language, autoreply=False,
            context=(("outbox_id", row.id), ("kind", row.kind), ("error", row.last_error),
                     ("attempts", row.attempts), ("ticket_key", ticket_key)),
        )
        # Capped per kind of the dead mail and hour (issue 9): a dead mailbox fed by a flood
        # of tasks, or a relay that refuses everything, is a few alerts and one digest,
        # however many recipients the dead mails had. We are inside flush()'s transaction,
        # so the count read here and the one written below commit together.
        if not send_capped(notice, row.kind, f"outbox #{row.id} ({ticket_key})", self.caps,
                           self.notifier, now):
            log.warning("outbox=%s undeliverable alert held for the digest (cap %s/h)", row.id,
                        self.caps.alerts_per_source)
