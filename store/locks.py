"""Who may do what on a shared store: one daemon per SQLite file, one fetcher per mailbox.

SQLite: the daemon that runs holds an exclusive flock on `<store file>.lock` for its
lifetime. A second daemon on the same file stops at start with an error that says so;
the kernel drops the lock when the holder dies, however it dies. Holding it, a daemon
knows no other one works on the store, so leases left by its own earlier life are free.

PostgreSQL: several daemons share one store, and the intake mailbox is fetched by one of
them at a time. FetchLock holds a session advisory lock on a connection of its own
(pg_try_advisory_lock); PostgreSQL releases it when that connection ends, so a
`kill -9` or a lost host frees it: the first at once (the socket closes), the second
once TCP keepalives (set short on the session) find the peer gone. Standbys try again
every few seconds.
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path

from daemon.core.errors import OneAssistError
from store.db import PRIVATE_FILE

log = logging.getLogger("oneassist.store")

# The first int of the two-int advisory lock key: the fetch lock (store/claims.py uses another).
FETCH_LOCK_CLASS = 0x0A50
# The server ends the session of a peer that stopped answering after about 5 + 2 * 3 s.
SESSION_KEEPALIVES = ("SET tcp_keepalives_idle = 5", "SET tcp_keepalives_interval = 2",
                      "SET tcp_keepalives_count = 3")


class StoreBusy(OneAssistError):
    """Another daemon owns this SQLite store."""


def sqlite_path(url: str) -> Path | None:
    """The file of a sqlite:///PATH URL; None for PostgreSQL and in-memory stores."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        return Path(url[len("sqlite:///"):])
    return None


class StoreLock:
    """The flock of the one daemon on a SQLite store (nothing to hold on PostgreSQL)."""

    def __init__(self, url: str) -> None:
        path = sqlite_path(url)
        self.path = path.with_name(path.name + ".lock") if path else None
        self.fd: int | None = None

    @property
    def exclusive(self) -> bool:
        """Is this the only daemon on the store (SQLite, lock held)?"""
        return self.fd is not None

    def acquire(self) -> StoreLock:
        if self.path is None:
            return self
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, PRIVATE_FILE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            raise StoreBusy(f"another oneassist daemon{f' (pid {holder})' if holder else ''} is running on the "
                            f"store {self.path.with_suffix('')}: stop it first (systemctl stop oneassist). "
                            "Several daemons need a PostgreSQL store (README: Scaling)") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the descriptor drops the flock
            self.fd = None


def _read_pid(fd: int) -> str:
    try:
        return os.pread(fd, 16, 0).decode("ascii", "replace").strip()
    except OSError:
        return ""


class FetchLock:
    """The fetch lock of one mailbox on a PostgreSQL store, on a connection of its own."""

    def __init__(self, url: str, mailbox: str, node: str) -> None:
        self.url = url.replace("postgres://", "postgresql://", 1)
        self.mailbox = mailbox
        self.node = node
        self.conn = None
        self._spare = None

    @property
    def held(self) -> bool:
        return self.conn is not None

    def try_acquire(self) -> bool:
        """Take the lock if it is free; False when another daemon holds it (or the store is away)."""
        if self.conn is not None:
            return self.alive()
        import psycopg2

        conn = self._spare or self._connect()
        if conn is None:
            return False
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))", (FETCH_LOCK_CLASS, self.mailbox))
                got = bool(cur.fetchone()[0])
        except psycopg2.Error as exc:
            log.warning("fetch lock: %s", str(exc).strip()[:200])
            conn.close()
            self._spare = None
            return False
        if not got:
            # Kept for the next try: a standby does not open a session every few seconds.
            self._spare = conn
            return False
        self.conn, self._spare = conn, None
        log.info("fetch lock of %s taken by %s", self.mailbox, self.node)
        return True

    def _connect(self):  # noqa: ANN202 - a psycopg2 connection
        import psycopg2

        try:
            conn = psycopg2.connect(self.url, application_name=f"oneassist fetch-lock {self.node}"[:63],
                                    keepalives=1, keepalives_idle=5, keepalives_interval=2, keepalives_count=3,
                                    connect_timeout=10)
        except psycopg2.Error as exc:
            log.warning("fetch lock: cannot reach the store: %s", str(exc).strip()[:200])
            return None
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                for statement in SESSION_KEEPALIVES:
                    cur.execute(statement)
        except psycopg2.Error:
            conn.close()
            return None
        return conn

    def alive(self) -> bool:
        """Is the lock still ours? A lost connection lost the lock: stop fetching."""
        if self.conn is None:
            return False
        import psycopg2

        try:
            with self.conn.cursor() as cur:
                cur.execute("SELECT 1")
                cur.fetchone()
            return True
        except psycopg2.Error:
            log.warning("fetch lock of %s lost (its connection ended); fetching stops", self.mailbox)
            self.release()
            return False

    def release(self) -> None:
        held, self.conn = self.conn, None
        spare, self._spare = self._spare, None
        for conn in (held, spare):
            if conn is None:
                continue
            try:
                conn.close()  # the session ends: PostgreSQL releases its advisory locks
            except Exception:  # noqa: BLE001 - already gone is released too
                pass
