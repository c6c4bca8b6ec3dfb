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

The parts live beside this module: dovecot_config.py writes the config, directories
and passwd-files, dovecot_process.py starts, stops and watches the processes, and
dovecot_mailbox.py holds the IMAP helpers a test reads mail with.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
import weakref
from pathlib import Path
from types import TracebackType

from imapclient import IMAPClient

from daemon.sandbox.dovecot_config import (
    HOST,
    DovecotError,
    chown_auth_readable,
    prepare_dirs,
    render_config,
    render_oauth2_args,
    user_name,
)
from daemon.sandbox.dovecot_mailbox import MailboxAccess, logout_quietly
from daemon.sandbox.dovecot_process import (
    clean_env,
    die_with_parent,
    dovecot_binary,
    free_port,
    imap_greets,
    in_main_thread,
    proc_stats,
    sbin,
    terminate_group,
)

__all__ = [
    "DEFAULT_PASSWORD",
    "HOST",
    "DovecotError",
    "DovecotServer",
    "dovecot_binary",
    "proc_stats",
]

DEFAULT_PASSWORD = "secret"

_START_TIMEOUT = 10.0


class DovecotServer(MailboxAccess):
    """One Dovecot instance with its config, users and maildirs inside `base_dir`.

    Thread-safe: the helper methods share one cached IMAP connection per user behind a
    lock, so an SMTP sink thread can deliver while the test thread reads.
    """

    host = HOST

    def __init__(self, base_dir: Path, port: int | None = None, confined: bool = False,
                 oauth2_introspection_url: str | None = None) -> None:
        """confined=True: base_dir may lie behind closed parents (a sandbox under /root);
        see dovecot_config.render_config for what that changes."""
        self.base_dir = Path(base_dir).absolute()
        self.confined = confined
        self._port: int | None = port
        # XOAUTH2 logins checked by Dovecot's oauth2 passdb against this URL (tests of OAuth2).
        self.oauth2_introspection_url = oauth2_introspection_url
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
                self._port = free_port()
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
            terminate_group(proc, graceful)

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
        user = user_name(email)
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
            chown_auth_readable(tmp)
            os.replace(tmp, path)
            self._passwords[user] = password
            stale = self._clients.pop(user, None)
        if stale is not None:
            logout_quietly(stale)
        return user

    def has_user(self, email: str) -> bool:
        return (self.users_dir / user_name(email)).exists()

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
        name = user_name(user)
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
            [sbin("doveadm") or "doveadm", "-c", str(self.config_path), *args],
            capture_output=True,
            env=clean_env(),
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

    def _prepare_dirs(self) -> None:
        prepare_dirs(self.base_dir, self.run_dir, self.users_dir, self.mail_dir, self.confined)

    def _write_config(self) -> None:
        oauth2_args = None
        if self.oauth2_introspection_url:
            oauth2_args = self.base_dir / "dovecot-oauth2.conf.ext"
            oauth2_args.write_text(render_oauth2_args(self.oauth2_introspection_url), encoding="utf-8")
            chown_auth_readable(oauth2_args)
        text = render_config(
            oauth2_args=oauth2_args,
            base_dir=self.base_dir,
            run_dir=self.run_dir,
            log_path=self.log_path,
            mail_dir=self.mail_dir,
            users_dir=self.users_dir,
            port=self.imap_port,
            confined=self.confined,
        )
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
                env=clean_env(),
                # Its own process group, so stop() can reap every child Dovecot forked.
                start_new_session=True,
                preexec_fn=die_with_parent() if in_main_thread() else None,
            )
        self._proc = proc
        # Even a test run that dies on an exception or at interpreter exit stops Dovecot.
        self._finalizer = weakref.finalize(self, terminate_group, proc)
        deadline = time.monotonic() + _START_TIMEOUT
        while True:
            if proc.poll() is not None:
                self._proc = None
                self._finalizer.detach()
                terminate_group(proc)  # helpers it forked before dying, if any
                problem = stderr_path.read_text(errors="replace") + self._log_since(log_size)
                if "Address already in use" in problem:
                    raise _PortTaken()
                raise DovecotError(f"dovecot exited with {proc.returncode}:\n{problem.strip()}")
            if imap_greets(self.imap_port):
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
