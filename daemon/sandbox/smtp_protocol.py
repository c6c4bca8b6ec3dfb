"""The SMTP protocol side of the sandbox sink: aiosmtpd hooks and its server binding.

SmtpSink (smtp.py) keeps all state a test scripts (faults, rejections, hang-ups, what was
received); Handler only turns each SMTP command into a call on it, and Controller binds
port 0 and reads back the port the kernel chose.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from aiosmtpd.controller import Controller as _AiosmtpdController
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

Stage = Literal["RCPT", "DATA"]


class _QuietLegacyLogin(logging.Filter):
    """Drop aiosmtpd 1.4's own warning about its deprecated Session.login_data.

    aiosmtpd logs it on every successful AUTH, even with the new authenticator API,
    so a daemon that logs in would flood the test output with a line nobody can fix.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "Session.login_data is deprecated" not in record.getMessage()


logging.getLogger("mail.log").addFilter(_QuietLegacyLogin())


@dataclass
class Fault:
    stage: Stage
    reply: str
    remaining: int | None  # None: until clear_faults()


class ScriptedSink(Protocol):
    """What Handler asks of SmtpSink; a protocol, so this module need not import smtp.py."""

    def _take_fault(self) -> Fault | None: ...

    def _rejection_for(self, rcpt: str) -> str | None: ...

    def _take_hangup(self) -> bool: ...

    def _record_attempt(
        self, envelope: Envelope, rcpts: tuple[str, ...], stage: str, reply: str | int
    ) -> None: ...

    def _accept(self, envelope: Envelope) -> str | None: ...


class Handler:
    """aiosmtpd hooks; all state lives in the SmtpSink so tests can script it."""

    def __init__(self, sink: ScriptedSink) -> None:
        self.sink = sink

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        # A scripted fault belongs to one transaction, picked when it begins.
        envelope.fault = self.sink._take_fault()  # type: ignore[attr-defined]
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        fault: Fault | None = getattr(envelope, "fault", None)
        reply = fault.reply if fault is not None and fault.stage == "RCPT" else None
        reply = reply or self.sink._rejection_for(address)
        if reply is not None:
            self.sink._record_attempt(envelope, (address,), "RCPT", reply)
            return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        rcpts = tuple(envelope.rcpt_tos)
        fault: Fault | None = getattr(envelope, "fault", None)
        if fault is not None and fault.stage == "DATA":
            self.sink._record_attempt(envelope, rcpts, "DATA", fault.reply)
            return fault.reply
        failure = self.sink._accept(envelope)
        if failure is not None:
            self.sink._record_attempt(envelope, rcpts, "DATA", failure)
            return failure
        if self.sink._take_hangup():
            self.sink._record_attempt(envelope, rcpts, "DATA", 0)
            # abort() marks the transport lost at once, so aiosmtpd's "250 OK" that follows
            # is dropped instead of written: the client sees EOF where the reply should be.
            if server.transport is not None:
                server.transport.abort()  # type: ignore[attr-defined]
        return "250 OK"


class XOAuth2Handler(Handler):
    """Handler that also takes AUTH XOAUTH2 and asks `check(user, token)` about each token.

    The initial response is base64 of `user=U^Aauth=Bearer T^A^A`; a refused token gets
    535 at once (RFC 4954 allows the error challenge Google sends to be skipped).
    """

    def __init__(self, sink: ScriptedSink, check: Any) -> None:
        super().__init__(sink)
        self.check = check
        self.attempts: list[tuple[str, str, bool]] = []

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        import base64
        import binascii

        if len(args) < 2:
            return AuthResult(success=False, handled=False)
        try:
            fields = base64.b64decode(args[1], validate=True).decode().split("\x01")
        except (binascii.Error, UnicodeDecodeError):
            return AuthResult(success=False, handled=False)
        values = dict(f.split("=", 1) for f in fields if "=" in f)
        user, token = values.get("user", ""), values.get("auth", "").removeprefix("Bearer ")
        ok = bool(self.check(user, token))
        self.attempts.append((user, token, ok))
        return AuthResult(success=ok, handled=False, auth_data=user if ok else None)


class Controller(_AiosmtpdController):
    """Controller that binds port 0 and reads back the port the kernel chose.

    aiosmtpd's own Controller needs a fixed port up front; picking one ourselves would
    race with other processes between the pick and the bind.
    """

    def _create_server(self) -> Any:
        async def bind() -> asyncio.AbstractServer:
            server = await self.loop.create_server(
                self._factory_invoker, host=self.hostname, port=self.port
            )
            self.port = server.sockets[0].getsockname()[1]
            return server

        return bind()


def accept_any_login(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    return AuthResult(success=True)


def failure_reply(code: int, message: str | None) -> str:
    if not 400 <= code <= 599:
        raise ValueError(f"a failure reply code must be 4xx or 5xx, not {code}")
    if message is None:
        message = "4.3.0 Try again later (sink)" if code < 500 else "5.7.1 Refused (sink)"
    return f"{code} {message}"
