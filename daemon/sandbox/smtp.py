"""A scriptable SMTP server on loopback, for integration tests and `oneassist sandbox`.

`SmtpSink` is an aiosmtpd server that records every accepted mail and can hand it to a
`deliver(rcpt, raw)` callable, normally `deliver_to_dovecot(server)`, so a test reads the
daemon's reply from the client's Dovecot INBOX the way the client would (no mock of SMTP). It
also injects the outgoing-mail faults of docs/reliability.md cases 11-13: temporary or permanent
replies at RCPT or DATA, a rejected recipient, and a hang-up after the final dot.

It advertises 8BITMIME and SMTPUTF8, requires no AUTH, and accepts any AUTH PLAIN/LOGIN
credentials without TLS, so a daemon configured with a username works against it too.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType

from aiosmtpd.smtp import Envelope

from daemon.sandbox.dovecot import DovecotServer
from daemon.sandbox.smtp_protocol import (
    Controller,
    Fault,
    Handler,
    Stage,
    XOAuth2Handler,
    accept_any_login,
    failure_reply,
)

__all__ = ["Attempt", "Received", "SmtpSink", "deliver_to_dovecot", "mailbox_of"]

log = logging.getLogger(__name__)


Deliver = Callable[[str, bytes], None]


@dataclass(frozen=True)
class Received:
    """One mail the sink accepted (or swallowed before hanging up)."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    at: float  # time.monotonic() when the final dot arrived
    wall: datetime  # the same moment, UTC


@dataclass(frozen=True)
class Attempt:
    """The outcome of one transaction or refused recipient, for asserting on retries.

    outcome is the reply code sent, or 0 when the sink hung up instead of replying.
    """

    mail_from: str
    rcpt_tos: tuple[str, ...]
    stage: str  # "RCPT" or "DATA"
    outcome: int
    at: float


class SmtpSink:
    """aiosmtpd on 127.0.0.1 with recording, optional delivery and scripted faults."""

    def __init__(
        self,
        deliver: Deliver | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
        xoauth2: Callable[[str, str], bool] | None = None,
    ) -> None:
        self.host = host
        # With `xoauth2(user, token)`, AUTH XOAUTH2 is offered and mail needs a login first.
        self.xoauth2 = xoauth2
        self.handler: Handler | None = None
        self._wanted_port = port or 0
        self._deliver = deliver
        self._cond = threading.Condition()
        self._received: list[Received] = []
        self._attempts: list[Attempt] = []
        self._errors: list[BaseException] = []
        self._faults: collections.deque[Fault] = collections.deque()
        self._rejected: dict[str, str] = {}
        self._hangups = 0
        self._controller: Controller | None = None

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._controller is None:
            raise RuntimeError("the SMTP sink is not running")
        return self._controller.port

    def start(self) -> SmtpSink:
        if self._controller is not None:
            return self
        self.handler = XOAuth2Handler(self, self.xoauth2) if self.xoauth2 else Handler(self)
        controller = Controller(
            self.handler,
            hostname=self.host,
            port=self._wanted_port,
            # A fixed name: aiosmtpd would otherwise call getfqdn(), a DNS lookup.
            server_hostname="sink.localhost",
            enable_SMTPUTF8=True,
            decode_data=False,
            auth_required=self.xoauth2 is not None,
            auth_require_tls=False,
            authenticator=accept_any_login,
        )
        controller.start()
        self._controller = controller
        return self

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- what happened -----------------------------------------------------------------

    @property
    def received(self) -> list[Received]:
        """A snapshot of the accepted mails, oldest first."""
        with self._cond:
            return list(self._received)

    @property
    def attempts(self) -> list[Attempt]:
        """A snapshot of every refused or hung-up transaction, oldest first.

        Accepted mail is in `received` only; a hung-up one is in both.
        """
        with self._cond:
            return list(self._attempts)

    @property
    def errors(self) -> list[BaseException]:
        """Exceptions raised by `deliver`; each was answered 451 to the client."""
        with self._cond:
            return list(self._errors)

    def clear(self) -> None:
        with self._cond:
            self._received.clear()
            self._attempts.clear()
            self._errors.clear()

    def take(self) -> list[Received]:
        """Remove and return the accepted mails: a long run (bench/soak.py) keeps memory flat."""
        with self._cond:
            taken, self._received = self._received, []
            self._attempts.clear()
            return taken

    def wait_for(
        self,
        match: int | Callable[[Received], bool] = 1,
        timeout: float = 5.0,
        count: int = 1,
    ) -> list[Received]:
        """Block until mail arrived; return it.

        match=N waits for N mails in total and returns all of them; match=predicate waits
        for `count` mails the predicate accepts and returns those. Raises TimeoutError.
        """
        if isinstance(match, int):
            needed, chosen = match, (lambda mails: mails)
        else:
            predicate = match
            needed, chosen = count, (lambda mails: [m for m in mails if predicate(m)])
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(found := chosen(self._received)) < needed:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"waited {timeout} s for {needed} mail(s), have {len(found)} "
                        f"({len(self._received)} received, {len(self._attempts)} refused, "
                        f"delivery errors: {self._errors!r})"
                    )
                self._cond.wait(left)
            return found

    # -- faults ------------------------------------------------------------------------

    def fail_next(
        self,
        code: int,
        count: int | None = 1,
        stage: Stage = "DATA",
        message: str | None = None,
    ) -> None:
        """Answer the next `count` transactions with `code` at RCPT (every recipient) or DATA.

        451 models a temporary failure (docs/reliability.md case 11), 550 a permanent one (case 12).
        count=None keeps failing every transaction until clear_faults() (a 4xx storm).
        Faults queue up: fail_next(451, 2) then fail_next(550) fails three transactions.
        """
        if stage not in ("RCPT", "DATA"):
            raise ValueError(f"stage must be 'RCPT' or 'DATA', not {stage!r}")
        with self._cond:
            self._faults.append(Fault(stage, failure_reply(code, message), count))

    def reject_recipient(self, addr: str, code: int = 550, message: str | None = None) -> None:
        """Refuse this recipient at RCPT from now on; other recipients are unaffected."""
        with self._cond:
            status = "5.1.1" if code >= 500 else "4.2.1"
            self._rejected[addr.lower()] = failure_reply(
                code, message or f"{status} <{addr}>: Recipient address rejected (sink)"
            )

    def hangup_after_data(self, count: int = 1) -> None:
        """Close the next `count` connections after the final dot without replying.

        The mail counts as received (and is delivered): the server has it, the client
        cannot know, which is the RFC 1047 duplicate window of docs/reliability.md case 13.
        """
        with self._cond:
            self._hangups += count

    def clear_faults(self) -> None:
        with self._cond:
            self._faults.clear()
            self._rejected.clear()
            self._hangups = 0

    # -- called from the handler (event loop thread) -----------------------------------

    def _take_fault(self) -> Fault | None:
        with self._cond:
            if not self._faults:
                return None
            fault = self._faults[0]
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.popleft()
            return fault

    def _rejection_for(self, rcpt: str) -> str | None:
        with self._cond:
            return self._rejected.get(rcpt.lower())

    def _take_hangup(self) -> bool:
        with self._cond:
            if self._hangups <= 0:
                return False
            self._hangups -= 1
            return True

    def _record_attempt(
        self, envelope: Envelope, rcpts: tuple[str, ...], stage: str, reply: str | int
    ) -> None:
        outcome = reply if isinstance(reply, int) else int(reply[:3])
        attempt = Attempt(envelope.mail_from or "", rcpts, stage, outcome, time.monotonic())
        with self._cond:
            self._attempts.append(attempt)
            self._cond.notify_all()

    def _accept(self, envelope: Envelope) -> str | None:
        """Deliver and record one mail; returns a reply code line if delivery failed."""
        raw = envelope.original_content or b""
        at, wall = time.monotonic(), datetime.now(UTC)
        rcpts = tuple(envelope.rcpt_tos)
        if self._deliver is not None:
            try:
                for rcpt in rcpts:
                    self._deliver(rcpt, raw)
            except Exception as exc:
                # A rig failure, not a scripted fault: let the client retry and let
                # wait_for() name the cause instead of timing out silently.
                log.exception("delivery of a sink mail failed")
                with self._cond:
                    self._errors.append(exc)
                    self._cond.notify_all()
                return "451 4.3.0 Local delivery failed (sink)"
        mail = Received(envelope.mail_from or "", rcpts, raw, at, wall)
        with self._cond:
            self._received.append(mail)
            self._cond.notify_all()
        return None


def deliver_to_dovecot(
    server: DovecotServer, folder: str = "INBOX", recipient_delimiter: str = "+"
) -> Deliver:
    """A `deliver` callable that APPENDs each mail to the recipient's Dovecot mailbox.

    `user+detail@domain` goes to `user@domain`, as a real MTA with a recipient delimiter
    (Postfix's recipient_delimiter, Exim's local_part_suffix) delivers it: the desk's
    reply addresses (`support+OA-1.…@`) are plus-addresses of its one mailbox, and a
    reply from a mail client in the sandbox must reach that mailbox.
    Unknown recipients become users with the default password. The server keeps one
    IMAP connection per user, so a delivery costs one APPEND round trip (about 2 ms).
    The bytes are stored exactly as sent: no Received or Return-Path header is added.
    """
    known: set[str] = set()

    def deliver(rcpt: str, raw: bytes) -> None:
        user = mailbox_of(rcpt, recipient_delimiter)
        if user not in known:
            if not server.has_user(user):
                server.add_user(user)
            known.add(user)
        server.append(user, raw, folder)

    return deliver


def mailbox_of(rcpt: str, recipient_delimiter: str = "+") -> str:
    """The mailbox `rcpt` is delivered to: lower-cased, the `+detail` of its local part cut."""
    local, at, domain = rcpt.strip().lower().rpartition("@")
    if not at:
        return rcpt.strip().lower()
    if recipient_delimiter:
        local = local.split(recipient_delimiter, 1)[0] or local
    return f"{local}@{domain}"
