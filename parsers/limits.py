"""Cheap caps on raw mail bytes, checked before any MIME parser sees them.

The stdlib `email` package recurses once per nesting level (RecursionError near 1,000
levels), parses parameters quadratically (8.9 s for a Content-Type with 32,000 ';') and
is slow on giant address lists (docs/reliability.md case 31). One linear
regex pass over the bytes finds the header block, every Content-Type and
Content-Disposition header, every blank line and every line that starts with '--'. From
those it tracks the real boundary nesting (a stack of declared boundaries, plus one level
per embedded message/rfc822) and counts the parts, so ordinary large mail passes and a
bomb is refused in milliseconds with a reason an admin can read. Lines end where the
stdlib parser ends them: CRLF, LF or a bare CR.
"""

from __future__ import annotations

import re

from parsers.errors import QuarantineError
from parsers.tree import Part

_HEADER_END = re.compile(rb"\r?\n\r?\n")
# Each event starts with the newline before its line: a literal first character lets the
# regex engine skip ahead with a fast search instead of trying every byte position.
_EVENTS = re.compile(
    rb"\n(?:(?P<blank>\r?(?=\n|$))|(?P<dash>--[^\r\n]*)"
    rb"|(?P<mime>content-(?:type|disposition)[ \t]*:[^\n]*(?:\n[ \t][^\n]*)*))",
    re.IGNORECASE,
)
# What the feedparser takes for a header line (email.feedparser.headerRE).
_HEADER_LINE = re.compile(rb"--[\x21-\x39\x3b-\x7e]*:")
# A real Content-Type or Content-Disposition has a handful of parameters; RFC 2231
# continuations of a long file name need a few dozen. The stdlib's parameter parser is
# quadratic, so both the count and the length are capped.
MAX_PARAMETERS = 100
MAX_MIME_HEADER_BYTES = 16 * 1024


def _refuse(reason: str) -> None:
    raise QuarantineError(reason)


def _check_mime_header(value: bytes) -> None:
    if len(value) > MAX_MIME_HEADER_BYTES:
        _refuse(f"a MIME header is {len(value)} bytes, over the {MAX_MIME_HEADER_BYTES}-byte cap")
    if value.count(b";") > MAX_PARAMETERS:
        _refuse(f"a MIME header has more than {MAX_PARAMETERS} parameters")


def _type_and_boundary(header: bytes) -> tuple[bytes, bytes | None]:
    """Content type and boundary of one Content-Type header, read as the stdlib reads them.

    A regex of our own missed RFC 2231 (`boundary*=''b`, `boundary*0="b"`) and str.strip's
    idea of white space, so the stdlib's own code reads the value here: the feedparser
    asks get_content_type and get_boundary of the same text (docs/reliability.md case 40).
    """
    part = Part()
    # As compat32's header_source_parse: the value after the colon, blanks stripped.
    part["Content-Type"] = header.partition(b":")[2].lstrip(b" \t").decode(
        "ascii", "surrogateescape"
    )
    # 8-bit bytes in the value come back as U+FFFD, so such a type is no multipart to
    # the feedparser either; "replace" keeps the comparison below the same.
    content_type = part.get_content_type().encode("ascii", "replace")
    # An empty boundary="" is a boundary to the stdlib: "--" lines separate parts.
    boundary = part.get_boundary() if content_type.startswith(b"multipart/") else None
    if boundary is None:
        return content_type, None
    try:
        # 8-bit boundary bytes come back as surrogate escapes, as the body lines do.
        return content_type, boundary.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        # Decoded from an RFC 2231 charset to characters no body line can hold.
        return content_type, None


def check_limits(
    raw: bytes, *, max_bytes: int, max_parts: int, max_depth: int, max_header_bytes: int
) -> None:
    """Raise QuarantineError when the raw mail breaks a cap; return None when it is safe."""
    if len(raw) > max_bytes:
        _refuse(f"mail is {len(raw)} bytes, over the {max_bytes}-byte cap")
    # The stdlib parser ends a line at CRLF, LF or a bare CR (email.feedparser.NLCRE_crack);
    # counting only LF let 100,000 CR-separated parts and 950 levels past the caps
    # (docs/reliability.md case 40). Two linear copies make the scan see the parser's lines.
    raw = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    end = _HEADER_END.search(raw)
    header_bytes = end.start() if end else len(raw)
    if header_bytes > max_header_bytes:
        _refuse(f"header block is {header_bytes} bytes, over the {max_header_bytes}-byte cap")

    known: set[bytes] = set()
    # Open boundaries, innermost last; None marks an embedded message.
    stack: list[bytes | None] = []
    in_headers = True
    block_type = b""
    block_boundary: bytes | None = None
    block_seen = False
    block_default = b""
    digests: set[bytes] = set()
    parts = 1
    mime_headers = 0
    # The leading newline lets the first header line match like every other line.
    for match in _EVENTS.finditer(b"\n" + raw):
        kind = match.lastgroup
        if kind == "mime":
            if not in_headers:
                continue
            value = match.group()[1:]
            mime_headers += 1
            if mime_headers > max_parts * 2:
                _refuse(f"more than {max_parts * 2} MIME headers (part cap {max_parts})")
            _check_mime_header(value)
            if value[:12].lower() == b"content-type" and not block_seen:
                # The stdlib reads the first Content-Type of a block; taking the last one
                # let a second "Content-Type: text/plain" hide 20,000 parts.
                block_seen = True
                block_type, block_boundary = _type_and_boundary(value)
        elif kind == "blank" or (in_headers and not _HEADER_LINE.match(match.group(), 1)):
            # A blank line ends a header block; so does a "--b" line, which is no header
            # line to the stdlib (a mail of bare "--b" lines and no blank line hid its parts).
            if not in_headers:
                continue
            if not block_seen:
                block_type = block_default
            if block_type.startswith(b"multipart/digest") and block_boundary is not None:
                digests.add(block_boundary)
            if block_boundary is not None:
                known.add(block_boundary)
            if block_type.startswith(b"message/") and block_type != b"message/delivery-status":
                # The embedded message's own header block starts right here.
                stack.append(None)
                if len(stack) > max_depth:
                    _refuse(f"MIME nesting deeper than {max_depth}")
            else:
                in_headers = False
            block_type, block_boundary, block_seen = b"", None, False
            if kind == "blank":
                continue
        if kind == "dash" and known:
            line = match.group()[3:].rstrip()
            if line.endswith(b"--") and line[:-2] in known:
                if line[:-2] in stack:
                    del stack[len(stack) - 1 - stack[::-1].index(line[:-2]) :]
                in_headers = False
            elif line in known:
                parts += 1
                if parts > max_parts:
                    _refuse(f"more than {max_parts} MIME parts")
                if line in stack:
                    del stack[len(stack) - stack[::-1].index(line) :]
                else:
                    stack.append(line)
                    if len(stack) > max_depth:
                        _refuse(f"MIME nesting deeper than {max_depth}")
                in_headers = True
                block_type, block_boundary, block_seen = b"", None, False
                # The parts of a multipart/digest are messages unless they say otherwise.
                block_default = b"message/rfc822" if line in digests else b""
