"""The `oneassist` command: one module per noun, each registering its subcommands.

    desk.py        run, check, export, secret (the desk as a whole)
    client.py      client add|list|show|set        ticket.py      ticket list|show|new
    invoice.py     invoice issue|list              payment.py     payment add
    outbox.py      outbox list                     quarantine.py  quarantine list|show|retry
    report.py      report sla|billing              staff.py       staff list|away|back
    status.py      status (exit 0/1/2 as a Nagios check)
    backup.py      backup FILE                     client_data.py  client export|erase
    daemon/sandbox/cli.py  sandbox

Every list and show command prints a readable table for people or, with --json, one JSON
document for scripts (daemon/output.py). Errors go to stderr with exit code 2 (bad input or
config) or 1 (a server or the store did not answer). main() makes the one clock and hands it
to the command.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from daemon.cli import (
    backup,
    client,
    desk,
    invoice,
    outbox,
    payment,
    quarantine,
    report,
    staff,
    status,
    ticket,
)
from daemon.cli.common import NotFound, UsageError
from daemon.clock import Clock, SystemClock
from daemon.core.errors import ConfigError, OneAssistError, PermanentError, TransientError
from daemon.output import fail
from daemon.sandbox import cli as sandbox

# In this order in `oneassist --help`.
NOUNS = (desk, status, backup, client, staff, payment, invoice, ticket, outbox, report, quarantine, sandbox)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="oneassist", description="OneAssist desk: tasks by email.")
    parser.add_argument("--config", help="config file (default: $ONEASSIST_CONFIG)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in NOUNS:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None, clock: Clock | None = None) -> int:
    """Run one command; `clock` is the time every command sees (the system's by default)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "json"):
        args.json = False
    try:
        return args.func(args, clock or SystemClock())
    except (ConfigError, UsageError, NotFound, ValueError) as exc:
        return fail(exc, 2)
    except (TransientError, PermanentError, OneAssistError) as exc:
        return fail(exc, 1)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `oneassist ticket list | head`: not an error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
