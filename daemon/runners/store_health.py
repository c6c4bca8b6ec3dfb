"""Whether the store can write, told once a minute and kept in a file beside it (docs/reliability.md case 8).

When the store cannot write (another connection holds the SQLite write lock, the disk
or RLIMIT_FSIZE is full, PostgreSQL dropped our connection) every loop of the daemon
would log the same traceback every second. Instead each loop reports to one
`StoreHealth`: the first failure and then at most one ERROR line per minute, whatever
the number of mails or loops, and one INFO line when writes work again.

The state goes to `<service.data_dir>/store-health.json`, a file of its own and not a
table: the store is what is broken. `read_store_health()` reads it for `oneassist status`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

log = logging.getLogger("oneassist.store")

STATE_FILE = "store-health.json"
LOG_EVERY_SECONDS = 60.0
# How soon a loop tries the store again: short, so the daemon resumes by itself.
RETRY_SECONDS = 5.0


class StoreHealth:
    def __init__(self, data_dir: Path, now: Callable[[], datetime]) -> None:
        self.path = data_dir / STATE_FILE
        self.now = now
        self._lock = threading.Lock()
        self.since: datetime | None = None
        self.failures = 0
        self.last_error = ""
        self.where = ""
        self._logged_at: datetime | None = None
        self._suppressed = 0
        prior = read_store_health(data_dir)
        if prior and prior.get("state") == "unavailable":
            # A daemon killed while the store was down: the file says so until writes work.
            with contextlib.suppress(TypeError, ValueError):
                self.since = datetime.fromisoformat(prior["since"])
                self.failures = int(prior.get("failures", 0))

    @property
    def failing(self) -> bool:
        return self.since is not None

    def failed(self, where: str, reason: str) -> None:
        """A loop could not use the store; `reason` is the driver's one-line message."""
        now = self.now()
        # Every runner process of the daemon reports to the same file: the minute's ERROR line
        # and the outage's start are the desk's, not each process's. Read, decide and write
        # under a lock on the file, or two runners failing at once would both log.
        with self._lock, _file_lock(self.path):
            shared = read_store_health(self.path.parent) or {}
            if shared.get("state") == "unavailable":
                with contextlib.suppress(TypeError, ValueError):
                    since = datetime.fromisoformat(shared["since"])
                    self.since = since if self.since is None else min(self.since, since)
                with contextlib.suppress(TypeError, ValueError):
                    logged = datetime.fromisoformat(shared["logged_at"])
                    self._logged_at = logged if self._logged_at is None else max(self._logged_at, logged)
            first = self.since is None
            if first:
                self.since = now
            self.failures += 1
            self.last_error, self.where = reason, where
            due = self._logged_at is None or (now - self._logged_at).total_seconds() >= LOG_EVERY_SECONDS
            if due:
                assert self.since is not None
                down = (now - self.since).total_seconds()
                log.error("store: cannot write (%s, in %s) for %.0f s; the mail stays on the IMAP server, "
                          "retrying every %.0f s (%s more failure(s) not logged)",
                          reason, where, down, RETRY_SECONDS, self._suppressed)
                self._logged_at, self._suppressed = now, 0
            else:
                self._suppressed += 1
            # Each failure updates the file (a few hundred bytes every RETRY_SECONDS); on a full
            # disk that fails too, and is said only with the minute's ERROR line.
            write_state(self.path, self._state(now), quiet=not (first or due))

    def ok(self, where: str) -> None:
        """Loop `where` has just written to the store; if it was failing, say once that it works.

        Callers pass only a real write as proof (a commit of theirs, or store.db.probe_write):
        under a write lock reads still work, and prove nothing. The minute's ERROR budget is
        not reset, so a store that flaps still logs at most one ERROR a minute.
        """
        if self.since is None:
            return
        now = self.now()
        with self._lock:
            if self.since is None:
                return
            down = (now - self.since).total_seconds()
            log.info("store: writes work again after %.0f s (%s failure(s), last in %s)", down, self.failures, where)
            self.since, self.failures, self._suppressed = None, 0, 0
            state = self._state(now)
        write_state(self.path, state)

    def _state(self, now: datetime) -> dict[str, Any]:
        return {"state": "unavailable" if self.since else "ok",
                "since": self.since.isoformat() if self.since else None,
                "failures": self.failures, "last_error": self.last_error if self.since else "",
                "where": self.where if self.since else "", "updated": now.isoformat(),
                "logged_at": self._logged_at.isoformat() if self.since and self._logged_at else None}


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An flock beside the state file, shared by the daemon's processes (none if it cannot be made)."""
    import fcntl

    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def write_state(path: Path, state: dict[str, Any], quiet: bool = False) -> None:
    """Atomically (a temp file renamed over it); on a full disk this may fail too, and is logged."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(prefix=".store-health.", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(state, out)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError as exc:
        if not quiet:
            log.warning("store: cannot write %s either: %s", path, exc.strerror or exc)


def read_store_health(data_dir: Path) -> dict[str, Any] | None:
    """The last state the daemon wrote: {"state": "ok"|"unavailable", "since", "failures",
    "last_error", "where", "updated"}; None if it never had to write one."""
    try:
        return dict(json.loads((data_dir / STATE_FILE).read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None
