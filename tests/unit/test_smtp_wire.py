"""daemon.adapters.smtp_wire: the same bytes on the wire as aiosmtplib's regexes, and in place."""

import random
import re

from aiosmtplib import protocol, smtp

import daemon.adapters.smtp  # noqa: F401 - installs the fast paths
from daemon.adapters import smtp_wire
from daemon.adapters.smtp_wire import LineStartPeriods, crlf_line_endings

LIBRARY_LINE_ENDINGS = re.compile(rb"(?:\r\n|\n|\r(?!\n))")
LIBRARY_PERIODS = re.compile(rb"(?m)^\.")


def library_crlf(message: bytes) -> bytes:
    message = LIBRARY_LINE_ENDINGS.sub(b"\r\n", message)
    return message if message.endswith(b"\r\n") else message + b"\r\n"


EDGES = [b"", b".", b"\r", b"\n", b"\r\n", b"\n\r", b"\r\r\n", b"a\r", b".a\n.b\r.c\r\n.d", b"..\n..",
         b"x\r\n\r\n.\r\n", b"\xd0\x9f\r\xd1\x80\n.\xff"]


def test_same_bytes_as_the_library_on_edges_and_random_input():
    rng = random.Random(7)
    samples = EDGES + [bytes(rng.choice(b"\r\n.ab\x00\xff") for _ in range(rng.randint(0, 60)))
                       for _ in range(3000)]
    periods = LineStartPeriods()
    for sample in samples:
        normalized = crlf_line_endings(sample)
        assert normalized == library_crlf(sample), sample
        assert periods.sub(b"..", normalized) == LIBRARY_PERIODS.sub(b"..", normalized), sample


def test_installed_where_aiosmtplib_looks_them_up_and_removable():
    assert protocol.normalize_message_line_endings is crlf_line_endings
    assert smtp.normalize_message_line_endings is crlf_line_endings
    assert isinstance(protocol.PERIOD_REGEX, LineStartPeriods)
    smtp_wire.uninstall()
    try:
        assert protocol.normalize_message_line_endings is not crlf_line_endings
        assert smtp.normalize_message_line_endings is protocol.normalize_message_line_endings
        assert protocol.PERIOD_REGEX.pattern == rb"(?m)^\."
    finally:
        smtp_wire.install()
