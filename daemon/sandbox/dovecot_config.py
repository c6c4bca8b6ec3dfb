"""The files a sandbox Dovecot runs from: dovecot.conf, its directories and passwd-files.

Everything here writes under the server's base_dir and decides which system users Dovecot
switches to; nothing starts a process or opens a connection (see dovecot_process.py and
dovecot_mailbox.py). Running as root, Dovecot drops to Debian's `mail`, `dovecot` and
`dovenull` users, so those must be able to traverse every parent of base_dir: see
allow_traverse().
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import stat
import tempfile
from pathlib import Path

HOST = "127.0.0.1"

# Unix socket paths are limited to 108 bytes; Dovecot's longest socket name under
# base_dir ("token-login/tokenlogin", "login/imap-urlauth") needs about 30 of them.
MAX_RUN_DIR_LEN = 76
# Passwd-file lines hold the password after the first colon; a user name may hold neither
# a colon nor a slash (each user has a file named after them) nor whitespace.
_USER_RE = re.compile(r"^[^\s:/\x00]+@[^\s:/\x00]+$")

# Unprivileged, Dovecot can neither switch auth-worker to root nor chown its sockets to
# the `dovecot` group; both are defaults. (Nor can it chroot: see login_chroot.)
_UNPRIVILEGED_SERVICES = """\
default_internal_group = {group}
service auth-worker {{
  user = {user}
}}
"""

# Confined (see render_config): passwd-files behind closed parents are read by root.
_CONFINED_AUTH = """\
service auth {
  user = root
}
"""


class DovecotError(RuntimeError):
    """Dovecot did not start, stop or answer as the rig expected; the message quotes its log."""


def user_name(email: str) -> str:
    """The login and passwd-file name of `email`; ValueError when it cannot be one."""
    # Same folding as auth_username_format = %Lu, so file names and logins agree.
    user = email.strip().lower()
    if not _USER_RE.match(user):
        raise ValueError(f"not a usable mailbox address: {email!r}")
    return user


def accounts() -> tuple[str, str, str]:
    """(mail user, internal user, login user) Dovecot switches to."""
    if os.geteuid() == 0:
        return "mail", "dovecot", "dovenull"
    # Unprivileged: Dovecot cannot switch users, so it runs everything as us.
    me = pwd.getpwuid(os.geteuid()).pw_name
    return me, me, me


def prepare_dirs(
    base_dir: Path, run_dir: Path, users_dir: Path, mail_dir: Path, confined: bool = False
) -> None:
    """Create the server's directories with the owners and modes Dovecot's users need.

    confined (see render_config): base_dir may sit behind closed parents such as /root,
    so nothing outside it is opened and base_dir itself stays owner-only.
    """
    if len(str(run_dir)) > MAX_RUN_DIR_LEN:
        raise DovecotError(
            f"base_dir is too long for Dovecot's unix sockets ({run_dir}); "
            f"use a path under {MAX_RUN_DIR_LEN - 4} characters"
        )
    mail_user, internal_user, _ = accounts()
    for directory in (base_dir, base_dir / "state", users_dir, mail_dir):
        directory.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return
    if confined:
        base_dir.chmod(0o700)
    else:
        allow_traverse(base_dir)
        base_dir.chmod(0o755)
    mail = pwd.getpwnam(mail_user)
    os.chown(mail_dir, mail.pw_uid, mail.pw_gid)
    mail_dir.chmod(0o700)
    # The auth process (user `dovecot`) reads the passwd-files; nobody else may.
    auth_gid = pwd.getpwnam(internal_user).pw_gid
    os.chown(users_dir, 0, auth_gid)
    users_dir.chmod(0o750)


def chown_auth_readable(path: Path) -> None:
    """Let Dovecot's auth process, and only it, read a passwd-file."""
    if os.geteuid() == 0:
        os.chown(path, 0, pwd.getpwnam(accounts()[1]).pw_gid)
    path.chmod(0o640)


def allow_traverse(path: Path) -> None:
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


def render_config(
    *,
    base_dir: Path,
    run_dir: Path,
    log_path: Path,
    mail_dir: Path,
    users_dir: Path,
    port: int,
    confined: bool = False,
    oauth2_args: Path | None = None,
) -> str:
    """The text of dovecot.conf for one server listening on HOST:`port`.

    confined=True (the sandbox, whose folder may be under /root): as root, the processes
    that open files under base_dir never need to walk its parents. The auth process runs
    as root to read the passwd-files, and each mail process chroots into mail_dir (as
    root, before it drops to `mail`, which Dovecot insists on). Login processes already
    chroot into run_dir; master and log run as root anyway.

    With `oauth2_args` (a file render_oauth2_args wrote), XOAUTH2 and OAUTHBEARER logins
    are checked by Dovecot's oauth2 passdb against that file's introspection URL.
    """
    mail_user, internal_user, login_user = accounts()
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
    location = f"maildir:{mail_dir}/%u"
    if root and confined:
        location = f"maildir:/%u\nmail_chroot = {mail_dir}\nvalid_chroot_dirs = {mail_dir}"
        extra_services += _CONFINED_AUTH
    # Debian's defaults (first_valid_uid = 500, auth_failure_delay = 2 s, 10 connections
    # per user and IP, fsync on every APPEND) suit a real server, not a test rig.
    # The auth penalty is switched off by not creating its anvil socket (mode = 0):
    # after one wrong password it delays every later login from the same IP by 2-15 s,
    # and every test connects from 127.0.0.1. login_trusted_networks does not help
    # in 2.3.19; its login processes no longer send the no-penalty flag.
    return f"""\
# Written by daemon.sandbox.dovecot; regenerated on every start.
base_dir = {run_dir}
state_dir = {base_dir / "state"}
log_path = {log_path}
info_log_path = {log_path}
instance_name = oneassist-{port}
listen = {HOST}
protocols = imap
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login{" xoauth2 oauthbearer" if oauth2_args else ""}
auth_username_format = %Lu
auth_failure_delay = 0
default_login_user = {login_user}
default_internal_user = {internal_user}
mail_uid = {mail_uid}
mail_gid = {mail_gid}
first_valid_uid = {mail_uid}
first_valid_gid = {mail_gid}
mail_location = {location}
mail_fsync = never
mail_max_userip_connections = 200
mailbox_idle_check_interval = 1 secs
shutdown_clients = yes

{_oauth2_passdb(oauth2_args)}passdb {{
  driver = passwd-file
  args = {users_dir}/%u
}}
userdb {{
  driver = passwd-file
  args = {users_dir}/%u
}}

namespace inbox {{
  inbox = yes
  separator = /
}}

service imap-login {{
  inet_listener imap {{
    address = {HOST}
    port = {port}
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


def _oauth2_passdb(args: Path | None) -> str:
    if args is None:
        return ""
    return f"""passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {args}
}}
"""


def render_oauth2_args(introspection_url: str) -> str:
    """dovecot-oauth2.conf.ext for an RFC 7662 introspection endpoint (POST token=...)."""
    return f"""\
introspection_mode = post
introspection_url = {introspection_url}
force_introspection = yes
username_attribute = username
active_attribute = active
active_value = true
"""
