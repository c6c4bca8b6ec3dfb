"""The parsed mail: what parsers/mime.py makes of raw bytes, and every later stage reads.

It lives at the bottom layer because the parsers make it; the core, the store and the
runners import it from here. Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Attachment:
    """One attached file. `filename` is sanitized for display only; bytes are kept as sent."""

    filename: str
    content_type: str
    size: int
    sha256: str
    payload: bytes = field(repr=False)
    content_id: str | None = None
    inline: bool = False
    # The name as the sender wrote it, escaped for display (parsers/mime.py escaped_name),
    # when it differs from `filename`; never used as a path.
    original_name: str = ""


@dataclass(frozen=True)
class InboundMail:
    """A parsed incoming mail. Every text field is decoded and CR/LF-free where it is a header.

    Addresses are lower-cased `local@domain` without display names.
    Message-IDs are stored without angle brackets.
    """

    message_id: str | None
    from_addr: str
    from_name: str
    from_header_count: int
    to: tuple[str, ...]
    cc: tuple[str, ...]
    reply_to: tuple[str, ...]
    subject: str
    date: datetime | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    text: str
    html: str
    attachments: tuple[Attachment, ...]
    # (lower-cased name, decoded and sanitized value) in the order they appear.
    headers: tuple[tuple[str, str], ...]
    defects: tuple[str, ...]
    size: int
    sha256: str
    # Mailboxes named by the first From header (RFC 5322 allows several authors).
    from_mailbox_count: int = 1
    # Lower-cased names of the headers that occur more than once. A DKIM pass covers the
    # bottom-most instance of a header while the parser reads the top-most, so staff mail
    # with a repeated From, Subject, Message-ID ... is refused (docs/reliability.md case 36).
    repeated_headers: tuple[str, ...] = ()

    def header(self, name: str) -> str | None:
        """First value of a header, or None."""
        name = name.lower()
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def header_all(self, name: str) -> tuple[str, ...]:
        name = name.lower()
        return tuple(value for key, value in self.headers if key == name)

    @property
    def recipients(self) -> tuple[str, ...]:
        return self.to + self.cc
