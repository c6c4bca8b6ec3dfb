"""SMTP edge: aiosmtplib behind a synchronous send_many(); asyncio stays in this module.

Several mails go out concurrently over a small pool of connections, each
reused for many mails. TLS certificates are verified by default; with
security = "starttls" a server without STARTTLS is refused before AUTH, so a
password never crosses the wire in clear (docs/reliability.md case 28).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import aiosmtplib

from daemon.adapters import smtp_wire
from daemon.adapters.imap import tls_context
from daemon.adapters.oauth2 import TokenSource
from daemon.config import SmtpSettings, plaintext_auth_refusal
from daemon.core.errors import PermanentError

log = logging.getLogger("oneassist.smtp")
smtp_wire.install()


@dataclass(frozen=True)
class Envelope:
    key: int
    sender: str
    recipients: tuple[str, ...]
    raw: bytes


@dataclass(frozen=True)
class SendResult:
    key: int
    code: int | None
    detail: str
    # True when the server may have taken the mail though we saw no reply (RFC 1047).
    ambiguous: bool = False


class SmtpSender:
    def __init__(self, settings: SmtpSettings, tokens: TokenSource | None = None) -> None:
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self.pool: list[aiosmtplib.SMTP] = []
        # XOAUTH2 (smtp.auth = "xoauth2"): the daemon passes the one TokenSource it reports
        # from; `check` and scripts get one of their own.
        if settings.auth == "xoauth2" and tokens is None:
            tokens = TokenSource("smtp", settings.oauth2_token_command or "", lambda: datetime.now(UTC))
        self.tokens = tokens

    def _client(self) -> aiosmtplib.SMTP:
        s = self.settings
        # The config refuses this already; checked again before any connection because
        # Settings can be built without the config, and a password must never cross in clear.
        refusal = plaintext_auth_refusal("smtp", s)
        if refusal:
            raise PermanentError(f"smtp: {refusal}")
        return aiosmtplib.SMTP(
            hostname=s.host, port=s.port, timeout=s.timeout_seconds,
            use_tls=s.security == "ssl", start_tls=s.security == "starttls",
            validate_certs=not s.insecure_skip_verify,
            tls_context=tls_context(s.insecure_skip_verify) if s.security != "none" else None,
        )

    async def _connected(self, index: int) -> aiosmtplib.SMTP:
        while len(self.pool) <= index:
            self.pool.append(self._client())
        client = self.pool[index]
        if not client.is_connected:
            client = self.pool[index] = self._client()
            self._warn_if_unverified()
            await client.connect()
            await self._login(client)
        return client

    async def _login(self, client: aiosmtplib.SMTP) -> None:
        s = self.settings
        if s.auth == "xoauth2" and self.tokens is not None:
            token = self.tokens.get()
            try:
                await client.auth_xoauth2(s.username, token)
            except aiosmtplib.SMTPAuthenticationError:
                # Revoked or expired early: run the token command again, and try once more.
                self.tokens.invalidate(token)
                await client.auth_xoauth2(s.username, self.tokens.get())
        elif s.username:
            await client.login(s.username, s.password)

    def _warn_if_unverified(self) -> None:
        # Every connect, as the IMAP side does: an insecure mode must stay loud.
        if self.settings.insecure_skip_verify and self.settings.security != "none":
            log.warning("smtp: certificate checks are OFF (smtp.insecure_skip_verify = true)")

    async def _send_one(self, index: int, env: Envelope) -> SendResult:
        try:
            client = await self._connected(index)
        except (PermanentError, aiosmtplib.SMTPAuthenticationError) as exc:
            if self.settings.auth != "xoauth2":
                if isinstance(exc, PermanentError):
                    raise  # a password that would cross in clear: refused, as before
                return SendResult(env.key, exc.code, f"connect/login: {exc.message}"[:300])
            # No token, or a fresh one refused: the mail waits (a 4xx-like retry) for the
            # token to work again; the admins were told when the command failed.
            self.pool[index] = self._client()
            return SendResult(env.key, None, f"xoauth2 login: {getattr(exc, 'message', exc)}"[:300])
        except aiosmtplib.SMTPResponseException as exc:
            return SendResult(env.key, exc.code, f"connect/login: {exc.message}"[:300])
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
            return SendResult(env.key, None, f"connect: {type(exc).__name__}: {exc}"[:300])
        try:
            errors, response = await client.sendmail(env.sender, list(env.recipients), env.raw)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            first = exc.recipients[0]
            return SendResult(env.key, first.code, f"recipient refused: {first.message}"[:300])
        except aiosmtplib.SMTPResponseException as exc:
            await _reset(client)
            return SendResult(env.key, exc.code, exc.message[:300])
        except (TimeoutError, aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError, OSError) as exc:
            self.pool[index] = self._client()
            # The connection died during the transaction: the server may hold the mail.
            return SendResult(env.key, None, f"{type(exc).__name__}: {exc}"[:300], ambiguous=True)
        except aiosmtplib.SMTPException as exc:
            self.pool[index] = self._client()
            return SendResult(env.key, None, f"{type(exc).__name__}: {exc}"[:300])
        except UnicodeEncodeError:
            # A non-ASCII address (an EAI mailbox, or a lookalike kept unfolded) cannot go
            # into MAIL/RCPT without SMTPUTF8: a permanent failure of this mail, not of the
            # outbox pass. The transaction was left half-open, so the connection is dropped.
            self.pool[index] = self._client()
            return SendResult(env.key, 553, "address is not ASCII; SMTPUTF8 is not used")
        return SendResult(env.key, 250, response[:300] if isinstance(response, str) else "ok")

    async def _send_all(self, envelopes: list[Envelope],
                        on_result: Callable[[SendResult], None] | None = None) -> list[SendResult]:
        queue: asyncio.Queue[Envelope] = asyncio.Queue()
        for env in envelopes:
            queue.put_nowait(env)
        results: list[SendResult] = []

        async def worker(index: int) -> None:
            while not queue.empty():
                env = queue.get_nowait()
                result = await self._send_one(index, env)
                results.append(result)
                if on_result is not None:
                    # Before the next mail: the caller records this one's outcome at once.
                    on_result(result)

        workers = min(self.settings.connections, len(envelopes)) or 1
        await asyncio.gather(*(worker(i) for i in range(workers)))
        return results

    def send_many(self, envelopes: list[Envelope],
                  on_result: Callable[[SendResult], None] | None = None) -> list[SendResult]:
        """Send each envelope; `on_result` hears each outcome as soon as the server gives it."""
        if not envelopes:
            return []
        return self.loop.run_until_complete(self._send_all(envelopes, on_result))

    def check(self) -> str:
        """Connect (and log in) once; returns the server greeting for `oneassist check`."""
        async def probe() -> str:
            client = self._client()
            self._warn_if_unverified()
            response = await client.connect()
            await self._login(client)
            await client.quit()
            return response.message

        return self.loop.run_until_complete(probe())

    def close(self) -> None:
        async def quit_all() -> None:
            for client in self.pool:
                if client.is_connected:
                    try:
                        await client.quit()
                    except (aiosmtplib.SMTPException, OSError):
                        client.close()

        try:
            self.loop.run_until_complete(quit_all())
        finally:
            self.pool = []
            self.loop.close()


async def _reset(client: aiosmtplib.SMTP) -> None:
    try:
        await client.rset()
    except (aiosmtplib.SMTPException, OSError):
        client.close()
