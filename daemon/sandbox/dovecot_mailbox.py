"""The sandbox Dovecot's mailboxes as a test reads them: IMAP APPEND, fetch, flags, status.

MailboxAccess is the IMAP half of DovecotServer: one cached, logged-in connection per
user behind a lock, so an SMTP sink thread can deliver while the test thread reads, and a
connection that died (restart, index rebuild) is replaced once without failing the call.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError

from daemon.sandbox.dovecot_config import DovecotError, user_name

_APPENDUID_RE = re.compile(rb"\[APPENDUID (\d+) (\d+)\]")

_T = TypeVar("_T")


class MailboxAccess:
    """IMAP helpers over the users of one running server; DovecotServer supplies the rest."""

    host: str
    users_dir: Path
    _lock: threading.RLock
    _clients: dict[str, IMAPClient]
    _passwords: dict[str, str]

    @property
    def imap_port(self) -> int:
        raise NotImplementedError

    def connect(self, email: str) -> IMAPClient:
        """A new logged-in IMAP connection of the caller's own (for IDLE, SELECT state...)."""
        user = user_name(email)
        client = IMAPClient(self.host, self.imap_port, ssl=False, timeout=30)
        try:
            client.login(user, self._password(user))
        except Exception:
            logout_quietly(client)
            raise
        return client

    def append(
        self,
        user: str,
        raw: bytes,
        folder: str = "INBOX",
        flags: Iterable[str | bytes] = (),
        internaldate: datetime | None = None,
    ) -> int:
        """APPEND one raw mail (creating `folder` if needed); returns its UID (APPENDUID)."""

        def op(client: IMAPClient) -> bytes:
            try:
                return client.append(folder, raw, flags=tuple(flags), msg_time=internaldate)
            except IMAPClientError as exc:
                # Dovecot answers "NO [TRYCREATE]" for a folder that does not exist yet.
                if "TRYCREATE" not in str(exc):
                    raise
            client.create_folder(folder)
            return client.append(folder, raw, flags=tuple(flags), msg_time=internaldate)

        response = self._with_client(user, op)
        match = _APPENDUID_RE.search(response)
        if match is None:
            raise DovecotError(f"APPEND answered without APPENDUID: {response!r}")
        return int(match.group(2))

    def messages(self, user: str, folder: str = "INBOX") -> list[bytes]:
        """Every mail in `folder` as raw bytes (BODY.PEEK[], so \\Seen is untouched), by UID."""

        def op(client: IMAPClient) -> list[bytes]:
            client.select_folder(folder, readonly=True)
            uids = client.search("ALL")
            if not uids:
                return []
            fetched = client.fetch(uids, [b"BODY.PEEK[]"])
            return [fetched[uid][b"BODY[]"] for uid in sorted(fetched)]

        return self._with_client(user, op)

    def folder_uids(self, user: str, folder: str = "INBOX") -> list[int]:
        def op(client: IMAPClient) -> list[int]:
            client.select_folder(folder, readonly=True)
            return sorted(int(uid) for uid in client.search("ALL"))

        return self._with_client(user, op)

    def uidvalidity(self, user: str, folder: str = "INBOX") -> int:
        status = self._with_client(user, lambda c: c.folder_status(folder, [b"UIDVALIDITY"]))
        return int(status[b"UIDVALIDITY"])

    def mark_seen(self, user: str, uids: Iterable[int], folder: str = "INBOX") -> None:
        """Set \\Seen as another mail client would (docs/reliability.md case 6)."""
        wanted = list(uids)
        if not wanted:
            return

        def op(client: IMAPClient) -> None:
            client.select_folder(folder)
            client.add_flags(wanted, [b"\\Seen"], silent=True)
            client.unselect_folder()

        self._with_client(user, op)

    def _with_client(self, email: str, op: Callable[[IMAPClient], _T]) -> _T:
        """Run `op` on the user's cached connection, reconnecting once if it died.

        The connection dies on restart() and when Dovecot drops sessions after an index
        rebuild; both are normal in these tests and must not fail the next helper call.
        """
        user = user_name(email)
        with self._lock:
            for attempt in (1, 2):
                client = self._clients.get(user)
                if client is None:
                    client = self.connect(user)
                    self._clients[user] = client
                try:
                    return op(client)
                except (IMAPClientAbortError, OSError):
                    self._clients.pop(user, None)
                    logout_quietly(client)
                    if attempt == 2:
                        raise
        raise AssertionError("unreachable")

    def _drop_clients(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            logout_quietly(client)

    def _password(self, user: str) -> str:
        if user in self._passwords:
            return self._passwords[user]
        # A user added by an earlier DovecotServer on the same base_dir (sandbox restart).
        try:
            line = (self.users_dir / user).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise DovecotError(f"no mailbox user {user!r}; call add_user() first") from None
        secret = line.split(":", 2)[1]
        return secret.removeprefix("{PLAIN}")


def logout_quietly(client: IMAPClient) -> None:
    with contextlib.suppress(Exception):
        client.logout()
    with contextlib.suppress(Exception):
        client.shutdown()
