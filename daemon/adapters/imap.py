"""IMAP edge: connect, list, fetch with BODY.PEEK, move, and wait with IDLE.

Returns plain values (UIDVALIDITY, UIDs, raw bytes); it decides nothing about
what a mail means. Certificates are verified unless the config explicitly
says otherwise, and then a warning is logged every connect.
"""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import TypeVar

import imapclient
from imapclient.exceptions import IMAPClientError

from daemon.adapters.oauth2 import TokenSource
from daemon.config import ImapSettings, plaintext_auth_refusal
from daemon.core.errors import PermanentError, TransientError
from store.spool import Fetched

T = TypeVar("T")

log = logging.getLogger("oneassist.imap")
# A bytes repr inside a message (`b'...'` or `b"..."`), as imaplib writes server replies.
_BYTES_REPR = re.compile(r"""\bb(['"])(.*?)\1""")

# Keep one FETCH response well below the daemon's memory budget.
MAX_FETCH_BYTES = 2 * 1024 * 1024
NETWORK_ERRORS = (OSError, socket.timeout, ssl.SSLError, IMAPClientError, EOFError)


def tls_context(insecure: bool) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class ImapMailbox:
    def __init__(self, settings: ImapSettings, timeout: float = 60.0, tokens: TokenSource | None = None) -> None:
        self.settings = settings
        self.timeout = timeout
        # XOAUTH2: the daemon passes its long-lived TokenSource (the token outlives a
        # connection); `check` and scripts get one of their own.
        if settings.oauth2_token_command and tokens is None:
            tokens = TokenSource("imap", settings.oauth2_token_command, lambda: datetime.now(UTC))
        self.tokens = tokens
        self.client: imapclient.IMAPClient | None = None
        self.capabilities: frozenset[bytes] = frozenset()
        # The highest UID list_uids() returned: wait() compares against it (see there).
        self.listed_up_to = 0
        self.arrived: dict[int, datetime | None] = {}

    @property
    def account(self) -> str:
        return f"{self.settings.username}@{self.settings.host}:{self.settings.port}"

    def connect(self) -> None:
        s = self.settings
        # The config refuses this already; checked again here because Settings can be built
        # without the config (tests, replace()), and a password must never cross in clear.
        refusal = plaintext_auth_refusal("imap", s)
        if refusal:
            raise PermanentError(f"imap: {refusal}")
        if s.insecure_skip_verify and s.security != "none":
            log.warning("imap: certificate checks are OFF (imap.insecure_skip_verify = true)")
        try:
            # Building a TLS context loads the CA store (~20 ms): only when TLS is used.
            context = tls_context(s.insecure_skip_verify) if s.security != "none" else None
            client = imapclient.IMAPClient(s.host, port=s.port, ssl=s.security == "ssl",
                                           ssl_context=context, timeout=self.timeout)
            if s.security == "starttls":
                client.starttls(context)
            # Aware datetimes: the SLA clock starts at INTERNALDATE, in any zone.
            client.normalise_times = False
            if self.tokens is not None:
                _oauth2_login(client, s.username, self.tokens)
            else:
                client.login(s.username, s.password)
        except imapclient.exceptions.LoginError as exc:
            secret = "imap.oauth2_token_command" if s.oauth2_token_command else "imap.password"
            raise PermanentError(f"imap: the server refused the login of imap.username = {s.username}: "
                                 f"{_short(exc)}; check imap.username and {secret}") from None
        except NETWORK_ERRORS as exc:
            raise TransientError(f"imap: cannot connect to {s.host}:{s.port}: {_short(exc)}") from None
        self.client = client
        self.capabilities = frozenset(client.capabilities())
        for folder in (s.processed_folder, s.quarantine_folder):
            if folder and not client.folder_exists(folder):
                try:
                    client.create_folder(folder)
                except IMAPClientError as exc:
                    # Another daemon may have created it a moment ago.
                    if not client.folder_exists(folder):
                        raise TransientError(f"imap: cannot create folder {folder}: {_short(exc)}") from None
        log.info("imap: connected to %s:%s (idle=%s move=%s)", s.host, s.port,
                 b"IDLE" in self.capabilities, b"MOVE" in self.capabilities)

    def _c(self) -> imapclient.IMAPClient:
        if self.client is None:
            raise TransientError("imap: not connected")
        return self.client

    def select(self) -> int:
        """Select the intake folder read-write; returns its UIDVALIDITY."""
        info = self._guard(lambda c: c.select_folder(self.settings.folder))
        return int(info[b"UIDVALIDITY"])

    def list_uids(self) -> list[int]:
        # Every message still in the intake folder, read or not: we never rely on \Seen.
        uids = sorted(self._guard(lambda c: c.search(["NOT", "DELETED"])))
        self.listed_up_to = max(uids[-1] if uids else 0, self.listed_up_to)
        return uids

    def arrived_since_listed(self) -> bool:
        """A mail came in after the last list_uids(), though no IDLE was running to hear of it.

        Dovecot reports a new mail once, in the untagged EXISTS of whichever command runs
        next (a MOVE, a FETCH); imapclient drops those, and IDLE started afterwards hears
        nothing, so the mail would wait for the IDLE renewal (25 minutes). The soak bench
        found it: under steady load the last mails of a burst waited for the renewal.
        """
        uids = self._guard(lambda c: c.search(["NOT", "DELETED"]))
        return any(uid > self.listed_up_to for uid in uids)

    def sizes(self, uids: list[int]) -> dict[int, int]:
        """RFC822.SIZE of each UID; their INTERNALDATEs are kept in `self.arrived` on the way."""
        if not uids:
            return {}
        data = self._guard(lambda c: c.fetch(uids, ["RFC822.SIZE", "INTERNALDATE"]))
        self.arrived = {uid: _aware(v.get(b"INTERNALDATE")) for uid, v in data.items()}
        return {uid: int(v[b"RFC822.SIZE"]) for uid, v in data.items()}

    def batches(self, uids: list[int], sizes: dict[int, int], count: int) -> Iterator[list[int]]:
        batch: list[int] = []
        total = 0
        for uid in uids:
            size = sizes.get(uid, 0)
            if batch and (len(batch) >= count or total + size > MAX_FETCH_BYTES):
                yield batch
                batch, total = [], 0
            batch.append(uid)
            total += size
        if batch:
            yield batch

    def fetch(self, uids: list[int], sizes: dict[int, int]) -> list[Fetched]:
        data = self._guard(lambda c: c.fetch(uids, ["BODY.PEEK[]", "INTERNALDATE"]))
        items = []
        for uid in uids:
            if uid not in data:
                continue  # expunged by someone else meanwhile
            raw = data[uid].get(b"BODY[]") or b""
            if uid in sizes and len(raw) != sizes[uid]:
                # A cut connection must never leave a truncated mail in the spool (docs/reliability.md case 3).
                raise TransientError(f"imap: uid {uid} came back {len(raw)} of {sizes[uid]} bytes")
            items.append(Fetched(uid=uid, raw=raw, internaldate=_aware(data[uid].get(b"INTERNALDATE"))))
        return items

    def move(self, uids: list[int], folder: str) -> None:
        """MOVE where the server has it, else COPY + \\Deleted + (UID) EXPUNGE."""
        if not uids:
            return
        if b"MOVE" in self.capabilities:
            self._guard(lambda c: c.move(uids, folder))
            return

        def copy_delete(c: imapclient.IMAPClient) -> None:
            c.copy(uids, folder)
            c.delete_messages(uids)
            if b"UIDPLUS" in self.capabilities:
                c.uid_expunge(uids)
            else:
                c.expunge()

        self._guard(copy_delete)

    def wait(self, seconds: float, stop: Callable[[], bool],
             proven: Callable[[], None] | None = None) -> bool:
        """Block until the server reports a change, `seconds` pass, or stop() is true.

        Every imap.liveness_seconds the connection is proven (DONE, NOOP, each reply within
        imap.liveness_timeout_seconds), `proven` is called and True returned, so the caller
        looks at the mailbox once more before it waits again: a connection a proxy or NAT
        dropped without a FIN or RST would otherwise wait in IDLE for ever (issue 11).
        """
        deadline = time.monotonic() + seconds
        c = self._c()
        every = self.settings.liveness_seconds
        try:
            if not (self.settings.idle and b"IDLE" in self.capabilities):
                proof_at = time.monotonic() + every
                while time.monotonic() < deadline and not stop():
                    time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
                    if time.monotonic() >= proof_at and not stop():
                        self._within_liveness(c, c.noop)
                        proof_at = time.monotonic() + every
                        if proven:
                            proven()
                return False
            # A short command on a connection that may be dead: its reply is due within the
            # liveness timeout, not the 60 s of a FETCH.
            if self._within_liveness(c, self.arrived_since_listed):
                return True
            self._within_liveness(c, c.idle)
            proof_at = min(deadline, time.monotonic() + every)
            news = False
            while time.monotonic() < proof_at and not stop():
                timeout = min(1.0, max(0.05, proof_at - time.monotonic()))
                started = time.monotonic()
                responses = c.idle_check(timeout=timeout)
                if any(r[1] in (b"EXISTS", b"RECENT") for r in responses if len(r) > 1):
                    news = True
                    break
                if not responses and time.monotonic() - started < timeout / 2 and _closed(c.socket()):
                    # imapclient's idle_check swallows EOF and a reset and returns [] at once:
                    # the loop spun a core until the IDLE renewal, 25 minutes, fetching nothing
                    # (the soak bench found it after an IMAP reset; docs/reliability.md case 4).
                    self.client = None
                    raise TransientError("imap: the server closed the IDLE connection")
            self._within_liveness(c, c.idle_done)
            if news or stop() or time.monotonic() >= deadline:
                return news
            self._within_liveness(c, c.noop)
            if proven:
                proven()
            return True
        except NETWORK_ERRORS as exc:
            # No LOGOUT on a connection that stopped answering: it would wait out the timeout.
            self.client = None
            with contextlib.suppress(Exception):
                c.shutdown()
            raise TransientError(f"imap: connection lost while waiting: {_short(exc)}") from None

    def _within_liveness(self, c: imapclient.IMAPClient, command: Callable[[], T]) -> T:
        """Run one short command whose reply must come within imap.liveness_timeout_seconds."""
        sock = c.socket()
        sock.settimeout(self.settings.liveness_timeout_seconds)
        try:
            return command()
        finally:
            sock.settimeout(self.timeout)

    def noop(self) -> None:
        self._guard(lambda c: c.noop())

    def close(self) -> None:
        if self.client is None:
            return
        try:
            self.client.logout()
        except Exception:  # noqa: BLE001 - closing a dead connection may fail in many ways
            try:
                self.client.shutdown()
            except Exception:  # noqa: BLE001
                pass
        self.client = None

    def _guard(self, action: Callable[[imapclient.IMAPClient], object]) -> object:
        try:
            return action(self._c())
        except NETWORK_ERRORS as exc:
            self.client = None
            raise TransientError(f"imap: {_short(exc)}") from None


def _closed(sock: socket.socket) -> bool:
    """True when the peer closed or reset the connection (nothing buffered, EOF or an error)."""
    try:
        previous = sock.gettimeout()
        sock.setblocking(False)
    except OSError:
        return True
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False  # open, nothing to read: select woke for a partial line
    except OSError:
        return True
    finally:
        try:
            sock.settimeout(previous)  # the read timeout imapclient set
        except OSError:
            pass


def _aware(value: object) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _oauth2_login(client: imapclient.IMAPClient, username: str, tokens: TokenSource) -> None:
    token = tokens.get()
    try:
        client.oauth2_login(username, token)
    except imapclient.exceptions.LoginError:
        # Revoked or expired early: run the token command again, and try once more.
        tokens.invalidate(token)
        client.oauth2_login(username, tokens.get())


def _short(exc: BaseException) -> str:
    """The server's words for a person: imaplib hands them over as bytes, whose str() is a
    Python repr (`b'[AUTHENTICATIONFAILED] ...'`), so bytes are decoded and reprs unwrapped."""
    parts = [arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(arg) for arg in exc.args]
    text = " ".join(p for p in parts if p) or str(exc) or type(exc).__name__
    text = _BYTES_REPR.sub(lambda m: m.group(2), text)
    return " ".join(text.split())[:200]
