"""The soak's faults, one every 5-10 minutes, and what the bench reads of the daemon meanwhile.

- `imap-reset`: the TCP proxy between the daemon and Dovecot resets every connection.
- `smtp-451`: the SMTP sink answers 451 to every transaction for 3 minutes.
- `kill-9`: SIGKILL to the daemon, then a new one is started. Before the restart the bench
  reads the store (read-only): an outbox row not marked sent whose Message-ID the sink
  already accepted is a kill that landed between the server's 250 and the outbox update,
  the one window where a duplicate is allowed (docs/reliability.md case 2).
- `store-lock`: another connection holds the SQLite write lock (BEGIN IMMEDIATE) for 30 s.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.daemon_process import DaemonProcess, StoreReader
from bench.soak_load import Ledger, norm
from daemon.sandbox.smtp import SmtpSink
from daemon.sandbox.tcp_proxy import TcpProxy

KINDS = ("imap-reset", "smtp-451", "kill-9", "store-lock")
SMTP_STORM_SECONDS = 180.0
STORE_LOCK_SECONDS = 30.0


@dataclass
class Faults:
    proxy: TcpProxy
    sink: SmtpSink
    db_path: Path
    seed: int
    log: list[dict[str, Any]] = field(default_factory=list)
    kills_in_window: int = 0
    _order: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def next_gap(self) -> float:
        return self.rng.uniform(300.0, 600.0)

    def draw(self) -> str:
        # Shuffled rounds of all four: random order, yet every kind comes up in an hour.
        if not self._order:
            self._order = list(KINDS)
            self.rng.shuffle(self._order)
        return self._order.pop()

    def inject(self, kind: str, minute: float, daemon: DaemonProcess, ledger: Ledger) -> DaemonProcess:
        entry: dict[str, Any] = {"kind": kind, "minute": round(minute, 2)}
        if kind == "imap-reset":
            entry["connections_reset"] = self.proxy.reset_all()
        elif kind == "smtp-451":
            self.sink.fail_next(451, count=None, message="4.3.2 soak: try again later")
            threading.Timer(SMTP_STORM_SECONDS, self.sink.clear_faults).start()
            entry["seconds"] = SMTP_STORM_SECONDS
        elif kind == "store-lock":
            threading.Thread(target=hold_write_lock, args=(self.db_path, STORE_LOCK_SECONDS),
                             name="store-lock", daemon=True).start()
            entry["seconds"] = STORE_LOCK_SECONDS
        elif kind == "kill-9":
            daemon, entry["in_250_window"] = self.kill(daemon, ledger)
            entry["new_pid"] = daemon.pid
        self.log.append(entry)
        return daemon

    def kill(self, daemon: DaemonProcess, ledger: Ledger) -> tuple[DaemonProcess, bool]:
        os.kill(daemon.pid, signal.SIGKILL)
        assert daemon.proc is not None
        daemon.proc.wait()
        daemon.stop()  # closes the notify socket; the process is gone already
        ledger.take(self.sink.take())
        reader = StoreReader(self.db_path)
        try:
            unsent = [norm(row[0]) for row in reader.db.execute(
                "SELECT message_id FROM outbox WHERE status IN ('sending', 'pending')").fetchall()]
        finally:
            reader.close()
        in_window = any(mid in ledger.outgoing_ids for mid in unsent)
        if in_window:
            self.kills_in_window += 1
        fresh = DaemonProcess(daemon.config, daemon.log_path)
        fresh.start()
        fresh.wait_ready(timeout=120)
        return fresh, in_window


def hold_write_lock(db_path: Path, seconds: float) -> None:
    """Another process's long write transaction, as a stuck backup or a manual UPDATE would hold."""
    db = sqlite3.connect(str(db_path), timeout=120)
    try:
        db.execute("BEGIN IMMEDIATE")
        time.sleep(seconds)
        db.execute("ROLLBACK")
    finally:
        db.close()


def observe(daemon: DaemonProcess, proxy: TcpProxy) -> dict[str, Any]:
    """RSS, open files and IMAP connections of the daemon now."""
    rss, _ = daemon.sample_rss()
    try:
        fds = len(os.listdir(f"/proc/{daemon.pid}/fd"))
    except OSError:
        fds = -1
    return {"pid": daemon.pid, "rss_mib": round(rss / 1024, 1), "open_files": fds, "imap_connections": proxy.live}
