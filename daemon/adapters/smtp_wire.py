"""aiosmtplib's DATA preparation without its regexes (installed by daemon.adapters.smtp).

aiosmtplib turns every line end into CRLF with a regex, twice per mail (once to
announce SIZE, once for DATA), and dot-stuffs with another. Both run at about
20 ns a byte while holding the GIL: a staff notice forwarding a client's 2 MB
file spent ~90 ms there, stalling the fetch thread, and the outbox thread
spent a third of its time in them (py-spy, bench/README.md). bytes.replace
does the same in C at memory speed. The output is byte for byte the library's
(tests/unit/test_smtp_wire.py compares them on random input); if a later
aiosmtplib drops these names, install() leaves it alone and says so.
"""

from __future__ import annotations

import logging

log = logging.getLogger("oneassist.smtp")
_originals: dict[str, object] = {}


def crlf_line_endings(message: bytes) -> bytes:
    """Lone CR and lone LF become CRLF; the message ends with CRLF."""
    if b"\r" in message:
        message = message.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    message = message.replace(b"\n", b"\r\n")
    if not message.endswith(b"\r\n"):
        message += b"\r\n"
    return message


class LineStartPeriods:
    """Stands in for aiosmtplib's PERIOD_REGEX (`(?m)^\\.`): only its sub(b"..", text) is used."""

    def sub(self, replacement: bytes, message: bytes) -> bytes:
        if replacement != b"..":
            raise ValueError("only dot-stuffing is supported")
        message = message.replace(b"\n.", b"\n..")
        return b"." + message if message.startswith(b".") else message


def install() -> bool:
    from aiosmtplib import protocol, smtp

    if not (hasattr(protocol, "normalize_message_line_endings") and hasattr(protocol, "PERIOD_REGEX")
            and hasattr(smtp, "normalize_message_line_endings")):
        log.warning("smtp: this aiosmtplib has no normalize_message_line_endings/PERIOD_REGEX; "
                    "sending with its own (slower) line-end handling")
        return False
    if not _originals:
        _originals.update(protocol_crlf=protocol.normalize_message_line_endings,
                          smtp_crlf=smtp.normalize_message_line_endings, periods=protocol.PERIOD_REGEX)
    protocol.normalize_message_line_endings = crlf_line_endings
    smtp.normalize_message_line_endings = crlf_line_endings
    protocol.PERIOD_REGEX = LineStartPeriods()
    return True


def uninstall() -> None:
    """aiosmtplib as shipped again: the benchmark's floor measures the plain library."""
    from aiosmtplib import protocol, smtp

    if _originals:
        protocol.normalize_message_line_endings = _originals["protocol_crlf"]
        smtp.normalize_message_line_endings = _originals["smtp_crlf"]
        protocol.PERIOD_REGEX = _originals["periods"]
