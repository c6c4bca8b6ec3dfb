"""IMAP edge: connect, list, fetch with BODY.PEEK, move, and wait with IDLE.

Returns plain values (UIDVALIDITY, UIDs, raw bytes); it decides nothing about
what a mail means. Certificates are verified unless the config explicitly
says otherwise, and then a warning is logged every connect.
"""

from __future__ import annotations

import logging
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import imapclient
from imapclient.exceptions import IMAPClientError

from daemon.config import ImapSettings, plaintext_auth_refusal
from daemon.core.errors import PermanentError, TransientError
from store.spool import Fetched

log = logging.getLogger("oneassist.imap")

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
    def __init__(self, settings: ImapSettings, timeout: float = 60.0) -> None:
        self.settings = settings
        self.timeout = timeout
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
            if s.oauth2_token_command:
                client.oauth2_login(s.username, _run_token_command(s.oauth2_token_command))
            else:
                client.login(s.username, s.password)
        except imapclient.exceptions.LoginError as exc:
            raise PermanentError(f"imap: login refused for imap.username: {_short(exc)}") from None
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

    def wait(self, seconds: float, stop: Callable[[], bool]) -> bool:
        """Block until the server reports a change, `seconds` pass, or stop() is true."""
        deadline = time.monotonic() + seconds
        c = self._c()
        if not (self.settings.idle and b"IDLE" in self.capabilities):
            while time.monotonic() < deadline and not stop():
                time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
            return False
        if self.arrived_since_listed():
            return True
        try:
            c.idle()
            try:
                while time.monotonic() < deadline and not stop():
                    timeout = min(1.0, max(0.05, deadline - time.monotonic()))
                    started = time.monotonic()
                    responses = c.idle_check(timeout=timeout)
                    if any(r[1] in (b"EXISTS", b"RECENT") for r in responses if len(r) > 1):
                        return True
                    if not responses and time.monotonic() - started < timeout / 2 and _closed(c.socket()):
                        # imapclient's idle_check swallows EOF and a reset and returns [] at once:
                        # the loop spun a core until the IDLE renewal, 25 minutes, fetching nothing
                        # (the soak bench found it after an IMAP reset; docs/reliability.md case 4).
                        self.client = None
                        raise TransientError("imap: the server closed the IDLE connection")
            finally:
                c.idle_done()
        except NETWORK_ERRORS as exc:
            raise TransientError(f"imap: IDLE failed: {_short(exc)}") from None
        return False

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


def _run_token_command(command: str) -> str:
    done = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise PermanentError(f"imap.oauth2_token_command exited with {done.returncode}")
    return done.stdout.strip()


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text[:200]
