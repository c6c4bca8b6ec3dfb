"""The stdlib MIME tree (compat32), with the part and depth caps checked while it grows.

parsers.limits refuses bombs before any parser runs, but it is a second reading of the
bytes: whatever it reads differently from the stdlib feedparser (RFC 2231 `boundary*=`,
the first of two Content-Type headers) let 2,000,000 parts through (762 MB, 28 s).
Here the feedparser itself counts: every message object it creates passes through
`_new_message`, which raises QuarantineError past the caps, so the tree can never grow
beyond them whatever the pre-scan missed (docs/reliability.md cases 31 and 40).
"""

from __future__ import annotations

from email.feedparser import FeedParser
from email.message import Message
from email.policy import compat32

from parsers.errors import QuarantineError
from parsers.headers import collapse_param

_MISSING = object()
# Parser.parse feeds the feedparser in chunks of this size; so do we.
_CHUNK = 8192


class Part(Message):
    """A compat32 Message whose boundary's RFC 2231 charset is checked before lookup.

    Message.get_boundary decodes `boundary*=<charset>''...` with codecs.lookup of any
    name the sender wrote, and every failed name stays cached (parsers.headers._resolve).
    """

    def get_boundary(self, failobj=None):  # type: ignore[no-untyped-def]  # stdlib signature
        boundary = self.get_param("boundary", _MISSING)
        if boundary is _MISSING:
            return failobj
        # RFC 2046 says that boundaries may begin but not end in white space.
        return collapse_param(boundary).rstrip()  # type: ignore[arg-type]


class _CappedParser(FeedParser):
    def __init__(self, max_parts: int, max_depth: int) -> None:
        super().__init__(Part, policy=compat32)
        self._parts = 0
        self._max_parts = max_parts
        # The root is on the stack too: a multipart's parts sit at depth 1 in
        # parsers.limits and at stack height 2 here.
        self._max_stack = max_depth + 1

    def _new_message(self) -> None:
        parent = self._cur
        super()._new_message()
        # A message carried by a message/rfc822 part is that part, not another one (as
        # parsers.limits counts); the blocks of a message/delivery-status are counted.
        if (
            parent is None
            or parent.get_content_maintype() != "message"
            or parent.get_content_type() == "message/delivery-status"
        ):
            self._parts += 1
            if self._parts > self._max_parts:
                raise QuarantineError(f"more than {self._max_parts} MIME parts")
        if len(self._msgstack) > self._max_stack:
            raise QuarantineError(f"MIME nesting deeper than {self._max_stack - 1}")


def build_tree(raw: bytes, *, max_parts: int, max_depth: int) -> Message:
    """email.message_from_bytes(raw) with the caps enforced while the tree is built."""
    parser = _CappedParser(max_parts, max_depth)
    # As BytesParser.parsebytes: 8-bit bytes survive as surrogate escapes.
    text = raw.decode("ascii", "surrogateescape")
    for start in range(0, len(text), _CHUNK):
        parser.feed(text[start : start + _CHUNK])
    return parser.close()
