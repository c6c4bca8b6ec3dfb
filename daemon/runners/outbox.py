"""flush(): claim due outbox rows, send them by SMTP, and record what happened.

A row is 'sending' while its SMTP transaction runs, leased to this node. Each row's
outcome is committed as soon as the server answers it, so a sender killed after a
250 leaves at most the rows then in flight (one per SMTP connection) in the RFC
1047 window. Such a row is sent again with the same bytes and Message-ID, counted
in `resends`, once its lease runs out (recover_expired(), run by every daemon on
the store, periodically); a daemon that owns its store (SQLite) requeues them at start.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections import Counter as Tally
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from daemon.adapters.smtp import Envelope, SendResult, SmtpSender
from daemon.core import notice_kinds as kinds
from daemon.core.bounces import BouncePolicy, decide_bounce
from daemon.core.model import Notice, Route
from daemon.core.retry import OK, PERMANENT, backoff, classify_smtp
from daemon.faults import checkpoint
from daemon.render.notices import Notifier
from daemon.runners.alerts import send_capped
from daemon.runners.rate import RateWindow
from daemon.runners.timers import flood_caps
from parsers.dsn import DsnReport
from parsers.oneline import one_line
from parsers.verp import verp_address
from store import bounces, ops, outbox
from store.apply import apply_timer
from store.db import unavailable_reason, write_transaction
from store.outbox import Claimed, bodies_of, claim
from store.queries import ticket_by_id

log = logging.getLogger("oneassist.outbox")
# An enhanced status code (RFC 3463) in the server's answer: "550 5.1.1 user unknown".
_ENHANCED = re.compile(r"\b5\.\d{1,3}\.\d{1,3}\b")

RECORD_RETRY_SECONDS = 2.0


def recover_interrupted(node: str | None = None) -> int:
    """Put every row left 'sending' back in the queue; returns how many.

    Only for a daemon that owns its store (SQLite under its lock): on a shared store
    another daemon's live sends would go twice; there recover_expired() is the one."""
    count = outbox.requeue_interrupted(node)
    if count:
        log.warning("outbox: %s mail(s) were interrupted mid-send; sending again with the same Message-ID",
                    count)
    return count


def recover_expired() -> int:
    """Put rows whose sender's lease ran out back in the queue; any daemon, any time."""
    count = outbox.requeue_expired()
    if count:
        log.warning("outbox: %s mail(s) of a sender that died mid-send (lease expired); sending again "
                    "with the same Message-ID", count)
    return count


class OutboxWorker:
    def __init__(self, sender: SmtpSender, notifier: Notifier, node: str, max_attempts: int,
                 rng: random.Random | None = None, lease_seconds: int = 120,
                 window: RateWindow | None = None) -> None:
        self.lease_seconds = lease_seconds
        self.sender = sender
        self.notifier = notifier
        self.node = node
        self.max_attempts = max_attempts
        self.rng = rng or random.Random()
        self.caps = flood_caps(notifier.settings)
        self.verp_key = notifier.settings.service.verp_secret
        # smtp.max_per_minute (docs/reliability.md case 35); None: no cap (tests, tools).
        self.window = window
        # While the store cannot write after a send: keep trying until stop() (the runner's
        # loop sets both); None (run --once, tools): give up at once, as before.
        self.stop: Callable[[], bool] | None = None
        self.on_store_failure: Callable[[str, BaseException], object] | None = None

    def envelope_sender(self, outbox_id: int) -> str:
        """A VERP address of this row (`support+b-<id>.<mac>@…`): a DSN names the mail it is about
        (docs/reliability.md cases 12, 17). The same on every attempt, as it depends on the id alone."""
        return verp_address(self.notifier.settings.smtp.bounce_address, outbox_id, self.verp_key)

    def flush(self, now: datetime, limit: int = 50,
              progress: Callable[[Tally[str]], None] | None = None) -> Tally[str]:
        """Send every due row, a batch at a time; `progress` hears the running tally after each."""
        tally: Tally[str] = Tally()
        while True:
            room = self.window.room() if self.window is not None else limit
            if room <= 0:
                return tally  # the minute's share is sent; the outbox loop comes back each second
            rows = claim(now, self.node, min(limit, room), lease_seconds=self.lease_seconds)
            if not rows:
                return tally
            if self.window is not None:
                self.window.spent(len(rows))
            raw = bodies_of([r.id for r in rows])
            envelopes = [Envelope(r.id, self.envelope_sender(r.id), r.recipients, raw[r.id])
                         for r in rows]
            del raw
            self.send_batch(rows, envelopes, now, tally)
            checkpoint("marked-sent")
            if progress is not None:
                progress(tally)
            if len(rows) < limit and not self.more_pending(now):
                return tally

    def send_batch(self, rows: list[Claimed], envelopes: list[Envelope], now: datetime,
                   tally: Tally[str]) -> None:
        by_id = {r.id: r for r in rows}
        open_ids = set(by_id)
        renewed = time.monotonic()

        def answered(result: SendResult) -> None:
            nonlocal renewed
            if classify_smtp(result.code) == OK:
                checkpoint("smtp-accepted")
            # Committed now, not after the batch: a kill leaves only this row in the window.
            tally[self.record_held(by_id[result.key], result, now)] += 1
            open_ids.discard(result.key)
            if time.monotonic() - renewed > self.lease_seconds / 3:
                # A slow server: the rows still to send stay ours.
                outbox.renew_leases(self.node, sorted(open_ids), self.lease_seconds)
                renewed = time.monotonic()

        self.sender.send_many(envelopes, on_result=answered)

    def record_held(self, row: Claimed, result: SendResult, now: datetime) -> str:
        """Record what the server said of one row; while the store cannot write, keep trying.

        The mail is with the relay now: given up, the row would stay 'sending' and go out
        again (a duplicate). So the outcome is held and written as soon as the store writes
        again (docs/reliability.md case 8); each try starts from the row as claimed, since
        record() changes it.
        """
        while True:
            copy = replace(row)
            try:
                with write_transaction():
                    verdict = self.record(copy, result, now)
                    # Counted in the store with the result, for the metrics of any process (issue 13).
                    ops.record_sends({verdict: 1}, [row.ticket_id] if verdict == "sent"
                                     and row.kind == ops.ACK_KIND and row.ticket_id else [], now)
                return verdict
            except Exception as exc:
                reason = unavailable_reason(exc)
                if reason is None or self.stop is None or self.stop():
                    raise
                if self.on_store_failure is not None:
                    self.on_store_failure("outbox", exc)
                time.sleep(RECORD_RETRY_SECONDS)

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
            if verdict == PERMANENT:
                self.tell_refused(row, result, now)
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

    def tell_refused(self, row: Claimed, result: SendResult, now: datetime) -> None:
        """A 5xx from our own relay is a bounce we hear at once: the same as a DSN (core/bounces.py),
        the ticket's timeline shows it and the manager learns the client did not receive the mail
        (docs/reliability.md case 12). The row stays `dead`, where `outbox list` shows it."""
        if not row.kind.startswith("client.") or row.ticket_id is None:
            return
        sent = bounces.sent_mail(row.id)
        if sent is None:
            return
        code = _ENHANCED.search(result.detail or "")
        status = code.group(0) if code else f"{result.code // 100}.0.0" if result.code else ""
        report = DsnReport(sent.recipients[0], "failed", status, one_line(f"{result.code or ''} {result.detail}")[:300])
        settings = self.notifier.settings
        policy = BouncePolicy(settings.limits.hard_bounce_limit, lambda email: (
            member.language if (member := settings.staff_by_email(email)) else settings.service.language))
        decision = decide_bounce(Route("bounce", reason="refused by the relay"), sent, report, policy)
        apply_timer(decision, ticket_by_id(row.ticket_id), now,
                    lambda n, t, m, v: self.notifier.render(n, t, m, now, v), planner=None, timers=())

    def alert_dead(self, row: Claimed, now: datetime) -> None:
        settings = self.notifier.settings
        if kinds.is_alert(row.kind) or not settings.admins:
            return  # never alert about an alert: that is how mail loops start
        ticket_key = row.ticket_key or "-"
        notice = Notice(
            template=kinds.UNDELIVERABLE, to=tuple(m.email for m in settings.admins),
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
