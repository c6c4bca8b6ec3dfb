"""One log event per line on stderr, with a level; journald reads the <N> priority prefix.

Under systemd (JOURNAL_STREAM set) each line starts with a syslog priority
such as <3>, which journald turns into the entry's level; in a terminal the
line starts with a time instead.
"""

from __future__ import annotations

import logging
import os
import sys

_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


class JournalFormatter(logging.Formatter):
    def __init__(self, journald: bool) -> None:
        fmt = "%(levelname)s %(name)s: %(message)s" if journald else \
            "%(asctime)s %(levelname)s %(name)s: %(message)s"
        super().__init__(fmt)
        self.journald = journald

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        # A traceback stays one event: continuation lines are indented, not new entries.
        text = text.replace("\n", "\n  ")
        if self.journald:
            return f"<{_PRIORITY.get(record.levelno, 6)}>{text}"
        return text


def setup_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JournalFormatter(journald=bool(os.environ.get("JOURNAL_STREAM"))))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Library chatter at DEBUG would print protocol lines, which carry mail content.
    # mail.log is aiosmtpd's (the sandbox's SMTP server): it logs every recipient address.
    for noisy in ("imapclient", "peewee", "aiosmtplib", "mail-parser", "mailparser", "mail_parser", "schedule",
                  "mail.log", "fontTools", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
