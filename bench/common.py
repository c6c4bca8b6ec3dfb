"""What both benchmarks share: the servers, the desk, progress lines and the JSON report.

The daemon's process and store (bench/daemon_process.py), CPU accounting (bench/cpu.py)
and the floor loops (bench/floors.py) live beside this module.

- `bench_servers()`: Debian's Dovecot (daemon.sandbox.dovecot) in a fresh folder under /tmp
  and an aiosmtpd sink (daemon.sandbox.smtp) with deliver=None: it records what it accepts
  and delivers nothing, so Dovecot's work on our outgoing mail is not part of the figures.
- `BenchDesk`: the integration rig's DeskRig (config, store, client registration through
  daemon.cli.client.add_client) with the acknowledgement cap raised for bulk runs.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from daemon.sandbox.dovecot import DEFAULT_PASSWORD, DovecotServer, dovecot_binary
from daemon.sandbox.smtp import SmtpSink
from tests.integration.deskrig import ROOT, DeskRig

__all__ = [
    "ROOT", "BenchDesk", "Progress", "append_all", "bench_main", "bench_servers", "checks_lines",
    "code_state", "dovecot_version", "dump_json", "percentile", "say",
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
def bench_servers(keep: bool = False, prefix: str = "oneassist-bench-") -> Iterator[Servers]:
    """Dovecot and a record-only SMTP sink in a new folder under /tmp (removed unless keep).

    Under /tmp, not under a home directory: Dovecot's `mail` and `dovecot` users must be
    able to traverse every parent of its base_dir (see daemon.sandbox.dovecot).
    """
    if dovecot_binary() is None:
        raise SystemExit("bench: Dovecot is not installed (apt-get install dovecot-imapd)")
    base = Path(tempfile.mkdtemp(prefix=prefix))
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
        # BENCH_METRICS_LISTEN=127.0.0.1:9464 serves the daemon's metrics during a run, to scrape.
        if os.environ.get("BENCH_METRICS_LISTEN"):
            text += f'\n[metrics]\nlisten = "{os.environ["BENCH_METRICS_LISTEN"]}"\n'
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
