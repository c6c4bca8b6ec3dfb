"""A runner's end of its link to the master of `oneassist run` (issue 11): heartbeats, kicks, wake-ups.

The master (daemon/master.py) gives each child one end of an AF_UNIX SOCK_SEQPACKET pair
and names its descriptor in ONEASSIST_LINK_FD; one packet is one JSON object.

- `beat(due, state, counts)`: "I made progress, and I promise the next beat within `due`
  seconds". The master feeds systemd's watchdog only while every child keeps its promise.
- `kick(stage)`: new work for another stage ("ingest" after a spooled batch, "outbox"
  after a mail that queued replies); the master passes it on as a wake-up.
- `wait(seconds)`: sleep until a wake-up, a stop signal, or the time is up.

Sends never block: a beat carries running totals, so a dropped one loses nothing, and a
dropped kick costs at most the receiver's poll interval. End of file on the link means
the master is gone (kill -9): the runner stops after the work in hand instead of running
on unsupervised. A runner started by hand (no ONEASSIST_LINK_FD) works alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import time
from collections.abc import Mapping

ENV = "ONEASSIST_LINK_FD"


class Link:
    def __init__(self, sock: socket.socket | None) -> None:
        self.sock = sock
        self.stopping = False
        # Signals interrupt wait() through this pipe: select() itself is restarted after a
        # handler (PEP 475), which would leave a stop request waiting for the timeout.
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)

    @classmethod
    def from_env(cls) -> Link:
        fd = os.environ.pop(ENV, "")
        if not fd.isdigit():
            return cls(None)
        sock = socket.socket(fileno=int(fd))
        sock.setblocking(False)
        return cls(sock)

    def install_signals(self) -> None:
        """SIGTERM stops the runner; SIGINT (Ctrl-C reaches the whole process group) is the master's."""
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, signal.SIG_IGN if self.sock is not None else self.stop)
        signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)

    def stop(self, *_: object) -> None:
        self.stopping = True
        with contextlib.suppress(OSError):  # full: a wake-up is pending anyway
            os.write(self._wake_w, b"s")

    # -- to the master -----------------------------------------------------------------

    def beat(self, due: float, state: str, counts: Mapping[str, int] | None = None) -> None:
        self._send({"beat": state, "due": round(due, 1), "counts": dict(counts or {})})

    def kick(self, stage: str) -> None:
        self._send({"kick": stage})

    def _send(self, message: dict[str, object]) -> None:
        if self.sock is None:
            return
        try:
            self.sock.send(json.dumps(message, separators=(",", ":")).encode())
        except BlockingIOError:
            pass  # the master is busy: the next beat carries the same totals
        except OSError:
            self.stopping = True  # the master is gone

    # -- from the master ---------------------------------------------------------------

    def poll(self) -> bool:
        """Take what the master sent without waiting; True when the runner should stop."""
        self._drain()
        return self.stopping

    def wait(self, seconds: float) -> bool:
        """Sleep until woken by the master, a signal, or `seconds`; True when woken by the master."""
        deadline = time.monotonic() + seconds
        watched = [self._wake_r] + ([self.sock] if self.sock is not None else [])
        while not self.stopping:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            ready, _, _ = select.select(watched, [], [], left)
            if self._wake_r in ready:
                with contextlib.suppress(BlockingIOError):
                    os.read(self._wake_r, 512)
            if self.sock is not None and self.sock in ready and self._drain():
                return True
        return False

    def _drain(self) -> bool:
        """Read every waiting packet; True if one was a wake-up. EOF: the master died."""
        if self.sock is None:
            return False
        woken = False
        while True:
            try:
                data = self.sock.recv(4096)
            except BlockingIOError:
                return woken
            except OSError:
                self.stopping = True
                return woken
            if not data:
                self.stopping = True
                return woken
            woken = True
