"""What both benchmarks share: the servers, the desk, the daemon process, the floor loops.

- `bench_servers()`: Debian's Dovecot (daemon.sandbox.dovecot) in a fresh folder under /tmp
  and an aiosmtpd sink (daemon.sandbox.smtp) with deliver=None: it records what it accepts
  and delivers nothing, so Dovecot's work on our outgoing mail is not part of the figures.
- `BenchDesk`: the integration rig's DeskRig (config, store, client registration through
  daemon.cli.client.add_client) with the acknowledgement cap raised for bulk runs.
- `DaemonProcess`: `python -m daemon --config X run` as its own process, its readiness
  from sd_notify READY=1 on a socket of ours, and its peak RSS from /proc/PID/status.
- `StoreReader`: the daemon's SQLite store opened read-only, for polling.
- `floor_fetch` / `floor_send`: the plain imapclient and aiosmtplib loops the daemon is
  compared with; `in_child()` runs them in a fresh process, as the daemon runs in one.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import email
import json
import math
import multiprocessing
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from daemon.sandbox.dovecot import DEFAULT_PASSWORD, DovecotServer, dovecot_binary, proc_stats
from daemon.sandbox.smtp import SmtpSink
from tests.integration.deskrig import ROOT, DeskRig

__all__ = [
    "ROOT", "BenchDesk", "CpuWindow", "busy_note", "code_state", "process_cpu_seconds", "DaemonProcess", "Progress", "StoreReader", "append_all", "bench_servers",
    "dovecot_version", "dump_json", "floor_fetch", "floor_send", "in_child", "percentile", "say",
]

_STARTED = time.monotonic()


def say(message: str) -> None:
    """A progress line on stderr; stdout is kept for the summary or the JSON document."""
    print(f"[bench {time.monotonic() - _STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


class Progress:
    """Calls say() at most every `every` seconds while a long phase runs."""

    def __init__(self, every: float = 3.0) -> None:
        self.every = every
        self.last = time.monotonic()

    def tick(self, message: Callable[[], str], force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self.last >= self.every:
            self.last = now
            say(message())


def percentile(values: Iterable[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100): p95 of 50 samples is the 48th smallest."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def code_state() -> dict[str, Any]:
    """Which daemon code was measured: HEAD, the files changed since, and a hash of the whole tree.

    The hash covers every file under daemon/ (templates too), store/ and parsers/ (committed or
    not), so two results with the same `tree_sha256` measured the same code. Outside a git
    checkout (an export made with `git archive`, see README.md) the commit is read from a
    BENCH_SOURCE file at the top of the tree, when there is one.
    """
    import hashlib

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30)
        except OSError:
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    digest = hashlib.sha256()
    for folder in ("daemon", "store", "parsers"):
        for path in sorted((ROOT / folder).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    commit = git("rev-parse", "--short", "HEAD")
    if commit is not None:
        status = git("status", "--porcelain", "--", "daemon", "store", "parsers") or ""
        changed: int | None = len(status.splitlines())
    else:
        source = ROOT / "BENCH_SOURCE"
        commit = source.read_text(encoding="utf-8").strip() if source.exists() else "unknown"
        changed = 0 if source.exists() else None
    return {"commit": commit, "uncommitted_files": changed, "tree_sha256": digest.hexdigest()[:16],
            "root": str(ROOT)}


def dovecot_version() -> str:
    binary = dovecot_binary()
    if binary is None:
        return ""
    done = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
    return done.stdout.strip()


# -- servers -----------------------------------------------------------------------------

@dataclass
class Servers:
    base: Path
    dovecot: DovecotServer
    sink: SmtpSink

    def new_user(self, prefix: str = "user", password: str = DEFAULT_PASSWORD) -> str:
        email = f"{prefix}-{uuid.uuid4().hex[:8]}@example.test"
        return self.dovecot.add_user(email, password)


@contextlib.contextmanager
def bench_servers(keep: bool = False) -> Iterator[Servers]:
    """Dovecot and a record-only SMTP sink in a new folder under /tmp (removed unless keep).

    Under /tmp, not under a home directory: Dovecot's `mail` and `dovecot` users must be
    able to traverse every parent of its base_dir (see daemon.sandbox.dovecot).
    """
    if dovecot_binary() is None:
        raise SystemExit("bench: Dovecot is not installed (apt-get install dovecot-imapd)")
    base = Path(tempfile.mkdtemp(prefix="oneassist-bench-"))
    dovecot = DovecotServer(base / "dovecot")
    sink = SmtpSink(deliver=None)
    try:
        dovecot.start()
        sink.start()
        yield Servers(base, dovecot, sink)
    finally:
        sink.stop()
        dovecot.stop()
        if keep:
            say(f"kept {base} (dovecot/, desk/oneassist.toml, desk/desk.db, desk/daemon.log)")
        else:
            shutil.rmtree(base, ignore_errors=True)


class BenchDesk(DeskRig):
    """DeskRig's config and store, plus the few settings a benchmark must pin.

    autoreply_limit_per_day: the default cap (40 acks per address per 24 h, a loop guard)
    would stop acknowledging a bulk run's busiest senders; the benchmark wants every new
    task acknowledged so the count of acks is known. log_level: INFO, the production default.
    """

    def __init__(self, servers: Servers, *, autoreply_limit: int, log_level: str = "INFO",
                 fetch_batch: int = 100) -> None:
        self.autoreply_limit = autoreply_limit
        self.log_level = log_level
        folder = servers.base / "desk"
        folder.mkdir(mode=0o700)  # the store warns about a folder others can read
        super().__init__(folder, servers.dovecot, servers.sink, servers.new_user, fetch_batch=fetch_batch)

    def write_config(self, **config: Any) -> Path:
        path = super().write_config(**config)
        text = path.read_text(encoding="utf-8")
        text = text.replace("[service]\n", f"[service]\nautoreply_limit_per_day = {self.autoreply_limit}\n", 1)
        text += f'\n[log]\nlevel = "{self.log_level}"\n'
        path.write_text(text, encoding="utf-8")
        return path

    @property
    def db_path(self) -> Path:
        return Path(self.settings.store_url.removeprefix("sqlite:///"))


def append_all(dovecot: DovecotServer, user: str, mails: Iterable[bytes], *, folder: str = "INBOX",
               chunk_bytes: int = 8 * 1024 * 1024, chunk_count: int = 200,
               on_chunk: Callable[[int, int], None] | None = None) -> tuple[int, int]:
    """MULTIAPPEND the mails in order over one connection; returns (count, bytes)."""
    client = dovecot.connect(user)
    count = total = 0
    chunk: list[bytes] = []
    size = 0

    def flush() -> None:
        nonlocal chunk, size
        if chunk:
            client.multiappend(folder, chunk)
            chunk, size = [], 0
            if on_chunk:
                on_chunk(count, total)

    try:
        for raw in mails:
            chunk.append(raw)
            size += len(raw)
            count += 1
            total += len(raw)
            if size >= chunk_bytes or len(chunk) >= chunk_count:
                flush()
        flush()
    finally:
        with contextlib.suppress(Exception):
            client.logout()
    return count, total


# -- CPU accounting: the machine is shared, so say how busy it was ------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """user + system CPU seconds of a live process (all its threads), from /proc/PID/stat."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    # After the ")" closing the command name: state is field 3, utime 14 and stime 15.
    return (int(fields[11]) + int(fields[12])) / _TICK


def group_cpu_seconds(pgid: int | None) -> float:
    """CPU seconds of a process group (Dovecot's): live members plus reaped children.

    A reaped child's time is in its parent's cutime/cstime; a child still running counts
    on its own. Good to a few percent, which is all this is used for.
    """
    if not pgid:
        return 0.0
    return sum((int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])) / _TICK
               for _pid, f in proc_stats() if int(f[2]) == pgid)


def _machine_ticks() -> tuple[int, int]:
    with open("/proc/stat", encoding="ascii") as fh:
        values = [int(v) for v in fh.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal (guest time is already in user)
    total = sum(values[:8])
    idle = values[3] + values[4]
    return total, idle


@dataclass
class CpuWindow:
    """Where the machine's CPU went between start() and stop(): the daemon, this script, others."""

    pid: int | None = None
    dovecot_pgid: int | None = None
    _wall: float = 0.0
    _dovecot: float = 0.0
    _ticks: tuple[int, int] = (0, 0)
    _daemon: float = 0.0
    _own: float = 0.0
    _load: float = 0.0
    result: dict[str, float] | None = None

    def start(self, pid: int | None = None, dovecot_pgid: int | None = None) -> CpuWindow:
        self.pid, self.dovecot_pgid = pid, dovecot_pgid
        self._dovecot = group_cpu_seconds(dovecot_pgid)
        self._wall, self._ticks = time.monotonic(), _machine_ticks()
        self._daemon = process_cpu_seconds(pid) if pid else 0.0
        self._own = _own_cpu()
        self._load = os.getloadavg()[0]
        return self

    def stop(self) -> dict[str, float]:
        wall = time.monotonic() - self._wall
        total, idle = _machine_ticks()
        d_total, d_idle = total - self._ticks[0], idle - self._ticks[1]
        cpus = os.cpu_count() or 1
        busy = cpus * (d_total - d_idle) / d_total if d_total else 0.0
        daemon = (process_cpu_seconds(self.pid) - self._daemon) if self.pid else 0.0
        own = _own_cpu() - self._own
        dovecot = group_cpu_seconds(self.dovecot_pgid) - self._dovecot
        ours = daemon + own + dovecot
        self.result = {
            "wall_seconds": round(wall, 3),
            "daemon_cpu_seconds": round(daemon, 3),
            "bench_cpu_seconds": round(own, 3),  # the sink, the poll loop, the floor's child
            "dovecot_cpu_seconds": round(dovecot, 3),
            "machine_busy_cpus": round(busy, 2),
            "other_processes_cpus": round(max(0.0, busy - ours / wall) if wall else 0.0, 2),
            "loadavg_1min_start": round(self._load, 2),
            "loadavg_1min_end": round(os.getloadavg()[0], 2),
        }
        return self.result


def _own_cpu() -> float:
    """CPU seconds of this process and of its children already reaped (the floor's worker).

    The daemon is reaped only after a window around it has closed, so it never counts twice.
    """
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def busy_note(window: dict[str, float] | None, limit: float = 0.3) -> str | None:
    """A warning when other processes took a real share of the CPUs during a measurement."""
    if window and window["other_processes_cpus"] > limit:
        return (f"other processes kept {window['other_processes_cpus']:.2f} of "
                f"{os.cpu_count()} CPUs busy (load {window['loadavg_1min_end']:.1f}): "
                "wall-clock figures of this run are pessimistic")
    return None


# -- the daemon as a process ---------------------------------------------------------------

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
        self.peak_rss_kb = 0
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
        """(VmRSS, VmHWM) in KiB from /proc/PID/status; VmHWM is the peak so far."""
        rss = hwm = 0
        try:
            with open(f"/proc/{self.pid}/status", encoding="ascii") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        rss = int(line.split()[1])
                    elif line.startswith("VmHWM:"):
                        hwm = int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError):
            pass
        self.peak_rss_kb = max(self.peak_rss_kb, hwm)
        return rss, hwm

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


# -- the floor: what the same work costs without the daemon ---------------------------------

def floor_fetch(host: str, port: int, user: str, password: str, folder: str, batch: int) -> dict[str, Any]:
    """Connect, log in, SELECT and FETCH BODY.PEEK[] of every mail in batches of `batch` UIDs.

    Also times, apart from the floor, `email.message_from_bytes` over the same mails: fetch
    plus that parse is the least CPU any daemon built on imapclient and the standard
    library's parser (mail-parser is built on it) spends per mail before storing anything.
    """
    from imapclient import IMAPClient

    started, cpu = time.monotonic(), time.process_time()
    client = IMAPClient(host, port, ssl=False, timeout=60)
    client.login(user, password)
    client.select_folder(folder, readonly=True)
    uids = sorted(client.search("ALL"))
    count = total = 0
    parse_cpu = parse_wall = 0.0
    for i in range(0, len(uids), batch):
        data = client.fetch(uids[i:i + batch], [b"BODY.PEEK[]"])
        for value in data.values():
            count += 1
            total += len(value[b"BODY[]"])
        # Not part of the floor: the standard library's parse of the same mails, timed apart.
        parse_started, parse_wall_started = time.process_time(), time.monotonic()
        for value in data.values():
            email.message_from_bytes(value[b"BODY[]"])
        parse_cpu += time.process_time() - parse_started
        parse_wall += time.monotonic() - parse_wall_started
    seconds, cpu = time.monotonic() - started, time.process_time() - cpu
    client.logout()
    return {"seconds": seconds - parse_wall, "cpu_seconds": cpu - parse_cpu, "mails": count, "bytes": total,
            "batch": batch, "stdlib_parse_cpu_seconds": parse_cpu}


def floor_send(host: str, port: int, mails: list[tuple[str, str, bytes]]) -> dict[str, Any]:
    """Send (from, to, raw) mails one after another over one aiosmtplib connection."""
    import aiosmtplib

    from daemon.adapters import smtp_wire

    # This process imported the daemon's SMTP adapter (through the rig); the floor is the
    # library as shipped, without the daemon's faster line-end handling.
    smtp_wire.uninstall()

    async def run() -> dict[str, Any]:
        started, cpu = time.monotonic(), time.process_time()
        client = aiosmtplib.SMTP(hostname=host, port=port, timeout=60, start_tls=False, use_tls=False)
        await client.connect()
        total = 0
        for sender, rcpt, raw in mails:
            await client.sendmail(sender, [rcpt], raw)
            total += len(raw)
        seconds, cpu = time.monotonic() - started, time.process_time() - cpu
        await client.quit()
        return {"seconds": seconds, "cpu_seconds": cpu, "mails": len(mails), "bytes": total}

    return asyncio.run(run())


def in_child(func: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """Run a floor loop in a fresh interpreter (spawn): its own process and GIL, like the daemon.

    The loop times itself, so interpreter start-up is not counted.
    """
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(func, *args).result(timeout=900)


def dump_json(document: dict[str, Any]) -> None:
    json.dump(document, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")


def checks_lines(result: dict[str, Any], ok_line: str) -> list[str]:
    """The closing block of a summary: NOTE lines, then PROBLEMS or the passed checks."""
    lines = [f"NOTE: {note}" for note in result["notes"]]
    lines.append("")
    if result["problems"]:
        lines.append("PROBLEMS:")
        lines += [f"  - {problem}" for problem in result["problems"]]
    else:
        lines.append(ok_line)
    return lines


def bench_main(parse_args: Any, run: Any, summary: Any, argv: list[str] | None) -> int:
    """Run one bench: the summary for people, or one JSON document; exit 1 when a check failed."""
    args = parse_args(argv)
    result = run(args)
    if args.json:
        dump_json(result)
    else:
        print(summary(result))
    return 0 if result["ok"] else 1
