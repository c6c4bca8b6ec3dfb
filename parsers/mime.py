"""Raw RFC 5322 bytes to one immutable InboundMail, or QuarantineError; nothing else escapes.

Caps are enforced on the raw bytes before any parser runs (parsers.limits), and again by
the feedparser as it builds the tree (parsers.tree), because the
stdlib `email` package goes quadratic or hits RecursionError on the bombs of
docs/reliability.md case 31. The MIME tree comes from the stdlib parser with the compat32 policy, which is
what mail-parser itself runs underneath: mail-parser's full pass (forensic header, date
and Received analysis, done twice) managed 650-930 typical replies/s here, under our
1,000/s budget, where this module does 1,600-2,000/s; `policy.default` is slower still.
The From address decides who is writing (client, staff, unknown), so it is read from the
addr-spec of the raw header (parsers.addresses.mailboxes) and display names are decoded
apart: mail-parser decoded names first, and a name decoding to CR LF lost the sender.
Every other header is decoded by parsers.headers so that no value carries CR/LF.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import UTC, datetime
from email.message import Message
from email.utils import parsedate_to_datetime

from parsers.addresses import mailboxes, normalize, parse_address_list
from parsers.errors import QuarantineError
from parsers.headers import (
    clean_header_text,
    collapse_param,
    decode_bytes,
    decode_header_value,
    is_known_charset,
    raw_header_text,
)
from parsers.html_text import html_to_text, unescape
from parsers.limits import check_limits
from parsers.mail import Attachment, InboundMail
from parsers.tree import build_tree

_ID_IN_BRACKETS = re.compile(r"<([^<>\s]+)>")
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")
# Possessive: a `<` flood fails each attempt at once instead of scanning to the end.
_TAG = re.compile(r"<[^<>]*+>")
_MAX_FROM_CHARS = 4096
# One angle-addr or one bare address, with a phrase free of quotes, commas, comments and
# '@'. Each piece excludes what follows it, so matching is linear: an earlier version with
# `\s*` around a lazy phrase took 57 s on a From of 4,000 spaces.
_ADDR_CHARS = r'[^\s"<>,;:()\\@\[\]]+'
_SIMPLE_ANGLE = re.compile(rf'([^"<>,;:()\\@\[\]]*)<({_ADDR_CHARS}@{_ADDR_CHARS})>[ \t]*')
_SIMPLE_BARE = re.compile(rf"[ \t]*({_ADDR_CHARS}@{_ADDR_CHARS})[ \t]*")
_MAX_DEFECTS = 50

_UNSAFE_NAME_CHARS = re.compile(r'[<>:"|?*\x00-\x1f\x7f]')
_DEVICE_NAMES = frozenset(
    {"con", "prn", "aux", "nul", "clock$", "conin$", "conout$"}
    | {f"{dev}{n}" for dev in ("com", "lpt") for n in "0123456789¹²³"}
)
_MAX_NAME_CHARS = 200
# Fallback names get an extension so the file opens; the mimetypes module would read
# /etc/mime.types, and pure modules touch no files.
_EXTENSIONS = {
    **{t: ".txt" for t in ("text/plain", "message/delivery-status")},
    **{"message/rfc822": ".eml", "text/html": ".html", "text/calendar": ".ics"},
    **{"application/pdf": ".pdf", "image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif"},
}


def display_filename(raw_name: str | None, index: int, content_type: str = "") -> str:
    """A file name that is safe to show and to offer for download; never a path.

    RFC 2231 is undone by the email package; RFC 2047 words (which Outlook and Gmail put
    in quoted names) are decoded here. The result has no directory part, no control
    characters, no leading dots, no Windows device name, and is never empty.
    """
    name = decode_header_value(raw_name) if raw_name else ""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = clean_header_text(_UNSAFE_NAME_CHARS.sub("_", name)).lstrip(". ").rstrip(". ")
    if len(name) > _MAX_NAME_CHARS:
        _stem, dot, ext = name.rpartition(".")
        ext = ext if dot and len(ext) <= 16 else ""
        name = name[: _MAX_NAME_CHARS - len(ext) - 1].rstrip(". ") + (f".{ext}" if ext else "")
    if not name:
        return f"attachment-{index}{_EXTENSIONS.get(content_type, '.bin')}"
    if name.split(".", 1)[0].strip().lower() in _DEVICE_NAMES:
        name = f"_{name}"
    return name


_SHOWN_NAME_CHARS = 120


def escaped_name(raw_name: str | None) -> str:
    """The sender's own file name, for showing next to the safe one: nothing in it can act.

    Control, format (RTL override, zero-width) and line-separator characters become
    visible escapes (\\u202e), and a long name is cut with an ellipsis. Path parts stay,
    as text: `../../etc/passwd` is what the sender wrote, and staff should see it.
    """
    if not raw_name:
        return ""
    # Not cleaned first (decode_header_value would blank a NUL or an RTL override): escaped here.
    name = raw_header_text(raw_name) if "=?" not in raw_name else decode_header_value(raw_name)
    out = []
    for char in name[: _SHOWN_NAME_CHARS * 2]:
        category = unicodedata.category(char)
        if category in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp") or char == "\\":
            out.append(f"\\u{ord(char):04x}" if char != "\\" else "\\\\")
        else:
            out.append(char)
    shown = "".join(out)
    return shown if len(shown) <= _SHOWN_NAME_CHARS else shown[: _SHOWN_NAME_CHARS - 1] + "…"


def _defect_name(defect: object) -> str:
    name = type(defect).__name__.removesuffix("Defect")
    return _CAMEL.sub("-", name).lower()


def _ids(values: list[str]) -> tuple[str, ...]:
    """Message-IDs without brackets; bare tokens with '@' when a client forgot them."""
    found: dict[str, None] = {}
    for value in values:
        text = raw_header_text(value)
        ids = _ID_IN_BRACKETS.findall(text)
        if not ids:
            ids = [t.strip("<>") for t in re.split(r"[\s,]+", text) if "@" in t]
        for msg_id in ids:
            msg_id = clean_header_text(msg_id)
            if msg_id:
                found.setdefault(msg_id, None)
    return tuple(found)


def _date(value: str | None, defects: list[str]) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(raw_header_text(value))
    except (TypeError, ValueError, IndexError, OverflowError):
        defects.append("date-invalid")
        return None
    # RFC 5322 "-0000" means "UTC, origin zone unknown"; the stdlib returns it naive.
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _display(phrase: str) -> str:
    """A display name decoded apart from its address, with no control characters left."""
    if len(phrase) > 1 and phrase.startswith('"') and phrase.endswith('"'):
        # Outlook and old webmail quote "=?utf-8?...?=" words; this is display text only.
        phrase = re.sub(r"\\(.)", r"\1", phrase[1:-1])
    return decode_header_value(phrase) if "=?" in phrase else clean_header_text(phrase)


def _sender(values: list[str], defects: list[str]) -> tuple[str, str, int]:
    """(address, display name, number of mailboxes) of the From header.

    The address is the addr-spec of the raw header; the display name is decoded on its
    own, so a name that decodes to CR LF and "Bcc: ..." can neither hide nor replace
    the address (issue 9 finding 6, docs/reliability.md case 41).
    """
    if not values:
        defects.append("from-missing")
        return "", "", 0
    value = raw_header_text(values[0])
    if len(values) > 1:
        defects.append("from-repeated")
    if len(value) > _MAX_FROM_CHARS:
        defects.append("from-too-long")
        return "", "", 0
    # A plain "Name <a@b>" or "a@b" is unambiguous: the common case skips the scanner.
    angle = _SIMPLE_ANGLE.fullmatch(value)
    if angle:
        return normalize(angle.group(2)), _display(angle.group(1).strip()), 1
    bare = _SIMPLE_BARE.fullmatch(value)
    if bare:
        return normalize(bare.group(1)), "", 1
    boxes = mailboxes(value)
    if len(boxes) > 1:
        # RFC 5322 allows several authors; staff mail with them is refused (finding 11).
        defects.append("from-several-mailboxes")
    for box in boxes:
        address = normalize(box.addr_spec)
        if address:
            return address, _display(box.display), len(boxes)
    defects.append("from-unparseable")
    return "", "", len(boxes)


def _strip_tags(markup: str) -> str:
    """Last resort if the converter fails: tags removed, entities decoded, still linear."""
    return unescape(_TAG.sub(" ", markup)).strip()


def _html_to_text(markup: str) -> str:
    # parsers.html_text is linear in its input at any size (docs/reliability.md case 38), so no
    # size threshold; html2text was quadratic on line breaks.
    try:
        return html_to_text(markup)
    except Exception:  # Any converter failure falls back; it must not quarantine.
        return _strip_tags(markup)


def _params(part: Message, header: str) -> dict[str, str] | None:
    """Parameters of one MIME header, parsed once (the stdlib re-parses per get_param).

    None when an RFC 2231 value names a charset that refuses to decode.
    """
    if header not in part:
        return {}
    try:
        found = part.get_params(header=header) or []
        # The first item is the value itself ("attachment"), unless a broken header has
        # only parameters.
        pairs = found[1:] if found and found[0][1] == "" else found
        return {key: collapse_param(value).strip() for key, value in pairs}
    except (LookupError, UnicodeError, ValueError, TypeError):
        return None


def _text_of(data: bytes, charset: str | None, defects: list[str]) -> str:
    if not is_known_charset(charset):
        defects.append("charset-unknown")
    text = decode_bytes(data, charset)
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "\ufffd")


def _payload(part: Message) -> bytes:
    if part.is_multipart():
        # An attached message (or a DSN's delivery-status block): keep it as sent.
        return b"".join(sub.as_bytes() for sub in part.get_payload() if isinstance(sub, Message))
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


def _attachment(part: Message, raw_name: str | None, disposition: str, index: int) -> Attachment:
    data = _payload(part)
    content_id = clean_header_text(raw_header_text(str(part.get("content-id") or ""))).strip("<>")
    content_type = part.get_content_type()
    filename = display_filename(raw_name, index, content_type)
    original = escaped_name(raw_name)
    return Attachment(
        filename=filename,
        original_name=original if original and original != filename else "",
        content_type=content_type,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        payload=data,
        content_id=content_id or None,
        inline=disposition == "inline" or (not disposition and bool(content_id)),
    )


def _walk(root: Message, defects: list[str]) -> tuple[str, str, tuple[Attachment, ...]]:
    """Body text, body HTML and attachments, walking the tree without recursion."""
    plain: list[str] = []
    markup: list[str] = []
    attachments: list[Attachment] = []
    stack: list[tuple[Message, bool]] = [(root, False)]
    while stack:
        part, attached = stack.pop()
        defects.extend(_defect_name(d) for d in part.defects)
        content_type = part.get_content_type()
        disposition = str(part.get("content-disposition") or "").split(";", 1)[0].strip().lower()
        if part.is_multipart() and (part is root or not content_type.startswith("message/")):
            inner = attached or disposition == "attachment"
            children = [c for c in part.get_payload() if isinstance(c, Message)]
            stack.extend((child, inner) for child in reversed(children))
            continue
        type_params = _params(part, "content-type")
        disposition_params = _params(part, "content-disposition")
        if type_params is None or disposition_params is None:
            # The part names a file we cannot decode: an attachment with a fallback name.
            defects.append("filename-undecodable")
            attachments.append(_attachment(part, None, disposition, len(attachments) + 1))
            continue
        name = disposition_params.get("filename") or type_params.get("name")
        lying = not part.is_multipart() and (
            content_type.startswith("multipart/")
            or (part is root and content_type.startswith("message/"))
        )
        if lying:
            # A "multipart" whose boundary never appears: its text is still the body.
            defects.append("lying-multipart")
        is_text = content_type in ("text/plain", "text/html") or lying
        if is_text and not attached and not name and disposition != "attachment":
            text = _text_of(_payload(part), type_params.get("charset"), defects)
            (markup if content_type == "text/html" else plain).append(text)
        else:
            attachments.append(_attachment(part, name, disposition, len(attachments) + 1))
    text = "\n".join(t for t in plain if t.strip())
    body_html = "\n".join(markup)
    if not text.strip() and body_html.strip():
        text = _html_to_text(body_html)
    return text, body_html, tuple(attachments)


def _build(raw: bytes, max_parts: int, max_depth: int) -> InboundMail:
    msg = build_tree(raw, max_parts=max_parts, max_depth=max_depth)
    items = [(str(name), str(value)) for name, value in msg.raw_items()]
    by_name: dict[str, list[str]] = {}
    for name, value in items:
        by_name.setdefault(name.strip().lower(), []).append(value)
    defects: list[str] = []
    from_addr, from_name, from_mailboxes = _sender(by_name.get("from", []), defects)
    message_ids = _ids(by_name.get("message-id", [])[:1])
    if not message_ids:
        defects.append("message-id-missing")
    text, body_html, attachments = _walk(msg, defects)
    subjects = by_name.get("subject")
    return InboundMail(
        message_id=message_ids[0] if message_ids else None,
        from_addr=from_addr,
        from_name=from_name,
        from_header_count=len(by_name.get("from", [])),
        from_mailbox_count=from_mailboxes,
        repeated_headers=tuple(sorted(name for name, values in by_name.items() if len(values) > 1)),
        to=parse_address_list(raw_header_text(v) for v in by_name.get("to", [])),
        cc=parse_address_list(raw_header_text(v) for v in by_name.get("cc", [])),
        reply_to=parse_address_list(raw_header_text(v) for v in by_name.get("reply-to", [])),
        subject=decode_header_value(subjects[0]) if subjects else "",
        date=_date((by_name.get("date") or [None])[0], defects),
        in_reply_to=_ids(by_name.get("in-reply-to", [])),
        references=_ids(by_name.get("references", [])),
        text=text,
        html=body_html,
        attachments=attachments,
        headers=tuple((clean_header_text(n).lower(), decode_header_value(v)) for n, v in items),
        defects=tuple(dict.fromkeys(defects))[:_MAX_DEFECTS],
        size=len(raw),
        sha256=hashlib.sha256(raw).hexdigest(),
    )


def parse(
    raw: bytes,
    *,
    max_bytes: int = 40 * 1024 * 1024,
    max_parts: int = 500,
    max_depth: int = 30,
    max_header_bytes: int = 256 * 1024,
) -> InboundMail:
    """Parse one raw mail. Raises QuarantineError (and only that) when it cannot be used."""
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise QuarantineError(f"mail is {type(raw).__name__}, not bytes")
    raw = bytes(raw)
    if not raw or raw.isspace():
        raise QuarantineError("mail is empty")
    check_limits(
        raw,
        max_bytes=max_bytes,
        max_parts=max_parts,
        max_depth=max_depth,
        max_header_bytes=max_header_bytes,
    )
    try:
        return _build(raw, max_parts, max_depth)
    except QuarantineError:
        raise
    except RecursionError as exc:
        raise QuarantineError("MIME structure nests too deep for the parser") from exc
    except Exception as exc:  # The contract: an InboundMail or QuarantineError.
        raise QuarantineError(f"unparseable mail: {type(exc).__name__}") from exc
