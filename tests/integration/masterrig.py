"""`oneassist run` (the master and its runners) as a process under test, and a TCP proxy that can
drop a connection without closing it.

The master's log goes to a file so a test can read the runners' pids while it runs;
systemd's notify socket is ours, so READY, WATCHDOG and STATUS can be asserted on.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from tests.integration.deskrig import ROOT


def wait_until(check: Callable[[], object], timeout: float, what: str, poll: float = 0.1) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f} s: {what}")
        time.sleep(poll)


class Notifications:
    """A NOTIFY_SOCKET of our own: every datagram the master sends, with its arrival time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.got: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._listen, daemon=True).start()

    def _listen(self) -> None:
        while not self._closed:
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.got.append((time.monotonic(), data.decode()))

    def lines(self, prefix: str, since: float = 0.0) -> list[tuple[float, str]]:
        with self._lock:
            return [(at, line) for at, text in self.got if at >= since
                    for line in text.split("\n") if line.startswith(prefix)]

    def close(self) -> None:
        self._closed = True
        self.sock.close()


class MasterProcess:
    def __init__(self, desk, tmp: Path, env: dict[str, str] | None = None, watchdog_usec: int | None = None) -> None:
        self.log_path = tmp / f"master-{time.monotonic_ns()}.log"
        self.notes = Notifications(tmp / f"notify-{time.monotonic_ns()}.sock")
        full = {**os.environ, "PYTHONPATH": str(ROOT), "NOTIFY_SOCKET": str(self.notes.path)}
        for name in ("ONEASSIST_CRASH_AT", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM"):
            full.pop(name, None)
        if watchdog_usec:
            full["WATCHDOG_USEC"] = str(watchdog_usec)
        full.update(env or {})
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "daemon", "--config", str(desk.config_path), "run"],
                                         cwd=ROOT, env=full, stdin=subprocess.DEVNULL, stdout=log, stderr=log)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def pids(self, runner: str) -> list[int]:
        """Every pid runner `runner` had, in order of start."""
        return [int(p) for p in re.findall(rf"runner {re.escape(runner)} started \(pid (\d+)\)", self.log())]

    def pid(self, runner: str, timeout: float = 30) -> int:
        wait_until(lambda: self.pids(runner), timeout, f"runner {runner} started")
        return self.pids(runner)[-1]

    def wait_ready(self, timeout: float = 60) -> None:
        wait_until(lambda: self.notes.lines("READY=1") or self.proc.poll() is not None, timeout, "READY=1")
        assert self.proc.poll() is None, self.log()[-3000:]

    def stop(self, timeout: float = 30) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"the master did not stop within {timeout:.0f} s:\n{self.log()[-3000:]}") from None
        self.notes.close()
        return self.log()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes (its parent has not reaped it yet).
    with contextlib.suppress(OSError):
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    return False


class BlackholeProxy:
    """TCP on loopback to `port`; blackhole() makes every open connection silent, not closed.

    After blackhole() the connections open at that moment forward nothing in either
    direction, and nothing is closed: what a NAT or a firewall that dropped its state
    does. Connections made later are forwarded normally.
    """

    def __init__(self, port: int) -> None:
        self.upstream = port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.generation = 0
        self.connections = 0
        self._open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.upstream))
            self.connections += 1
            self._open += [client, server]
            born = self.generation
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b, born), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, born: int) -> None:
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                return
            if not data:
                with contextlib.suppress(OSError):
                    dst.shutdown(socket.SHUT_WR)
                return
            if self.generation != born:
                return  # silenced: stop reading and forwarding, keep both sockets open
            with contextlib.suppress(OSError):
                dst.sendall(data)

    def blackhole(self) -> None:
        self.generation += 1

    def close(self) -> None:
        self.listener.close()
        for sock in self._open:
            with contextlib.suppress(OSError):
                sock.close()
