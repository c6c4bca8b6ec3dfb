"""The daemon under measurement: its process, its log and its store, seen from outside.

- `DaemonProcess`: `python -m daemon --config X run` as its own process, its readiness
  from sd_notify READY=1 on a socket of ours, and its peak RSS from /proc/PID/status.
- `StoreReader`: the daemon's SQLite store opened read-only, for polling.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from tests.integration.deskrig import ROOT


class DaemonProcess:
    """`python -m daemon --config X run`: the real service (IDLE, outbox thread), not --once.

    Its stderr goes to a file (a pipe would fill up and block the daemon). READY=1 comes
    through NOTIFY_SOCKET, which the daemon sends once its fetch and outbox threads run.
    """

    def __init__(self, config: Path, log_path: Path, extra: Iterable[str] = ()) -> None:
        self.config = config
        self.log_path = log_path
        self.extra = list(extra)
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at: float | None = None
        self.ready_at: float | None = None
        # The desk is a master and its runners (issue 11): VmHWM per process, by runner name,
        # and the largest sum of VmRSS over all of them seen at one sample.
        self.peak_rss_kb = 0
        self.process_peaks_kb: dict[str, int] = {}
        self.desk_rss_peak_kb = 0
        self.process_cpu: dict[str, float] = {}  # CPU seconds per process, as last sampled
        self._notify_path = log_path.with_name("notify.sock")
        self._notify: socket.socket | None = None
        self._listener: threading.Thread | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> DaemonProcess:
        self._notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        with contextlib.suppress(FileNotFoundError):
            self._notify_path.unlink()
        self._notify.bind(str(self._notify_path))
        self._listener = threading.Thread(target=self._listen, name="sd-notify", daemon=True)
        self._listener.start()
        env = {**os.environ, "PYTHONPATH": str(ROOT), "NOTIFY_SOCKET": str(self._notify_path)}
        for name in ("ONEASSIST_CRASH_AT", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM"):
            env.pop(name, None)
        with open(self.log_path, "ab") as log:
            self.started_at = time.monotonic()
            self.proc = subprocess.Popen(
                [sys.executable, *self.extra, "-m", "daemon", "--config", str(self.config), "run"],
                cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            )
        return self

    def _listen(self) -> None:
        assert self._notify is not None
        while True:
            try:
                data = self._notify.recv(4096)
            except OSError:
                return
            if b"READY=1" in data.split(b"\n") and self.ready_at is None:
                self.ready_at = time.monotonic()

    def wait_ready(self, timeout: float = 30.0) -> float:
        """Seconds from Popen to READY=1."""
        deadline = time.monotonic() + timeout
        while self.ready_at is None:
            self.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(f"the daemon sent no READY=1 within {timeout:.0f} s:\n{self.log_tail()}")
            time.sleep(0.01)
        assert self.started_at is not None
        return self.ready_at - self.started_at

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"the daemon exited with {self.proc.returncode}:\n{self.log_tail()}")

    def sample_rss(self) -> tuple[int, int]:
        """(VmRSS summed over the desk's processes, the largest sum so far) in KiB.

        Also keeps each process's VmHWM (its own peak) by name: "master", "fetch",
        "ingest-1", "outbox", "scheduler". `peak_rss_kb` is the sum of those peaks, an upper
        bound of what the whole desk held at once.
        """
        from bench.cpu import child_pids, own_cpu_seconds

        total = 0
        for pid in [self.pid, *child_pids(self.pid)]:
            rss, hwm, name = _proc_memory(pid)
            if name is None:
                continue
            self.process_cpu[name] = own_cpu_seconds(pid) or self.process_cpu.get(name, 0.0)
            total += rss
            self.process_peaks_kb[name] = max(self.process_peaks_kb.get(name, 0), hwm)
        self.desk_rss_peak_kb = max(self.desk_rss_peak_kb, total)
        self.peak_rss_kb = sum(self.process_peaks_kb.values())
        return total, self.desk_rss_peak_kb

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait; returns the exit code (a SIGKILL after `timeout` gives -9)."""
        code = 0
        if self.proc is not None and self.proc.poll() is None:
            self.sample_rss()
            self.proc.send_signal(signal.SIGTERM)
            try:
                code = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                code = self.proc.wait()
        elif self.proc is not None:
            code = self.proc.returncode
        if self._notify is not None:
            self._notify.close()
            self._notify = None
        with contextlib.suppress(FileNotFoundError):
            self._notify_path.unlink()
        return code

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def log_problems(self) -> list[str]:
        """WARNING and worse events of the daemon's log (one event per line, tracebacks indented)."""
        return [line for line in self.log_text().splitlines()
                if re.search(r" (WARNING|ERROR|CRITICAL) ", line)]

    def log_problem_kinds(self) -> dict[str, int]:
        """The same events grouped: 'LEVEL logger: message (last exception line)' -> count.

        Numbers (ids, seconds, attempts) are folded to N so that repeats group together.
        """
        kinds: dict[str, int] = {}
        event: str | None = None
        cause = ""

        def close() -> None:
            if event is not None:
                key = event + (f" ({cause})" if cause else "")
                kinds[key] = kinds.get(key, 0) + 1

        for line in self.log_text().splitlines():
            if line.startswith(" "):
                text = line.strip()
                if text and re.match(r"^[\w.]+(Error|Exception|Timeout\w*|Exit)\b", text):
                    cause = text[:160]
                continue
            close()
            event, cause = None, ""
            match = re.search(r" (WARNING|ERROR|CRITICAL) (\S+) (.*)$", line)
            if match:
                event = re.sub(r"\d+", "N", f"{match.group(1)} {match.group(2)} {match.group(3)}")[:160]
        close()
        return dict(sorted(kinds.items(), key=lambda kv: -kv[1]))


def _proc_memory(pid: int) -> tuple[int, int, str | None]:
    """(VmRSS, VmHWM) in KiB and the runner's name, or name None when the process is gone."""
    rss = hwm = 0
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            args = cmdline.read().decode(errors="replace").split("\0")
    except (FileNotFoundError, ProcessLookupError):
        return 0, 0, None
    if "daemon.runners" not in args:
        return rss, hwm, "master"
    runner = args[args.index("daemon.runners") + 1]
    if "--index" in args:
        runner += "-" + args[args.index("--index") + 1]
    return rss, hwm, runner


class StoreReader:
    """The daemon's SQLite store, opened read-only (mode=ro): polling never writes or locks it."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0, check_same_thread=False)

    def scalar(self, sql: str, *args: object) -> int:
        row = self.db.execute(sql, args).fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def tally(self, sql: str) -> dict[str, int]:
        return {str(k): int(v) for k, v in self.db.execute(sql).fetchall()}

    def entries_in(self) -> int:
        return self.scalar("SELECT count(*) FROM message WHERE direction = 'in'")

    def spooled(self) -> int:
        return self.scalar("SELECT count(*) FROM spool_entry")

    def close(self) -> None:
        self.db.close()
