"""One log event per line on stderr, with a level; journald reads the <N> priority prefix.

Under systemd (JOURNAL_STREAM set) each line starts with a syslog priority
such as <3>, which journald turns into the entry's level; in a terminal the
line starts with a time instead.

Log values often come from mail (a DKIM d=, an exception text quoting a
header). journald starts a new entry at every line break, so a CR LF in such a
value would forge an entry of the attacker's choosing, priority prefix and all
(docs/reliability.md cases 29 and 44). The formatter therefore escapes every control and line
separator character in the message and in the exception text, once, here at
the edge, so no call site can forget to. The only line breaks left are the
frames of a traceback (our own file names and source lines), indented so that
none can pass for an entry of its own.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from types import TracebackType

from parsers.oneline import one_line

_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


def _exception_lines(exc: BaseException, seen: set[int]) -> list[str]:
    """A traceback as lines: frames verbatim (our code), exception texts escaped (may be mail)."""
    seen.add(id(exc))
    lines: list[str] = []
    cause, context = exc.__cause__, exc.__context__
    if cause is not None and id(cause) not in seen:
        lines += _exception_lines(cause, seen)
        lines += ["", "The above exception was the direct cause of the following exception:", ""]
    elif context is not None and not exc.__suppress_context__ and id(context) not in seen:
        lines += _exception_lines(context, seen)
        lines += ["", "During handling of the above exception, another exception occurred:", ""]
    if exc.__traceback__ is not None:
        lines.append("Traceback (most recent call last):")
        for frame in traceback.format_list(traceback.extract_tb(exc.__traceback__)):
            lines += [one_line(part) for part in frame.rstrip("\n").split("\n")]
    for part in traceback.format_exception_only(type(exc), exc):
        lines.append(one_line(part.rstrip("\n")))
    return lines


class JournalFormatter(logging.Formatter):
    def __init__(self, journald: bool, tag: str = "") -> None:
        # The tag names the process of `oneassist run` a line comes from (fetch, ingest-2 ...).
        name = f"%(name)s[{tag}]" if tag else "%(name)s"
        fmt = f"%(levelname)s {name}: %(message)s" if journald else \
            f"%(asctime)s %(levelname)s {name}: %(message)s"
        super().__init__(fmt)
        self.journald = journald

    def formatException(self, ei: tuple[type[BaseException], BaseException, TracebackType | None]  # noqa: N802
                        | tuple[None, None, None]) -> str:
        exc = ei[1]
        if exc is None:
            return ""
        return "\n".join(_exception_lines(exc, set()))

    def format(self, record: logging.LogRecord) -> str:
        # Not super().format(): it would use a cached, unescaped exc_text of another formatter.
        record.message = one_line(record.getMessage())
        if self.usesTime():
            record.asctime = self.formatTime(record, self.datefmt)
        text = self.formatMessage(record)
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        elif record.exc_text:
            text += "\n" + one_line(record.exc_text)
        if record.stack_info:
            text += "\n" + "\n".join(one_line(line) for line in record.stack_info.splitlines())
        # A traceback stays one event: continuation lines are indented, not new entries.
        text = text.replace("\n", "\n  ")
        if self.journald:
            return f"<{_PRIORITY.get(record.levelno, 6)}>{text}"
        return text


def setup_logging(level: str = "INFO", tag: str = "") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JournalFormatter(journald=bool(os.environ.get("JOURNAL_STREAM")), tag=tag))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Library chatter at DEBUG would print protocol lines, which carry mail content.
    # mail.log is aiosmtpd's (the sandbox's SMTP server): it logs every recipient address.
    # dkimpy logs the signed headers at DEBUG under "dkimpy"; its warnings still reach us,
    # through the handler above and so escaped like ours.
    for noisy in ("imapclient", "peewee", "aiosmtplib", "mail-parser", "mailparser", "mail_parser", "schedule",
                  "mail.log", "fontTools", "PIL", "dkimpy", "dkim"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
