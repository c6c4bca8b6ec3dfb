"""`oneassist run`: the master process and the runners it keeps alive (issue 11).

After GNU Mailman 3's master: the master does no mail work. It brings the schema up to
date, starts each runner as its own interpreter (`python -m daemon.runners NAME`, a fresh
process that imports only its stage, never a fork of this one), and then only watches:

- a runner that dies is started again after 1, 2, 4 ... 60 s (the count of deaths in the
  last 10 minutes sets the pause), and the admins get one alert when it died 3 times in
  those 10 minutes (daemon/runners/alerts.py, within the hourly alert cap);
- each runner promises its next heartbeat within some seconds (daemon/runners/loops.py);
  systemd's watchdog is fed only while every running child keeps its promise, within
  run.heartbeat_slack_seconds, so a wedged worker, a stuck sender or a dead IDLE connection
  stops the pings; a child late by run.stall_seconds is killed and started again;
- kicks pass between stages: a spooled batch wakes the ingest workers, a processed mail
  or a fired timer wakes the sender;
- SIGTERM stops the runners in the order mail flows: the fetcher first (nothing new comes
  in), then the ingest workers (each finishes the mail in hand), the scheduler, and the
  sender last, after one more pass over what is due (the drain).

STATUS= carries live counts (`systemctl status oneassist`). The runners' queues are the
store's tables, so a runner killed at any point loses nothing: the spool, the outbox and
the timers take it from where its last commit left it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime

from daemon.adapters import systemd
from daemon.config import Settings
from daemon.master_store import desk_line, free_claims, take_store
from daemon.runners.link import ENV as LINK_ENV

log = logging.getLogger("oneassist.master")

# Before its first beat a runner loads its imports and opens the store.
STARTUP_SECONDS = 60.0
RESTART_MIN, RESTART_MAX = 1.0, 60.0
DEATH_WINDOW_SECONDS = 600.0
ALERT_AFTER_DEATHS = 3
STOP_SECONDS = 8.0  # per stage; the unit's TimeoutStopSec must allow all four
STATUS_EVERY_SECONDS = 2.0
DESK_LINE_SECONDS = 30.0
# Only the master talks to systemd; a crash checkpoint fires once, in a runner's first life.
NOT_FOR_CHILDREN = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", LINK_ENV)
NOT_FOR_RESTARTS = ("ONEASSIST_CRASH_AT",)


@dataclass
class Child:
    runner: str
    index: int = 0
    proc: subprocess.Popen[bytes] | None = None
    sock: socket.socket | None = None
    lives: int = 0
    beat_at: float = 0.0
    due: float = STARTUP_SECONDS
    state: str = "starting"
    counts: dict[str, int] = field(default_factory=dict)
    beaten: bool = False
    deaths: deque[float] = field(default_factory=deque)
    restart_at: float | None = None
    alerted: bool = False
    late_logged: bool = False

    @property
    def name(self) -> str:
        return f"{self.runner}-{self.index}" if self.runner == "ingest" else self.runner

    def late_by(self, now: float) -> float:
        """Seconds past the promised next heartbeat (negative: not due yet)."""
        return now - (self.beat_at + self.due)


def exit_reason(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def restart_delay(deaths: int) -> float:
    """1, 2, 4 ... up to 60 s for the 1st, 2nd, 3rd ... death in the window."""
    return min(RESTART_MAX, RESTART_MIN * 2 ** max(0, deaths - 1))


def status_line(children: list[Child], restarts: int, now: float, slack: float) -> str:
    """The STATUS= text: what each stage did since the start, and who is late."""
    def total(runner: str) -> dict[str, int]:
        summed: dict[str, int] = {}
        for child in children:
            if child.runner == runner:
                for key, value in child.counts.items():
                    summed[key] = summed.get(key, 0) + value
        return summed

    fetch, ingest, outbox, sched = total("fetch"), total("ingest"), total("outbox"), total("scheduler")
    fetcher = next((c for c in children if c.runner == "fetch"), None)
    workers = sum(1 for c in children if c.runner == "ingest")
    processed = sum(v for k, v in ingest.items() if k not in ("retry", "quarantined"))
    parts = [
        f"fetch {fetcher.state if fetcher else '-'}: {fetch.get('fetched', 0)} fetched",
        f"ingest x{workers}: {processed} processed, {ingest.get('retry', 0)} retried, "
        f"{ingest.get('quarantined', 0)} quarantined",
        f"outbox: {outbox.get('sent', 0)} sent, {outbox.get('retry', 0)} retried, {outbox.get('dead', 0)} dead",
        f"scheduler: {sum(sched.values())} done",
        f"restarts {restarts}",
    ]
    late = [c.name for c in children if c.proc is not None and c.late_by(now) > slack]
    if late:
        parts.append("LATE: " + ", ".join(late))
    return "; ".join(parts)


class Master:
    def __init__(self, settings: Settings, python: str = sys.executable, exclusive: bool = False) -> None:
        if settings.source is None:
            raise ValueError("the master passes its config file to the runners: load it from a file")
        self.settings = settings
        self.config = str(settings.source.resolve())
        self.slack = settings.run.heartbeat_slack_seconds
        self.python = python
        # This master holds the SQLite store's lock: a dead ingest worker's claims are freed at once.
        self.exclusive = exclusive
        self.children = [Child("fetch"),
                         *(Child("ingest", i) for i in range(1, settings.run.ingest_workers + 1)),
                         Child("scheduler"), Child("outbox")]
        self.stopping = False
        self.restarts = 0
        self._status = ("", 0.0)
        self._desk, self._desk_at = "", 0.0
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)

    # -- children --------------------------------------------------------------------------

    def spawn(self, child: Child) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = {k: v for k, v in os.environ.items() if k not in NOT_FOR_CHILDREN}
        if child.lives:
            for name in NOT_FOR_RESTARTS:
                env.pop(name, None)
        env[LINK_ENV] = str(theirs.fileno())
        # -P: the working directory is not put on sys.path, so a checkout it happens to hold
        # never stands in for the installed package.
        args = [self.python, "-P", "-m", "daemon.runners", child.runner, "--config", self.config]
        if child.runner == "ingest":
            args += ["--index", str(child.index)]
        try:
            child.proc = subprocess.Popen(args, env=env, pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL)
        finally:
            theirs.close()
        ours.setblocking(False)
        now = time.monotonic()
        child.sock, child.lives, child.restart_at = ours, child.lives + 1, None
        child.beat_at, child.due, child.state, child.late_logged = now, STARTUP_SECONDS, "starting", False
        log.info("runner %s started (pid %s)", child.name, child.proc.pid)

    def died(self, child: Child, code: int, now: float) -> None:
        pid = child.proc.pid if child.proc else "-"
        child.proc = None
        if child.sock is not None:
            child.sock.close()
            child.sock = None
        if self.stopping:
            return
        if self.exclusive and child.runner == "ingest":
            self.free_claims(child)
        child.deaths.append(now)
        while child.deaths and now - child.deaths[0] > DEATH_WINDOW_SECONDS:
            child.deaths.popleft()
        deaths = len(child.deaths)
        if deaths == 1:
            child.alerted = False
        delay = restart_delay(deaths)
        child.restart_at = now + delay
        self.restarts += 1
        log.error("runner %s (pid %s) %s; starting it again in %.0f s (%d death(s) in %d minutes)",
                  child.name, pid, exit_reason(code), delay, deaths, DEATH_WINDOW_SECONDS // 60)
        if deaths >= ALERT_AFTER_DEATHS and not child.alerted:
            child.alerted = True
            self.alert(child, deaths, exit_reason(code))

    def alert(self, child: Child, deaths: int, reason: str) -> None:
        try:
            # Loaded only now: rendering and the store are not the master's daily work.
            from daemon.runners.alerts import alert_runner_deaths
            from store.db import database, init_db

            if database.obj is None:
                init_db(self.settings.store_url)

            if alert_runner_deaths(self.settings, child.name, deaths, int(DEATH_WINDOW_SECONDS // 60), reason,
                                   datetime.now(UTC)):
                self.wake("outbox")
        except Exception:  # noqa: BLE001 - the master must outlive a failed alert
            log.exception("could not queue the alert about runner %s", child.name)

    def free_claims(self, child: Child) -> None:
        """The SQLite store's one worker died: the mail it had claimed waits for no lease."""
        try:
            free_claims(self.settings)
        except Exception:  # noqa: BLE001 - the leases expire by themselves (store.lease_seconds)
            log.exception("could not free the claims of runner %s", child.name)

    def wake(self, runner: str) -> None:
        for child in self.children:
            if child.runner == runner and child.sock is not None:
                with contextlib.suppress(OSError):  # full or closing: it polls anyway
                    child.sock.send(b"w")

    # -- the loop --------------------------------------------------------------------------

    def step(self, timeout: float) -> None:
        """Wait up to `timeout` for packets or a signal, and handle what came."""
        socks = [c.sock for c in self.children if c.sock is not None]
        ready, _, _ = select.select([self._wake_r, *socks], [], [], timeout)
        if self._wake_r in ready:
            with contextlib.suppress(BlockingIOError):
                os.read(self._wake_r, 512)
        for child in self.children:
            if child.sock is not None and child.sock in ready:
                self.read(child)

    def read(self, child: Child) -> None:
        while child.sock is not None:
            try:
                data = child.sock.recv(4096)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:  # the runner closed its end: it is exiting; poll() reaps it
                child.sock.close()
                child.sock = None
                return
            try:
                message = json.loads(data)
            except ValueError:
                log.warning("runner %s sent an unreadable packet", child.name)
                continue
            if "beat" in message:
                child.beat_at, child.beaten = time.monotonic(), True
                child.due = float(message.get("due", STARTUP_SECONDS))
                child.state = str(message["beat"])[:20]
                child.counts = {str(k): int(v) for k, v in dict(message.get("counts", {})).items()}
                if child.late_logged:
                    child.late_logged = False
                    log.info("runner %s makes progress again", child.name)
            if "kick" in message:
                self.wake(str(message["kick"]))

    def supervise(self, now: float) -> None:
        for child in self.children:
            if child.proc is None:
                if child.restart_at is not None and now >= child.restart_at and not self.stopping:
                    self.spawn(child)
                continue
            code = child.proc.poll()
            if code is not None:
                self.died(child, code, now)
                continue
            late = child.late_by(now)
            if late > self.settings.run.stall_seconds:
                log.error("runner %s (pid %s, %s) is %.0f s late with its heartbeat; killing it",
                          child.name, child.proc.pid, child.state, late)
                child.proc.kill()
            elif late > self.slack and not child.late_logged:
                child.late_logged = True
                log.warning("runner %s (pid %s, %s) is %.0f s late with its heartbeat; "
                            "the watchdog is not fed until it moves", child.name, child.proc.pid,
                            child.state, late)

    def healthy(self, now: float) -> bool:
        """Every running child kept its heartbeat promise (one waiting for its restart does not count)."""
        return all(c.proc is None or c.late_by(now) <= self.slack for c in self.children)

    def publish(self, now: float) -> None:
        if now >= self._desk_at:
            # The same verdict as `oneassist status`, from the store, every DESK_LINE_SECONDS.
            self._desk_at = now + DESK_LINE_SECONDS
            try:
                self._desk = desk_line(self.settings) or ""
            except Exception:  # noqa: BLE001 - the status line must never stop the daemon
                log.exception("could not read the desk's status")
        text = status_line(self.children, self.restarts, now, self.slack)
        if self._desk:
            text = f"{self._desk}; {text}"
        last, at = self._status
        if text != last and now - at >= STATUS_EVERY_SECONDS:
            systemd.notify(f"STATUS={text}")
            self._status = (text, now)

    def run(self) -> int:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self.stop)
        signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)
        # Blocked by the CLI across its exec (daemon/cli/desk.py): a stop that came meanwhile
        # is delivered now, and the runners start with nothing blocked.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
        for child in self.children:
            if not self.stopping:
                self.spawn(child)
        interval = systemd.watchdog_interval()
        ready, next_ping = False, 0.0
        log.info("daemon started: %d runner(s), intake %s on %s, store %s", len(self.children),
                 self.settings.imap.folder, self.settings.imap.host, self.settings.store_url.split("://")[0])
        while not self.stopping:
            self.step(0.5)
            now = time.monotonic()
            self.supervise(now)
            if not ready and all(c.beaten for c in self.children):
                ready = True
                systemd.notify("READY=1\nSTATUS=" + status_line(self.children, self.restarts, now, self.slack))
            if interval and ready and now >= next_ping and self.healthy(now):
                systemd.notify("WATCHDOG=1")
                next_ping = now + interval
            self.publish(now)
        self.stop_all()
        return 0

    def stop(self, *_: object) -> None:
        self.stopping = True

    def stop_all(self) -> None:
        systemd.notify("STOPPING=1")
        log.info("daemon stopping: fetch, then ingest, scheduler, outbox")
        for runners in (("fetch",), ("ingest",), ("scheduler",), ("outbox",)):
            group = [c for c in self.children if c.runner in runners and c.proc is not None]
            for child in group:
                with contextlib.suppress(ProcessLookupError):
                    child.proc.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
            deadline = time.monotonic() + STOP_SECONDS
            while time.monotonic() < deadline and any(c.proc.poll() is None for c in group):  # type: ignore[union-attr]
                self.step(0.1)  # kicks still pass: the sender hears of the last processed mail
            for child in group:
                assert child.proc is not None
                if child.proc.poll() is None:
                    log.error("runner %s did not stop within %.0f s; killing it", child.name, STOP_SECONDS)
                    child.proc.kill()
                code = child.proc.wait()
                if code != 0:
                    log.warning("runner %s %s while stopping", child.name, exit_reason(code))
                else:
                    log.info("runner %s stopped", child.name)
                self.died(child, code, time.monotonic())
        log.info("daemon stopped")


def main(argv: list[str] | None = None) -> int:
    """`python -m daemon.master --config PATH`: what `oneassist run` turns into (daemon/cli/desk.py).

    The CLI checked the config and the templates and migrated the store, then replaced
    itself with this (exec, same pid for systemd), so the master holds none of the CLI's
    or the renderer's imports for the life of the daemon.
    """
    import argparse

    from daemon.config import load
    from daemon.core.errors import OneAssistError
    from daemon.logsetup import setup_logging

    p = argparse.ArgumentParser(prog="python -m daemon.master")
    p.add_argument("--config", required=True)
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    try:
        settings = load(args.config)
    except OneAssistError as exc:
        print(f"oneassist run: error: {exc}", file=sys.stderr)
        return 2
    setup_logging("DEBUG" if args.verbose else settings.log_level)
    try:
        lock = take_store(settings)
    except OneAssistError as exc:
        print(f"oneassist run: error: {exc}", file=sys.stderr)
        return 2
    try:
        return Master(settings, exclusive=lock.exclusive).run()
    finally:
        lock.release()


if __name__ == "__main__":
    sys.exit(main())
