"""Starting and stopping the sandbox Dovecot's processes, and reading /proc about them.

Dovecot runs in its own process group, which terminate_group() kills as a whole; a
finalizer in DovecotServer does the same at interpreter exit, and a parent-death signal
(die_with_parent) covers a Python process killed with SIGKILL. Nothing here reads or
writes Dovecot's files or mailboxes.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator

from daemon.sandbox.dovecot_config import HOST

STOP_TIMEOUT = 5.0


def dovecot_binary() -> str | None:
    """Path of Debian's `dovecot`, or None when dovecot-imapd is not installed."""
    return sbin("dovecot")


def sbin(name: str) -> str | None:
    """Path of a program from /usr/sbin or /sbin even when PATH lacks them."""
    # /usr/sbin is not on an ordinary user's PATH, and `oneassist sandbox` may run as one.
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    return shutil.which(name, path=path)


def free_port() -> int:
    """A loopback TCP port free at the moment of asking."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def imap_greets(port: int) -> bool:
    """True once imap-login answers: a bound port alone does not prove login works."""
    try:
        with socket.create_connection((HOST, port), timeout=1.0) as sock:
            return sock.recv(64).startswith(b"* OK")
    except OSError:
        return False


def clean_env() -> dict[str, str]:
    """The environment Dovecot and doveadm run with."""
    # Dovecot honours LISTEN_FDS/NOTIFY_SOCKET (systemd) and would talk to the daemon's
    # own systemd test sockets if they leaked in; give it only what it needs.
    return {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "LANG": "C"}


def in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


_PR_SET_PDEATHSIG = 1


def die_with_parent() -> Callable[[], None] | None:
    """A preexec_fn that makes Dovecot get SIGKILL when the Python process dies.

    Covers the one case finalizers cannot: the test runner killed with SIGKILL. Linux
    sends the signal when the forking *thread* exits, hence main-thread starts only.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def set_death_signal() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:
            os._exit(1)

    return set_death_signal


def terminate_group(proc: subprocess.Popen[bytes], graceful: bool = False) -> None:
    """Stop Dovecot's master and make sure no process of its group survives.

    The default is SIGKILL to the whole group: a graceful SIGTERM costs over a second,
    because the 2.3 master SIGQUITs its helper processes and then sleeps a fixed 1000 ms
    (services_monitor_wait_and_kill). Killing loses nothing here: maildir delivers by
    rename before APPEND answers OK, and Dovecot rebuilds stale index files on its own.
    """
    pgid = proc.pid
    if graceful:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(STOP_TIMEOUT)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
    proc.wait()
    # A straggler still holding the listening socket would make restart() fail to bind,
    # so wait for the kernel to finish the group. Zombies (reparented children that init
    # has not reaped yet) hold no sockets and do not count.
    deadline = time.monotonic() + STOP_TIMEOUT
    while group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.005)


def proc_stats() -> Iterator[tuple[int, list[bytes]]]:
    """(pid, the /proc/PID/stat fields after the command name) of every process now.

    After the ")" closing the command name: state, ppid, pgrp, ..., utime (11), stime,
    cutime, cstime. A process that exits meanwhile is skipped.
    """
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                yield int(entry.name), fh.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue


def group_members(pgid: int) -> list[int]:
    """PIDs of live (non-zombie) processes in process group `pgid`, read from /proc."""
    return [pid for pid, fields in proc_stats() if int(fields[2]) == pgid and fields[0] != b"Z"]
