"""`oneassist backup FILE`: a consistent, owner-only copy of the store while the daemon runs.

SQLite is copied with the online backup API (store/backup.py). A PostgreSQL store is
dumped by pg_dump, which must be at least the server's major version: the command is
printed after that is checked, never run with a password on its command line.
"""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from daemon.cli.common import UsageError, command, with_store
from daemon.clock import Clock
from daemon.core.errors import OneAssistError
from daemon.output import emit
from store import backup


def _without_password(url: str) -> str:
    parts = urlsplit(url.replace("postgres://", "postgresql://", 1))
    if parts.password is None:
        return urlunsplit(parts)
    host = parts.hostname or ""
    netloc = f"{parts.username}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def local_pg_dump_major() -> int | None:
    try:
        out = subprocess.run(["pg_dump", "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r"(\d+)(?:\.\d+)?", out)
    return int(found.group(1)) if found else None


def postgres_plan(url: str, target: str) -> dict[str, Any]:
    server = backup.postgres_version()
    server_major = server // 10000
    local = local_pg_dump_major()
    dump = (f"pg_dump --format=custom --file={shlex.quote(target)} {shlex.quote(_without_password(url))}")
    if local is None:
        raise OneAssistError(f"pg_dump is not installed; install the PostgreSQL {server_major} client "
                             f"(apt-get install postgresql-client-{server_major}) and run: {dump}")
    if local < server_major:
        raise OneAssistError(f"pg_dump {local} cannot dump a PostgreSQL {server_major} server: install "
                             f"postgresql-client-{server_major}, then run: {dump}")
    return {"store": "postgresql", "server_version": server, "pg_dump_major": local, "command": dump,
            "restore": f"pg_restore --clean --if-exists --dbname=DATABASE_URL {shlex.quote(target)}",
            "note": "the password comes from PGPASSWORD or ~/.pgpass, never the command line; "
                    "umask 077 keeps the dump owner-only"}


def cmd_backup(args: argparse.Namespace, clock: Clock) -> int:
    settings = with_store(args)
    target = Path(args.file).expanduser()
    if target.is_dir():
        raise UsageError(f"{target} is a folder: name the backup file, e.g. {target / 'oneassist.db'}")
    if not target.parent.is_dir():
        raise UsageError(f"{target.parent} does not exist: create it (mode 700) first")
    if backup.sqlite_path() is None:
        if not settings.store_url.startswith(("postgresql://", "postgres://")):
            raise UsageError("an in-memory store cannot be backed up")
        plan = postgres_plan(settings.store_url, str(target))
        emit(plan, args.json, lambda p: f"# PostgreSQL {p['server_version'] // 10000}, pg_dump {p['pg_dump_major']}: "
                                         f"ok. Run:\numask 077; {p['command']}\n# restore: {p['restore']}")
        return 0
    counts = backup.backup_sqlite(target)
    result = {"store": "sqlite", "file": str(target), "counts": counts}
    emit(result, args.json, lambda r: f"backed up to {r['file']} (mode 0600): "
                                      + ", ".join(f"{k} {v}" for k, v in r["counts"].items()))
    return 0


def register(sub: Any) -> None:
    p = command(sub, "backup", cmd_backup,
                "a consistent copy of the store while the daemon runs (SQLite; pg_dump for PostgreSQL)")
    p.add_argument("file", help="the backup file to write (mode 0600)")
