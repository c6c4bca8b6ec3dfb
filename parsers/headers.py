"""Turn raw header text into one safe line of Unicode, whatever the sender put in it.

Every decoded header value passes through `clean_header_text` before anything else in
the daemon sees it, so a value can never carry CR/LF into a reply we compose
(docs/reliability.md case 22). `decode_header_value` is our own RFC 2047 decoder rather than
`email.header.decode_header`: the stdlib one hands back a mix of str and bytes, raises
on unknown charsets at decode time, and does not join a multi-byte character that a
mail program split across two encoded words. `decode_bytes` is the one place that maps
a declared charset to text; MIME bodies use it too, so bad labels never raise.
"""

from __future__ import annotations

import binascii
import codecs
import email.utils
import encodings
import pkgutil
import re
from encodings.aliases import aliases as _CODEC_ALIASES
from functools import lru_cache

# Whitespace, C0/C1 controls, line separators, the BOM, and the bidi embedding,
# override and isolate controls that make "evil\u202efdp.exe" display as "evilexe.pdf".
_CONTROL_RUN = re.compile(r"[\s\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff\u202a-\u202e\u2066-\u2069]+")
_SURROGATE = re.compile(r"[\ud800-\udfff]")

# An encoded word per RFC 2047 section 2; the charset may carry an RFC 2231 language
# suffix (`utf-8*ru`). Encoded text is matched leniently (spaces excluded, `?`
# excluded) because real mail programs break the length and character rules.
_ENCODED_WORD = re.compile(r"=\?([^? \t\r\n*]+)(?:\*[^? \t\r\n]*)?\?([bBqQ])\?([!->@-~]*)\?=")
_FOLD = re.compile(r"\n(?=[ \t])")

# Labels seen in the wild that name no real codec; they all mean "some 8-bit text".
_UNKNOWN_CHARSETS = frozenset(
    {"x-unknown", "unknown", "unknown-8bit", "x-user-defined", "8bit", "default"}
)
_FALLBACK = "utf-8"


def clean_header_text(value: str) -> str:
    """Collapse every run of whitespace and control characters to one space and strip.

    Idempotent, and the result never contains CR, LF, NUL or a lone surrogate.
    """
    # Fast path for the common case: printable text (no controls, separators other than
    # the ASCII space, or surrogates) without doubled spaces is already clean.
    if value.isprintable() and "  " not in value:
        return value.strip(" ")
    if _SURROGATE.search(value):
        value = _SURROGATE.sub("\ufffd", value)
    return _CONTROL_RUN.sub(" ", value).strip()


# Charset names as mail programs write them (windows-1251, iso-2022-jp, ansi_x3.4-1968).
_CHARSET_NAME = re.compile(r"[A-Za-z0-9._:+-]{1,40}")


@lru_cache(maxsize=1)
def _codec_modules() -> frozenset[str]:
    return frozenset(m.name for m in pkgutil.iter_modules(encodings.__path__))


def _codec_module(name: str) -> str | None:
    """The stdlib codec module a charset name resolves to, without asking codecs.lookup.

    encodings.search_function caches every name it fails on in encodings._cache, and
    codecs.lookup caches every name it finds ("utf--8", "UTF_8", ...) for the life of
    the process: 12,000 random names per Subject grew RSS by 1.4 MB a mail and never
    gave it back (docs/reliability.md case 31). Only module names of the encodings package reach
    codecs.lookup, so both caches stay at the size of that package. This mirrors
    encodings.search_function: normalize, look the alias up, else the name itself.
    """
    if not _CHARSET_NAME.fullmatch(name):
        return None
    key = encodings.normalize_encoding(name.lower())
    module = _CODEC_ALIASES.get(key) or _CODEC_ALIASES.get(key.replace(".", "_")) or key
    if module in _codec_modules():
        return module
    # Apple Mail and old Outlook write x-mac-cyrillic for the stdlib's mac-cyrillic.
    return _codec_module(name[2:]) if name[:2].lower() == "x-" else None


@lru_cache(maxsize=256)
def _resolve(charset: str) -> str | None:
    name = charset.strip().strip("\"'").lower()
    if name in _UNKNOWN_CHARSETS:
        return None
    module = _codec_module(name)
    if module is None:
        return None
    try:
        info = codecs.lookup(module)
    except (LookupError, ValueError):
        return None
    # codecs.lookup also finds bytes-to-bytes codecs (base64, zlib, rot13); a sender
    # naming one as a charset must not get us to decompress anything.
    if not getattr(info, "_is_text_encoding", True):
        return None
    return info.name


def collapse_param(value: str | tuple[str | None, str | None, str]) -> str:
    """email.utils.collapse_rfc2231_value with the charset name checked by `_resolve`.

    The stdlib decodes `filename*=<charset>''...` with str(bytes, charset), which is a
    codecs.lookup of any name the sender chose; an unknown or bytes-to-bytes charset
    gives the raw text back, as the stdlib does for a LookupError.
    """
    if isinstance(value, tuple) and len(value) == 3 and value[0] is not None:
        codec = _resolve(value[0])
        if codec is None:
            return email.utils.unquote(value[2])
        value = (codec, value[1], value[2])
    return email.utils.collapse_rfc2231_value(value)


def is_known_charset(charset: str | None) -> bool:
    """True when a declared charset names a real text codec (absent counts as known)."""
    return not charset or _resolve(charset) is not None


def lookup_charset(charset: str | None) -> str:
    """Return a usable text codec name for a declared charset; utf-8 when it is unusable."""
    return (_resolve(charset) if charset else None) or _FALLBACK


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode bytes in the declared charset with replacement characters; never raises."""
    codec = lookup_charset(charset)
    try:
        text = data.decode(codec, "replace")
    except (UnicodeError, LookupError, ValueError, TypeError):
        # The "undefined" codec and a few others refuse even with errors="replace".
        text = data.decode(_FALLBACK, "replace")
    # utf-7 and utf-16 can produce lone surrogates, which no UTF-8 sink accepts.
    if _SURROGATE.search(text):
        text = _SURROGATE.sub("\ufffd", text)
    return text


def raw_header_text(raw: str) -> str:
    """Unfold a raw header value and turn raw 8-bit bytes into text; encoded words stay.

    For structured headers (addresses, Message-IDs, dates) that are parsed further.
    Raw 8-bit header bytes arrive from the email package as surrogate escapes.
    """
    value = _FOLD.sub("", raw.replace("\r\n", "\n")) if "\n" in raw else raw
    if value.isascii() or not _SURROGATE.search(value):
        return value
    octets = value.encode("utf-8", "surrogateescape")
    # RFC 6532 says 8-bit header octets are UTF-8; anything else is mislabelled and
    # is shown with replacement characters rather than guessed at.
    return octets.decode("utf-8", "replace")


def _decode_word(encoding: str, text: str) -> bytes:
    if encoding in "bB":
        data = text.rstrip("=").encode("ascii", "replace")
        try:
            return binascii.a2b_base64(data + b"=" * (-len(data) % 4))
        except binascii.Error:
            # Truncated base64: drop the dangling partial quantum, keep the rest.
            try:
                return binascii.a2b_base64(data[: len(data) - len(data) % 4])
            except binascii.Error:
                return data
    # header=True makes binascii treat '_' as a space, which is RFC 2047's Q encoding.
    return binascii.a2b_qp(text.encode("ascii", "replace"), header=True)


def decode_header_value(raw: str) -> str:
    """Decode RFC 2047 encoded words in a raw header value and clean the result.

    Adjacent encoded words in one charset are joined before decoding, so a character
    split across two words survives; whitespace between encoded words is dropped as
    RFC 2047 section 6.2 asks. Unknown or broken charsets give replacement characters.
    """
    value = raw_header_text(raw)
    if "=?" not in value:
        return clean_header_text(value)
    out: list[str] = []
    pending: bytearray = bytearray()
    pending_charset = ""
    pos = 0
    for match in _ENCODED_WORD.finditer(value):
        gap = value[pos : match.start()]
        charset = match.group(1).lower()
        if gap and not (pending and gap.isspace()):
            if pending:
                out.append(decode_bytes(bytes(pending), pending_charset))
                pending = bytearray()
            out.append(gap)
        elif pending and charset != pending_charset:
            out.append(decode_bytes(bytes(pending), pending_charset))
            pending = bytearray()
        pending_charset = charset
        pending += _decode_word(match.group(2), match.group(3))
        pos = match.end()
    if pending:
        out.append(decode_bytes(bytes(pending), pending_charset))
    out.append(value[pos:])
    return clean_header_text("".join(out))
