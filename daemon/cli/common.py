"""What every noun module of the CLI shares: how a command is registered, how it opens the
store, how it reads a WHEN, and the errors that mean "you asked for something wrong".

A handler is `handler(args, clock) -> exit code`; main() makes the one clock and hands it
down, so no command reads the real time itself and a test can freeze it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Callable
from datetime import date, datetime, time, tzinfo
from typing import Any

from daemon.clock import Clock
from daemon.config import Settings, load
from daemon.core.errors import OneAssistError
from daemon.core.timetext import people_time
from daemon.logsetup import setup_logging

Handler = Callable[[argparse.Namespace, Clock], int]


class UsageError(OneAssistError):
    """Bad arguments: say what is wrong and how to write it."""


class NotFound(OneAssistError):
    """The thing named on the command line does not exist."""


def command(into: Any, name: str, func: Handler, help_text: str) -> argparse.ArgumentParser:
    """A subcommand `name` under `into` that runs `func`; it takes --json after its name too."""
    p = into.add_parser(name, help=help_text, description=help_text)
    p.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")
    p.set_defaults(func=func)
    return p


def noun(sub: Any, name: str, help_text: str) -> Any:
    """The actions of one noun (`client add`, `client list`, ...)."""
    return sub.add_parser(name, help=help_text).add_subparsers(dest="action", required=True)


def iso(value: datetime | None) -> str | None:
    """A stored moment as ISO 8601 in UTC, or None."""
    from store.db import from_db

    moment = from_db(value)
    return moment.isoformat() if moment else None


def for_people(value: str | None, zone: tzinfo) -> str:
    """An ISO moment from a document, as a table shows it: the service timezone, to the minute,
    with the zone (`2026-11-30 08:10 UTC+3`); `-` for none. `--json` keeps the ISO form."""
    if not value:
        return "-"
    return people_time(datetime.fromisoformat(value), zone, style="cli")


def settings_from(args: argparse.Namespace) -> Settings:
    return load(args.config)


def with_store(args: argparse.Namespace) -> Settings:
    from store.db import init_db

    settings = settings_from(args)
    setup_logging(settings.log_level if not args.verbose else "DEBUG")
    init_db(settings.store_url, settings.store_lock_wait_seconds)
    return settings


def local_now(clock: Clock, settings: Settings) -> datetime:
    """The clock's moment in the service timezone (WHEN words like `завтра` are local)."""
    return clock.now().astimezone(settings.service.timezone)


def when_arg(settings: Settings, text: str | None, now: datetime) -> datetime | None:
    """A WHEN of the tag language (`2026-11-28 18:00`, `+2d`, `завтра`), or a bare date for reports."""
    from parsers.when import WhenError, parse_when

    if not text:
        return None
    try:
        return parse_when(text, now, settings.service.timezone)
    except WhenError:
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise UsageError(f"{text!r} is not a time: write 2026-11-28, '2026-11-28 18:00' or +2d") from None
        return datetime.combine(day, time(0), settings.service.timezone)


def write_private(path: str, write: Callable[[Any], None]) -> None:
    """Write a file only its owner can read (0600), whatever the umask.

    It is written under a temporary name in the same folder (mkstemp: 0600, O_EXCL) and
    renamed over `path`: an existing file, perhaps one another user made readable or holds
    open, is replaced, never written into.
    """
    import tempfile
    from pathlib import Path

    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        with open(fd, "w", encoding="utf-8") as out:
            write(out)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
