"""A private Dovecot IMAP server on loopback, for integration tests and `oneassist sandbox`.

`DovecotServer` writes a self-contained dovecot.conf under one directory (runtime sockets,
state, log, users and maildirs all live there), runs Debian's `dovecot -F` as a child
process on 127.0.0.1, and offers the few mailbox operations the tests need: add a user,
APPEND a raw mail, read mail back, mark it seen, and force a new UIDVALIDITY
(docs/reliability.md case 5). Nothing here touches /etc/dovecot or the system instance.

Running as root (the test machines): Dovecot drops to Debian's `mail` user for mailbox
access, `dovecot` for auth and `dovenull` for the login processes, so those users must be
able to traverse every parent of `base_dir`. `start()` therefore adds the world-execute
(traverse only, not list) bit to parents under /tmp that lack it, and refuses, naming
the `chmod o+x` to run, when a parent elsewhere (say /root) is closed. Avoid
/tmp/pytest-of-root all the same: each new pytest session chmods it back to 0700, which
cuts a running server off from its own files; the fixtures use /tmp/oneassist-dovecot-*.
Running as another user: every Dovecot process runs as that user and nothing is chmod-ed.

Processes: Dovecot runs in its own process group, which stop() kills as a whole; a
finalizer does the same at interpreter exit, and a parent-death signal covers a Python
process killed with SIGKILL.

Size: over the 500 lines of docs/style.md rule 2 because the config template, process handling and mailbox
helpers of one server travel together; the template is the piece to split off first.
"""

from __future__ import annotations

import contextlib
import ctypes
import grp
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError

__all__ = ["DEFAULT_PASSWORD", "DovecotError", "DovecotServer", "dovecot_binary"]

HOST = "127.0.0.1"
DEFAULT_PASSWORD = "secret"

# Unix socket paths are limited to 108 bytes; Dovecot's longest socket name under
# base_dir ("token-login/tokenlogin", "login/imap-urlauth") needs about 30 of them.
_MAX_RUN_DIR_LEN = 76
_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 5.0
# Passwd-file lines hold the password after the first colon; a user name may hold neither
# a colon nor a slash (each user has a file named after them) nor whitespace.
_USER_RE = re.compile(r"^[^\s:/\x00]+@[^\s:/\x00]+$")
_APPENDUID_RE = re.compile(rb"\[APPENDUID (\d+) (\d+)\]")

_T = TypeVar("_T")

# Unprivileged, Dovecot can neither switch auth-worker to root nor chown its sockets to
# the `dovecot` group; both are defaults. (Nor can it chroot: see login_chroot.)
_UNPRIVILEGED_SERVICES = """\
default_internal_group = {group}
service auth-worker {{
  user = {user}
}}
"""


class DovecotError(RuntimeError):
    """Dovecot did not start, stop or answer as the rig expected; the message quotes its log."""


class DovecotServer:
    """One Dovecot instance with its config, users and maildirs inside `base_dir`.

    Thread-safe: the helper methods share one cached IMAP connection per user behind a
    lock, so an SMTP sink thread can deliver while the test thread reads.
    """

    host = HOST

    def __init__(self, base_dir: Path, port: int | None = None) -> None:
        self.base_dir = Path(base_dir).absolute()
        self._port: int | None = port
        self._proc: subprocess.Popen[bytes] | None = None
        self._finalizer: weakref.finalize | None = None
        self._lock = threading.RLock()
        self._clients: dict[str, IMAPClient] = {}
        self._passwords: dict[str, str] = {}
        self.start_seconds: float | None = None

    # -- paths -------------------------------------------------------------------------

    @property
    def config_path(self) -> Path:
        return self.base_dir / "dovecot.conf"

    @property
    def log_path(self) -> Path:
        return self.base_dir / "dovecot.log"

    @property
    def run_dir(self) -> Path:
        return self.base_dir / "run"

    @property
    def mail_dir(self) -> Path:
        return self.base_dir / "mail"

    @property
    def users_dir(self) -> Path:
        return self.base_dir / "users"

    @property
    def imap_port(self) -> int:
        if self._port is None:
            raise DovecotError("the server has not been started yet, so it has no port")
        return self._port

    @property
    def master_pid(self) -> int | None:
        """PID of Dovecot's master process (also its process group), None when stopped."""
        return self._proc.pid if self.running and self._proc else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> DovecotServer:
        """Write the config, start `dovecot -F` and return once IMAP greets on the port."""
        if self.running:
            return self
        binary = dovecot_binary()
        if binary is None:
            raise DovecotError("no `dovecot` binary found (apt-get install dovecot-imapd)")
        started = time.monotonic()
        self._prepare_dirs()
        # A port we picked ourselves can be taken by someone else between picking and
        # Dovecot's bind; pick again in that case. A port the caller gave, or the one
        # clients already know from an earlier start (restart()), is never changed.
        may_pick = self._port is None
        attempts = 5 if may_pick else 1
        for attempt in range(attempts):
            if may_pick:
                self._port = _free_port()
            self._write_config()
            try:
                self._spawn_and_wait(binary)
                break
            except _PortTaken:
                if attempt == attempts - 1:
                    raise DovecotError(f"port {self._port} is in use") from None
        self.start_seconds = time.monotonic() - started
        return self

    def stop(self, graceful: bool = False) -> None:
        """Stop Dovecot and every process it forked; safe to call twice.

        graceful=True lets the master shut down by SIGTERM first (over a second slower).
        """
        self._drop_clients()
        proc, self._proc = self._proc, None
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if proc is not None:
            _terminate_group(proc, graceful)

    def restart(self) -> None:
        """Stop and start again on the same port and data (mail and UIDs are kept)."""
        self.stop()
        self.start()

    def __enter__(self) -> DovecotServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- users -------------------------------------------------------------------------

    def add_user(self, email: str, password: str = DEFAULT_PASSWORD) -> str:
        """Create (or update) a mailbox user; returns the user name Dovecot will use.

        Each user has a passwd-file of their own (`users/<email>`): Dovecot re-stats a
        passwd-file at most once per second, so with one shared file a user added right
        after another login would be unknown for up to a second.
        """
        user = _user_name(email)
        if any(c in password for c in ":\n\r\x00"):
            raise ValueError("a sandbox password may not hold ':', a newline or NUL")
        path = self.users_dir / user
        line = f"{user}:{{PLAIN}}{password}::::::\n"
        with self._lock:
            # Users may be added before start(); start() fixes the directory's owner.
            self.users_dir.mkdir(parents=True, exist_ok=True)
            if self._passwords.get(user) == password and path.exists():
                return user
            tmp = path.with_name(f".{user}.tmp")
            tmp.write_text(line, encoding="utf-8")
            self._chown_auth_readable(tmp)
            os.replace(tmp, path)
            self._passwords[user] = password
            stale = self._clients.pop(user, None)
        if stale is not None:
            _logout_quietly(stale)
        return user

    def has_user(self, email: str) -> bool:
        return (self.users_dir / _user_name(email)).exists()

    def connect(self, email: str) -> IMAPClient:
        """A new logged-in IMAP connection of the caller's own (for IDLE, SELECT state...)."""
        user = _user_name(email)
        client = IMAPClient(self.host, self.imap_port, ssl=False, timeout=30)
        try:
            client.login(user, self._password(user))
        except Exception:
            _logout_quietly(client)
            raise
        return client

    # -- mailbox helpers ---------------------------------------------------------------

    def append(
        self,
        user: str,
        raw: bytes,
        folder: str = "INBOX",
        flags: Iterable[str | bytes] = (),
        internaldate: datetime | None = None,
    ) -> int:
        """APPEND one raw mail (creating `folder` if needed); returns its UID (APPENDUID)."""

        def op(client: IMAPClient) -> bytes:
            try:
                return client.append(folder, raw, flags=tuple(flags), msg_time=internaldate)
            except IMAPClientError as exc:
                # Dovecot answers "NO [TRYCREATE]" for a folder that does not exist yet.
                if "TRYCREATE" not in str(exc):
                    raise
            client.create_folder(folder)
            return client.append(folder, raw, flags=tuple(flags), msg_time=internaldate)

        response = self._with_client(user, op)
        match = _APPENDUID_RE.search(response)
        if match is None:
            raise DovecotError(f"APPEND answered without APPENDUID: {response!r}")
        return int(match.group(2))

    def messages(self, user: str, folder: str = "INBOX") -> list[bytes]:
        """Every mail in `folder` as raw bytes (BODY.PEEK[], so \\Seen is untouched), by UID."""

        def op(client: IMAPClient) -> list[bytes]:
            client.select_folder(folder, readonly=True)
            uids = client.search("ALL")
            if not uids:
                return []
            fetched = client.fetch(uids, [b"BODY.PEEK[]"])
            return [fetched[uid][b"BODY[]"] for uid in sorted(fetched)]

        return self._with_client(user, op)

    def folder_uids(self, user: str, folder: str = "INBOX") -> list[int]:
        def op(client: IMAPClient) -> list[int]:
            client.select_folder(folder, readonly=True)
            return sorted(int(uid) for uid in client.search("ALL"))

        return self._with_client(user, op)

    def uidvalidity(self, user: str, folder: str = "INBOX") -> int:
        status = self._with_client(user, lambda c: c.folder_status(folder, [b"UIDVALIDITY"]))
        return int(status[b"UIDVALIDITY"])

    def mark_seen(self, user: str, uids: Iterable[int], folder: str = "INBOX") -> None:
        """Set \\Seen as another mail client would (docs/reliability.md case 6)."""
        wanted = list(uids)
        if not wanted:
            return

        def op(client: IMAPClient) -> None:
            client.select_folder(folder)
            client.add_flags(wanted, [b"\\Seen"], silent=True)
            client.unselect_folder()

        self._with_client(user, op)

    def reset_uidvalidity(self, user: str, folder: str = "INBOX", renumber: bool = True) -> int:
        """Make `folder` present a new UIDVALIDITY; returns it.

        renumber=True models a mailbox deleted and recreated with the same mails (docs/reliability.md case 5):
        Dovecot is stopped, the folder's index and dovecot-uidlist are removed, and on the
        restart Dovecot rescans the maildir, numbering the mails from UID 1 again under a
        new UIDVALIDITY. Every open IMAP connection is dropped, as a real rebuild would.
        Doing this while Dovecot runs is racy: a process holding the old index open may
        write the old UIDVALIDITY back.

        renumber=False only changes UIDVALIDITY (`doveadm mailbox update`), live; UIDs stay.
        """
        name = _user_name(user)
        before = self.uidvalidity(name, folder)
        if renumber:
            dirs = {
                Path(self.doveadm("mailbox", "path", "-u", name, "-t", kind, folder).strip())
                for kind in ("index", "control")
            }
            self.stop()
            for directory in dirs:
                for entry in directory.iterdir():
                    if entry.name == "dovecot-uidlist" or entry.name.startswith("dovecot.index"):
                        entry.unlink()
            self.start()
        else:
            self.doveadm("mailbox", "update", "-u", name, "--uid-validity", str(before + 1), folder)
            self._drop_clients()
        after = self.uidvalidity(name, folder)
        if after == before:
            raise DovecotError(f"UIDVALIDITY of {name}/{folder} stayed {before}")
        return after

    def doveadm(self, *args: str) -> str:
        """Run `doveadm -c <our config> ARGS` and return its stdout."""
        result = subprocess.run(
            [_sbin("doveadm") or "doveadm", "-c", str(self.config_path), *args],
            capture_output=True,
            env=_clean_env(),
            timeout=30,
        )
        if result.returncode != 0:
            raise DovecotError(
                f"doveadm {' '.join(args)} exited {result.returncode}: "
                f"{result.stderr.decode(errors='replace').strip()}"
            )
        return result.stdout.decode()

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # -- internals ---------------------------------------------------------------------

    def _with_client(self, email: str, op: Callable[[IMAPClient], _T]) -> _T:
        """Run `op` on the user's cached connection, reconnecting once if it died.

        The connection dies on restart() and when Dovecot drops sessions after an index
        rebuild; both are normal in these tests and must not fail the next helper call.
        """
        user = _user_name(email)
        with self._lock:
            for attempt in (1, 2):
                client = self._clients.get(user)
                if client is None:
                    client = self.connect(user)
                    self._clients[user] = client
                try:
                    return op(client)
                except (IMAPClientAbortError, OSError):
                    self._clients.pop(user, None)
                    _logout_quietly(client)
                    if attempt == 2:
                        raise
        raise AssertionError("unreachable")

    def _drop_clients(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            _logout_quietly(client)

    def _password(self, user: str) -> str:
        if user in self._passwords:
            return self._passwords[user]
        # A user added by an earlier DovecotServer on the same base_dir (sandbox restart).
        try:
            line = (self.users_dir / user).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise DovecotError(f"no mailbox user {user!r}; call add_user() first") from None
        secret = line.split(":", 2)[1]
        return secret.removeprefix("{PLAIN}")

    def _accounts(self) -> tuple[str, str, str]:
        """(mail user, internal user, login user) Dovecot switches to."""
        if os.geteuid() == 0:
            return "mail", "dovecot", "dovenull"
        # Unprivileged: Dovecot cannot switch users, so it runs everything as us.
        me = pwd.getpwuid(os.geteuid()).pw_name
        return me, me, me

    def _prepare_dirs(self) -> None:
        if len(str(self.run_dir)) > _MAX_RUN_DIR_LEN:
            raise DovecotError(
                f"base_dir is too long for Dovecot's unix sockets ({self.run_dir}); "
                f"use a path under {_MAX_RUN_DIR_LEN - 4} characters"
            )
        mail_user, internal_user, _ = self._accounts()
        for directory in (self.base_dir, self.base_dir / "state", self.users_dir, self.mail_dir):
            directory.mkdir(parents=True, exist_ok=True)
        if os.geteuid() != 0:
            return
        _allow_traverse(self.base_dir)
        self.base_dir.chmod(0o755)
        mail = pwd.getpwnam(mail_user)
        os.chown(self.mail_dir, mail.pw_uid, mail.pw_gid)
        self.mail_dir.chmod(0o700)
        # The auth process (user `dovecot`) reads the passwd-files; nobody else may.
        auth_gid = pwd.getpwnam(internal_user).pw_gid
        os.chown(self.users_dir, 0, auth_gid)
        self.users_dir.chmod(0o750)

    def _chown_auth_readable(self, path: Path) -> None:
        if os.geteuid() == 0:
            os.chown(path, 0, pwd.getpwnam(self._accounts()[1]).pw_gid)
        path.chmod(0o640)

    def _write_config(self) -> None:
        mail_user, internal_user, login_user = self._accounts()
        mail_uid = pwd.getpwnam(mail_user).pw_uid
        mail_gid = pwd.getpwnam(mail_user).pw_gid
        root = os.geteuid() == 0
        # chroot() needs root; unprivileged, imap-login and anvil simply stay unjailed.
        login_chroot = anvil_chroot = "" if root else "  chroot =\n"
        extra_services = (
            ""
            if root
            else _UNPRIVILEGED_SERVICES.format(
                user=internal_user, group=grp.getgrgid(os.getegid()).gr_name
            )
        )
        # Debian's defaults (first_valid_uid = 500, auth_failure_delay = 2 s, 10 connections
        # per user and IP, fsync on every APPEND) suit a real server, not a test rig.
        # The auth penalty is switched off by not creating its anvil socket (mode = 0):
        # after one wrong password it delays every later login from the same IP by 2-15 s,
        # and every test connects from 127.0.0.1. login_trusted_networks does not help
        # in 2.3.19; its login processes no longer send the no-penalty flag.
        text = f"""\
# Written by daemon.sandbox.dovecot; regenerated on every start.
base_dir = {self.run_dir}
state_dir = {self.base_dir / "state"}
log_path = {self.log_path}
info_log_path = {self.log_path}
instance_name = oneassist-{self.imap_port}
listen = {HOST}
protocols = imap
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_username_format = %Lu
auth_failure_delay = 0
default_login_user = {login_user}
default_internal_user = {internal_user}
mail_uid = {mail_uid}
mail_gid = {mail_gid}
first_valid_uid = {mail_uid}
first_valid_gid = {mail_gid}
mail_location = maildir:{self.mail_dir}/%u
mail_fsync = never
mail_max_userip_connections = 200
mailbox_idle_check_interval = 1 secs
shutdown_clients = yes

passdb {{
  driver = passwd-file
  args = {self.users_dir}/%u
}}
userdb {{
  driver = passwd-file
  args = {self.users_dir}/%u
}}

namespace inbox {{
  inbox = yes
  separator = /
}}

service imap-login {{
  inet_listener imap {{
    address = {HOST}
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
{login_chroot}}}
service imap {{
  process_limit = 500
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
{anvil_chroot}}}
{extra_services}"""
        self.config_path.write_text(text, encoding="utf-8")

    def _spawn_and_wait(self, binary: str) -> None:
        log_size = self.log_path.stat().st_size if self.log_path.exists() else 0
        stderr_path = self.base_dir / "dovecot.stderr"
        with open(stderr_path, "wb") as stderr:
            proc = subprocess.Popen(
                [binary, "-F", "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
                env=_clean_env(),
                # Its own process group, so stop() can reap every child Dovecot forked.
                start_new_session=True,
                preexec_fn=_die_with_parent() if _in_main_thread() else None,
            )
        self._proc = proc
        # Even a test run that dies on an exception or at interpreter exit stops Dovecot.
        self._finalizer = weakref.finalize(self, _terminate_group, proc)
        deadline = time.monotonic() + _START_TIMEOUT
        while True:
            if proc.poll() is not None:
                self._proc = None
                self._finalizer.detach()
                _terminate_group(proc)  # helpers it forked before dying, if any
                problem = stderr_path.read_text(errors="replace") + self._log_since(log_size)
                if "Address already in use" in problem:
                    raise _PortTaken()
                raise DovecotError(f"dovecot exited with {proc.returncode}:\n{problem.strip()}")
            if _imap_greets(self.imap_port):
                return
            if time.monotonic() > deadline:
                self.stop()
                raise DovecotError(
                    f"dovecot did not greet on port {self._port} within {_START_TIMEOUT} s:\n"
                    + self._log_since(log_size)
                )
            time.sleep(0.01)

    def _log_since(self, offset: int) -> str:
        try:
            with open(self.log_path, "rb") as log:
                log.seek(offset)
                return log.read().decode(errors="replace")
        except FileNotFoundError:
            return ""


class _PortTaken(Exception):
    pass


def dovecot_binary() -> str | None:
    """Path of Debian's `dovecot`, or None when dovecot-imapd is not installed."""
    return _sbin("dovecot")


def _sbin(name: str) -> str | None:
    # /usr/sbin is not on an ordinary user's PATH, and `oneassist sandbox` may run as one.
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    return shutil.which(name, path=path)


def _user_name(email: str) -> str:
    # Same folding as auth_username_format = %Lu, so file names and logins agree.
    user = email.strip().lower()
    if not _USER_RE.match(user):
        raise ValueError(f"not a usable mailbox address: {email!r}")
    return user


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _imap_greets(port: int) -> bool:
    """True once imap-login answers: a bound port alone does not prove login works."""
    try:
        with socket.create_connection((HOST, port), timeout=1.0) as sock:
            return sock.recv(64).startswith(b"* OK")
    except OSError:
        return False


def _allow_traverse(path: Path) -> None:
    """Let Dovecot's unprivileged users reach `path` by adding o+x to closed parents.

    Only parents inside the temp directory are changed (pytest's and mkdtemp's 0700
    dirs); opening a home directory such as /root is the owner's decision, so that
    case stops with the command to run instead.
    """
    temp = Path(tempfile.gettempdir()).resolve()
    closed = [p for p in path.resolve().parents if not p.stat().st_mode & stat.S_IXOTH]
    refused = [p for p in closed if not p.is_relative_to(temp) or p == temp]
    if refused:
        dirs = " ".join(str(p) for p in refused)
        raise DovecotError(
            f"Dovecot's mail and auth users cannot reach {path}: no o+x on {dirs}. "
            f"Run `chmod o+x {dirs}` or use a base_dir under {temp}."
        )
    for parent in closed:
        parent.chmod(stat.S_IMODE(parent.stat().st_mode) | stat.S_IXOTH)


def _clean_env() -> dict[str, str]:
    # Dovecot honours LISTEN_FDS/NOTIFY_SOCKET (systemd) and would talk to the daemon's
    # own systemd test sockets if they leaked in; give it only what it needs.
    return {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "LANG": "C"}


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> Callable[[], None] | None:
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


def _terminate_group(proc: subprocess.Popen[bytes], graceful: bool = False) -> None:
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
            proc.wait(_STOP_TIMEOUT)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
    proc.wait()
    # A straggler still holding the listening socket would make restart() fail to bind,
    # so wait for the kernel to finish the group. Zombies (reparented children that init
    # has not reaped yet) hold no sockets and do not count.
    deadline = time.monotonic() + _STOP_TIMEOUT
    while _group_members(pgid) and time.monotonic() < deadline:
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


def _group_members(pgid: int) -> list[int]:
    """PIDs of live (non-zombie) processes in process group `pgid`, read from /proc."""
    return [pid for pid, fields in proc_stats() if int(fields[2]) == pgid and fields[0] != b"Z"]


def _logout_quietly(client: IMAPClient) -> None:
    with contextlib.suppress(Exception):
        client.logout()
    with contextlib.suppress(Exception):
        client.shutdown()
