"""docs/reliability.md case 40: the caps of parsers.limits see lines as the stdlib parser splits them."""

from __future__ import annotations

import email
import time

import pytest

from daemon.core.errors import QuarantineError
from parsers.limits import check_limits
from parsers.mime import parse
from tests.unit.test_mime import many_parts, nested_messages, nested_multipart

CAPS = {"max_bytes": 40 * 1024 * 1024, "max_parts": 500, "max_depth": 30,
        "max_header_bytes": 256 * 1024}


def with_line_end(raw: bytes, end: bytes) -> bytes:
    return raw.replace(b"\r\n", end)


def mixed(raw: bytes) -> bytes:
    """Every line end in turn CRLF, LF, bare CR: what a hostile mail can mix."""
    lines = raw.split(b"\r\n")
    ends = (b"\r\n", b"\n", b"\r")
    return b"".join(line + ends[i % 3] for i, line in enumerate(lines[:-1])) + lines[-1]


@pytest.mark.parametrize("end", [b"\r\n", b"\n", b"\r"], ids=["crlf", "lf", "bare-cr"])
def test_100000_parts_are_refused_whatever_the_line_end(end):
    raw = with_line_end(many_parts(100_000), end)
    started = time.process_time()
    with pytest.raises(QuarantineError, match="parts"):
        check_limits(raw, **CAPS)
    assert time.process_time() - started < 1.0


@pytest.mark.parametrize("end", [b"\n", b"\r"], ids=["lf", "bare-cr"])
def test_950_levels_of_nesting_are_refused_whatever_the_line_end(end):
    with pytest.raises(QuarantineError, match="nesting"):
        check_limits(with_line_end(nested_multipart(950), end), **CAPS)
    with pytest.raises(QuarantineError, match="nesting"):
        check_limits(with_line_end(nested_messages(950), end), **CAPS)


def test_bare_cr_parts_are_parts_for_the_stdlib_parser_too():
    """The premise: a bare CR ends a line for email.feedparser, so 600 parts are 600 parts."""
    raw = with_line_end(many_parts(600), b"\r")
    assert len(email.message_from_bytes(raw).get_payload()) == 600
    with pytest.raises(QuarantineError, match="more than 500 MIME parts"):
        parse(raw)


def test_mixed_line_ends_are_counted_like_the_parser():
    raw = mixed(many_parts(501))
    assert len(email.message_from_bytes(raw).get_payload()) == 501
    with pytest.raises(QuarantineError, match="parts"):
        check_limits(raw, **CAPS)
    with pytest.raises(QuarantineError, match="nesting"):
        check_limits(mixed(nested_multipart(31)), **CAPS)


@pytest.mark.parametrize("end", [b"\n", b"\r"], ids=["lf", "bare-cr"])
def test_mail_under_the_caps_passes_with_any_line_end(end):
    mail = parse(with_line_end(nested_multipart(25), end))
    assert mail.text.strip() == "deep"
    assert len(parse(with_line_end(many_parts(400), end)).text.split("\n")) >= 400


def test_bare_cr_header_block_counts_against_the_header_cap():
    headers = b"".join(b"X-H%d: v\r" % i for i in range(40_000))
    with pytest.raises(QuarantineError, match="header block"):
        check_limits(headers + b"\rbody", **CAPS)
