"""process_pending(): spooled mail -> parse -> route -> decide -> apply, one mail at a time.

Each mail is isolated (Mailman's shunt queue): a parse failure quarantines it at once, an
unexpected error is retried three times and then quarantined, one alert per quarantined mail.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import socket
import time
from collections import Counter as Tally
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TypeVar

from daemon.clock import Clock
from daemon.config import Settings
from daemon.core import notice_kinds as kinds
from daemon.core.bounces import BouncePolicy, decide_bounce
from daemon.core.effects import Decision, ReleaseQuota, SendNotice
from daemon.core.errors import QuarantineError
from daemon.core.model import MoneyView, Notice, OutboundMail, Route, RouteView
from daemon.core.routing import dedupe_key, route
from daemon.core.staff import StaffPerson, StaffPolicy, decide_staff, unauthenticated
from daemon.core.tags import parse_commands
from daemon.core.workflow import FloodCaps, Policy, decide
from daemon.faults import checkpoint, fail_on
from daemon.render.notices import Notifier, render_or_park
from daemon.runners.alerts import alert_parked, send_capped
from daemon.runners.repeats import RepeatedText
from daemon.runners.timers import TimerPlanner
from parsers.addresses import domain_of, parse_address_list, redact
from parsers.auth_results import staff_header_refusal, staff_mail_authenticated
from parsers.automatic import automatic_reason
from parsers.dsn import read_dsn
from parsers.mail import InboundMail
from parsers.mime import parse
from parsers.oneline import one_line
from parsers.quoting import strip_reply
from parsers.tags import ParsedTags
from parsers.verp import outbox_id_in
from store import absences, bounces, queries, spool
from store.apply import AlreadyIngested, AlreadyProcessed, apply
from store.claims import claim_spool, release_spool, renew_spool
from store.db import unavailable_reason, write_transaction
from store.once import claim_once, quarantine_alert_key
from store.rows import SpoolEntry, Ticket
from store.timers import unfired_timers

log = logging.getLogger("oneassist.pipeline")
T = TypeVar("T")
# Spool entries claimed at once: small, so other workers share a backlog from the start.
CLAIM_BATCH = 20
RETRY_DELAY_SECONDS = 2.0


@dataclass
class Pipeline:
    settings: Settings
    clock: Clock
    notifier: Notifier
    # Who holds this pipeline's spool claims: a node id unique per process.
    worker: str = field(default_factory=lambda: worker_id())

    def __post_init__(self) -> None:
        # Settings are frozen: the policies are built once, not once per mail.
        self.planner = TimerPlanner(self.settings)
        self.caps = FloodCaps(
            alerts_per_source=self.settings.service.alerts_per_source_per_hour,
            staff_notifications_per_source=self.settings.service.staff_notifications_per_source_per_hour,
            join_replies=self.settings.service.join_replies_per_hour,
        )
        self.policy = self._policy()
        self.staff_policy = self._staff_policy()
        self.repeats = RepeatedText()

    def _policy(self) -> Policy:
        return Policy(
            first_response_minutes=self.settings.sla.first_response_minutes,
            autoreply_limit_per_day=self.settings.service.autoreply_limit_per_day,
            default_language=self.settings.service.language,
            staff_languages=tuple((m.email, m.language) for m in self.settings.staff),
            calendar=self.settings.sla.calendar,
            around_the_clock=frozenset(t.code for t in self.settings.tariffs if t.around_the_clock),
            pause_due_while_waiting=self.settings.sla.pause_due_while_waiting,
            caps=self.caps,
            trusted_authserv_ids=self.settings.staff_mail.trusted_authserv_ids,
            late_ack_hours=self.settings.service.late_ack_hours,
        )

    def automatic(self, mail: InboundMail) -> str | None:
        own = self.settings.smtp
        reason = automatic_reason(
            mail, loop_id=self.settings.loop_id,
            own_addresses=frozenset({own.from_address, own.bounce_address}),
            own_domains=frozenset(),
        )
        # Our Message-IDs have a recognizable local part; staff of the same domain do not.
        if reason is None and mail.message_id and mail.message_id.startswith("oneassist.") \
                and mail.message_id.endswith("@" + (domain_of(own.from_address) or "")):
            reason = "loop"
        return reason

    def _staff_policy(self) -> StaffPolicy:
        return StaffPolicy(
            staff=tuple(StaffPerson(m.email, m.name, m.role, m.language) for m in self.settings.staff),
            transcripts=self.settings.staff_mail.transcripts,
            default_due_hours=self.settings.staff_mail.default_due_hours,
            top_up_step=self.settings.billing.top_up_step,
            max_file_bytes=self.settings.limits.max_file_bytes,
            max_files=self.settings.limits.max_files_per_mail,
            response_deadline=self.policy.deadline,
            timezone=self.settings.service.timezone,
        )

    def parse_tags(self, mail: InboundMail, now: datetime) -> ParsedTags:
        service = self.settings.service
        # Only the new text counts: tags quoted from an earlier mail are history.
        return parse_commands(strip_reply(mail.text), mail.subject, now, service.timezone,
                              service.ticket_prefix)

    def dkim_lookup(self) -> Callable[[bytes], bytes] | None:
        """DNS for DKIM keys: the configured offline keys, else real DNS (None)."""
        keys = dict(self.settings.staff_mail.dkim_keys)
        if not keys:
            return None
        return lambda name: keys.get(name.decode("ascii", "replace"), "").encode()

    def authenticate(self, mail: InboundMail, found: Route, view: RouteView, raw: bytes) -> tuple[bool, str]:
        """Staff address AND (staff token of this ticket OR DKIM/DMARC pass), docs/mail-path.md.

        The DKIM pass comes from our MX's Authentication-Results or, with
        staff_mail.verify_dkim, from verifying the signature ourselves. A header block
        that no signature can vouch for (a repeated Subject, several From mailboxes) is
        refused first, whatever token or pass it carries (docs/reliability.md case 36).
        """
        refusal = staff_header_refusal(mail)
        if refusal is not None:
            return False, refusal
        token = (found.ticket is not None and view.staff_token_ticket is not None
                 and view.staff_token_ticket.id == found.ticket.id)
        verdict = staff_mail_authenticated(mail, self.settings.staff_mail.trusted_authserv_ids, raw)
        if not verdict.ok and self.settings.staff_mail.verify_dkim:
            # dkimpy and dnspython cost ~13 MiB of RSS: loaded only where DKIM is verified here.
            from daemon.adapters.dkim import verify_staff_dkim

            verdict = verify_staff_dkim(raw, mail.from_addr, mail.from_header_count, self.dkim_lookup())
        if self.settings.staff_mail.auth == "token-and-dkim":
            return token and verdict.ok, f"token={'yes' if token else 'no'}, {verdict.reason}"
        return token or verdict.ok, "staff reply token" if token else verdict.reason

    def decide_staff(self, mail: InboundMail, found: Route, view: RouteView, parsed: ParsedTags,
                     entry_id: int, now: datetime, raw: bytes) -> Decision:
        ok, reason = self.authenticate(mail, found, view, raw)
        policy = self.staff_policy
        if not ok:
            log.warning("spool=%s staff mail from %s not authenticated (%s)", entry_id,
                        redact(mail.from_addr), reason)
            return unauthenticated(found, mail, reason, policy, entry_id, view, self.caps,
                                   tell_sender=staff_header_refusal(mail) is not None)
        member = self.settings.staff_by_email(mail.from_addr)
        assert member is not None
        person = StaffPerson(member.email, member.name, member.role, member.language)
        if found.ticket is not None:
            view = replace(view, thread=queries.thread_info(found.ticket.id, self.settings, now))
        return decide_staff(mail, found, view, parsed, person, now, policy)

    def decide_bounce(self, mail: InboundMail, found: Route) -> Decision:
        """A DSN: to one of our VERP senders (a valid mac), it is about that outbox row; else dropped.

        The VERP address is where the MTA delivered the DSN: To, or the Delivered-To /
        X-Original-To our MX adds. A forged one (bad mac) reads as no address at all.
        """
        addresses = mail.recipients + parse_address_list(
            [v for name in ("delivered-to", "x-original-to", "envelope-to") for v in mail.header_all(name)])
        outbox_id = outbox_id_in(addresses, self.settings.smtp.bounce_address, self.settings.service.verp_secret)
        if outbox_id is None:
            return Decision(outcome="bounce", route=found)
        policy = BouncePolicy(self.settings.limits.hard_bounce_limit, self.policy.language_of)
        return decide_bounce(found, bounces.sent_mail(outbox_id), read_dsn(mail), policy)

    def process_one(self, entry_id: int) -> str:
        entry = spool.get(entry_id)
        if entry.state != "pending":
            return "taken"  # another worker finished it (this one's lease had run out)
        if entry.attempts >= spool.MAX_ATTEMPTS:
            # Each earlier start was counted and none finished: the process died or stalled
            # inside this mail (docs/reliability.md case 39). Taking it again would be a crash loop.
            return self.fail(entry, f"processing did not finish in {entry.attempts} attempts: "
                             "the process died or stalled on this mail", final=True)
        spool.start_attempt(entry_id)
        raw = spool.raw_of(entry_id)
        now = self.clock.now()
        arrived = spool.arrival_of(entry) or now
        budget = CpuBudget(self.settings.limits.stage_cpu_seconds)
        try:
            mail = parse(raw, max_bytes=self.settings.imap.max_message_bytes)
            budget.check("parse")
        except QuarantineError as exc:
            return self.fail(entry, f"unparseable: {exc}", final=True)
        try:
            fail_on("route", raw)
            key = dedupe_key(mail)
            is_staff = self.settings.staff_by_email(mail.from_addr) is not None
            parsed = self.parse_tags(mail, now) if is_staff else None
            named = tuple(c.ticket_key for c in parsed.commands if c.ticket_key) if parsed else ()
            view = queries.route_view(mail, self.settings, now, key, named)
            # What the flood caps count: this sender's notices this hour, and join replies in
            # all, which only a mail that may get a join reply needs (not a member's, not staff's).
            member = view.sender_client is not None and view.sender_client.active
            joins = (0 if member or view.sender_is_staff
                     else queries.join_replies_since(now - timedelta(hours=1)))
            view = replace(view, notices_this_hour=queries.notices_this_hour(mail.from_addr, now),
                           join_replies_last_hour=joins, absences=absences.active(now))
            automatic = self.automatic(mail)
            decision_route = route(mail, view, automatic, self.settings.service.ticket_prefix)
            if decision_route.kind == "client_new" and self.repeats.repeated(mail.from_addr, mail.subject, mail.text, now):
                # An unmarked responder's fixed answer, the third time today (docs/reliability.md case 19).
                decision_route = route(mail, view, "repeated", self.settings.service.ticket_prefix)
            if decision_route.kind == "unreadable":
                # Kept and shown (quarantine list, admin alert), never dropped (docs/reliability.md case 41).
                return self.fail(entry, f"sender unreadable: {_defects(mail)}", final=True)
            stored = strip_reply(mail.text) if decision_route.kind == "client_reply" else mail.text
            if decision_route.kind == "bounce":
                decision = self.decide_bounce(mail, decision_route)
            elif decision_route.kind == "staff" and parsed is not None:
                decision = self.decide_staff(mail, decision_route, view, parsed, entry.id, now, raw)
            else:
                decision = decide(decision_route, mail, view, arrived, self.policy, text=stored, now=now)
            budget.check("route and decide")
            # What its notices show of the client's money, read now: apply reads nothing back.
            money = self._money_of(decision, now)
            # And the timers its replan replaces.
            ticket = decision.route.ticket
            timers = unfired_timers(ticket.id) if ticket is not None and self.planner is not None else ()
            parked: list[OutboundMail] = []

            def render(n: Notice, t: Ticket | None, m: InboundMail | None, v: MoneyView | None) -> OutboundMail:
                checkpoint("applying")  # the fault tests kill a worker here, mid-transaction
                # Checked after each notice, inside apply's transaction: over budget, nothing
                # of this mail is written. A notice that cannot be rendered is parked instead
                # of failing the mail (docs/reliability.md case 14).
                out = budget.checked("apply", render_or_park(self.notifier, n, t, m, now, v))
                if out.parked:
                    parked.append(out)
                return out

            try:
                result = apply(decision, mail, entry.id, dedupe_key=key, stored_text=stored,
                               prefix=self.settings.service.ticket_prefix, now=now,
                               render=render, planner=self.planner, money=money, timers=timers)
            except AlreadyIngested:
                spool.mark_duplicate(entry.id, now)
                return "duplicate"
            except AlreadyProcessed:
                # Another worker took it after this one's lease ran out, and finished first.
                log.warning("spool=%s was finished by another worker; this attempt rolled back", entry.id)
                return "taken"
        except QuarantineError as exc:
            return self.fail(entry, str(exc), final=True)
        except Exception as exc:  # noqa: BLE001 - one bad mail must never stop the loop
            if unavailable_reason(exc):
                # The store, not this mail: no failure is counted against the mail (it
                # would be quarantined after three); the loop backs off (StoreHealth).
                raise
            log.exception("spool=%s processing failed", entry.id)
            return self.fail(entry, f"{type(exc).__name__}: {exc}", final=False)
        checkpoint("applied")
        if parked:
            try:
                alert_parked(parked, result.ticket_key, self.caps, self.notifier, now)
            except Exception as exc:  # noqa: BLE001 - the mail is stored; an alert must not undo that
                if unavailable_reason(exc):
                    raise
                log.exception("spool=%s alert about a parked notice failed", entry.id)
        log.info("spool=%s uid=%s msgid=%s from=%s ticket=%s outcome=%s via=%s",
                 entry.id, entry.uid, _hash(mail.message_id), redact(mail.from_addr),
                 result.ticket_key or "-", result.outcome, decision_route.via or "-")
        return result.outcome

    def _money_of(self, decision: Decision, now: datetime) -> MoneyView | None:
        """The money view of the client whose ticket the notices are about (None: no notice)."""
        route = decision.route
        if not decision.of(SendNotice):
            return None
        if route.ticket is not None:
            client_id = route.ticket.client_id
            tariff = route.client.tariff if route.client and route.client.id == client_id \
                else queries.tariff_of(client_id)
        elif route.client is not None:
            client_id, tariff = route.client.id, route.client.tariff
        else:
            return None
        return self.notifier.money_view(client_id, tariff, now,
                                        route.ticket.id if route.ticket and decision.of(ReleaseQuota) else None)

    def fail(self, entry: SpoolEntry, reason: str, *, final: bool) -> str:
        now = self.clock.now()
        updated = spool.record_failure(entry.id, reason, now, final=final)
        if updated.state != "quarantined":
            log.warning("spool=%s attempt=%s failed, will retry", entry.id, updated.attempts)
            return "retry"
        log.error("spool=%s uid=%s quarantined after %s attempt(s)", entry.id, entry.uid, updated.attempts)
        self.alert_quarantine(updated, reason, now)
        return "quarantined"

    def alert_quarantine(self, entry: SpoolEntry, reason: str, now: datetime) -> None:
        """Tell the admins, within the alert cap of the mail's sender (unknown: one shared source)."""
        recipients = tuple(m.email for m in self.settings.admins) or tuple(
            m.email for m in self.settings.staff if m.role == "manager")[:1]
        if not recipients:
            log.error("spool=%s quarantined and no admin is configured to tell", entry.id)
            return
        language = self.settings.admins[0].language if self.settings.admins else self.settings.service.language
        context = (("spool_id", entry.id), ("mailbox", entry.mailbox), ("uidvalidity", entry.uidvalidity),
                   ("uid", entry.uid), ("size", entry.size), ("sha256", entry.sha256),
                   # Our exception text, but it may quote the mail (a header): one line.
                   ("reason", one_line(reason[:300])), ("attempts", entry.attempts))
        notice = Notice(template=kinds.QUARANTINE, to=recipients, language=language,
                        autoreply=False, context=context)
        source = entry.sender or "(unknown sender)"
        with write_transaction():
            if not claim_once(quarantine_alert_key(entry.id), now):
                return  # the alert about this mail went already (another worker quarantined it too)
            if not send_capped(notice, source, f"spool #{entry.id}", self.caps, self.notifier, now):
                log.warning("spool=%s quarantine alert held for the digest (cap %s/h)", entry.id,
                            self.caps.alerts_per_source)

    def process_pending(self, limit: int = 1000) -> Tally[str]:
        """Process what waits in the spool and this worker can claim, oldest first; returns
        outcome counts. Claims are leases (store/claims.py): other workers on the store take
        other clients' mail meanwhile, never this client's."""
        tally: Tally[str] = Tally()
        lease = self.settings.leases.lease_seconds
        while sum(tally.values()) < limit:
            ids = claim_spool(self.worker, min(CLAIM_BATCH, limit - sum(tally.values())), lease)
            if not ids:
                break
            renewed = time.monotonic()
            for done, entry_id in enumerate(ids):
                if time.monotonic() - renewed > lease / 3:
                    renew_spool(self.worker, ids[done:], lease)
                    renewed = time.monotonic()
                outcome = self.process_one(entry_id)
                if outcome == "retry":
                    # Tried again after a pause; the client's later mail waits behind it.
                    release_spool(self.worker, [entry_id], delay_seconds=RETRY_DELAY_SECONDS)
                tally[outcome] += 1
        return tally


class CpuBudget:
    """CPU seconds of this thread per stage of one mail (docs/reliability.md case 38).

    time.thread_time() counts only this thread's CPU, so a busy machine or a slow
    IMAP server does not spend a mail's budget; a quadratic regex does.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.started = time.thread_time()

    def check(self, stage: str) -> None:
        """Raise QuarantineError if `stage` (since the last check) used more than the budget."""
        now = time.thread_time()
        used, self.started = now - self.started, now
        if used > self.seconds:
            raise QuarantineError(f"{stage} used {used:.2f} s of CPU, over the "
                                  f"{self.seconds:g} s budget per stage")

    def checked(self, stage: str, value: T) -> T:
        """`value`, after checking the running stage without starting a new one."""
        used = time.thread_time() - self.started
        if used > self.seconds:
            raise QuarantineError(f"{stage} used {used:.2f} s of CPU, over the "
                                  f"{self.seconds:g} s budget per stage")
        return value


def worker_id() -> str:
    """host:pid:random, unique per process (a restarted daemon is a new worker)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"


def _defects(mail: InboundMail) -> str:
    # Our own defect names only: the From value itself is mail content and stays out.
    found = [d for d in mail.defects if d.startswith("from-")]
    return ", ".join(found) or "no From address"


def _hash(value: str | None) -> str:
    # Message-IDs can carry names; the log keeps a short hash that still correlates.
    if not value:
        return "-"
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:12]
