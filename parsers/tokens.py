"""Per-ticket reply addresses: `support+OA-1042.<mac>@domain`, minted and verified.

The mac is an HMAC-SHA256 over the lower-cased ticket key and the canonical base
address, so a reply token proves that we handed this address out for this ticket on this
intake, and cannot be forged, moved to another ticket or another mailbox (docs/threading.md,
step 1; docs/reliability.md case 24). Mail servers lower-case local parts, so
the mac uses the lower-case base32 alphabet and everything is compared case-insensitively;
verification uses `hmac.compare_digest`. Ticket keys are returned upper-case, their
canonical form.

The configured `service.reply_token_secret` is never used as a key itself: the client and
the staff keys are derived from it with HKDF (RFC 5869) under distinct labels, so knowing
one key (or how the other is built) gives nothing about the other. `secret_weakness`
refuses placeholder and low-entropy secrets before any key is derived from them.
Addresses minted by Wave 1 (the raw secret, and the secret plus "/staff") do not verify and
there is deliberately no fallback: Wave 1 was never deployed, and a fallback would keep the
forgeable staff key alive. A client replying to such an address is threaded by the other
steps of docs/threading.md (subject key, Message-IDs), as with any address we did not mint.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import re
from collections.abc import Iterable

from parsers.addresses import split_plus

_MAC_CHARS = 16  # 80 bits of base32: unguessable, and short enough for a 64-char local part.
_DOMAIN_SEPARATOR = b"oneassist-reply-token-v1\x00"
_DETAIL = re.compile(r"^([a-z][a-z0-9]*-[0-9]+)\.([a-z2-7]{16})$", re.ASCII)
_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9]*-[0-9]+$", re.ASCII)

# HKDF labels: one per use of the configured secret. A new use takes a new label.
CLIENT_TOKEN_LABEL = b"oneassist-desk/reply-token/client/v2"
STAFF_TOKEN_LABEL = b"oneassist-desk/reply-token/staff/v2"
# A fixed, public salt (RFC 5869 section 3.1 allows it): it separates our keys from any
# other HKDF use of the same secret.
_HKDF_SALT = b"oneassist-desk hkdf salt v1"

MIN_SECRET_BITS = 128
# Fragments of placeholders people paste (the example config, tutorials). At least six
# letters, so a random secret contains one with negligible odds (2^-30 per position for
# base64url, none at all for hex).
PLACEHOLDERS = ("changeme", "example", "secret", "password", "passwd", "placeholder",
                "replaceme", "yoursecret", "letmein", "qwerty")
# Only the start of a long secret is analysed, to keep the cost bounded (quadratic below).
_ANALYSED_CHARS = 256


def hkdf_sha256(ikm: bytes, info: bytes, length: int = 32, salt: bytes = _HKDF_SALT) -> bytes:
    """HKDF-SHA256 (RFC 5869): extract with `salt`, expand to `length` bytes for `info`."""
    if not 0 < length <= 255 * 32:
        raise ValueError("HKDF-SHA256 output length must be 1..8160 bytes")
    prk = hmac.new(salt or b"\x00" * 32, ikm, hashlib.sha256).digest()
    okm, block = b"", b""
    for counter in range(1, math.ceil(length / 32) + 1):
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        okm += block
    return okm[:length]


def derive_key(secret: bytes, label: bytes) -> bytes:
    """The 32-byte key for one use (`label`) of the configured secret."""
    if not secret:
        raise ValueError("reply token secret is empty")
    return hkdf_sha256(secret, label)


def _pool_bits(text: str) -> float:
    """log2 of the alphabet an attacker must assume, from the character classes present."""
    pool = 0
    if any("a" <= c <= "z" for c in text):
        pool += 26
    if any("A" <= c <= "Z" for c in text):
        pool += 26
    if any("0" <= c <= "9" for c in text):
        pool += 10
    if any(c.isascii() and not c.isalnum() for c in text):
        pool += 33  # printable ASCII punctuation and space
    if any(not c.isascii() for c in text):
        pool += 100  # a rough guess; non-ASCII secrets are rare
    return math.log2(pool) if pool > 1 else 0.0


def _run_length(text: str, i: int) -> int:
    """Length of the run at i with a constant step of -1, 0 or +1 ('aaaa', 'abcd', '4321')."""
    if i + 1 >= len(text):
        return 1
    step = ord(text[i + 1]) - ord(text[i])
    if step not in (-1, 0, 1):
        return 1
    end = i + 1
    while end + 1 < len(text) and ord(text[end + 1]) - ord(text[end]) == step:
        end += 1
    return end - i + 1


def _earlier_match(text: str, i: int) -> int:
    """Longest repeat at i of text that starts earlier (it may overlap i, as in LZ77)."""
    best = 0
    for j in range(i):
        m = 0
        while i + m < len(text) and text[j + m] == text[i + m]:
            m += 1
        best = max(best, m)
    return best


def estimate_secret_bits(secret: str) -> float:
    """A conservative estimate of a secret's entropy in bits.

    Every character that is not predictable costs an attacker log2(pool) bits, where the
    pool is the union of the character classes present. Predictable stretches of three or
    more characters (repeats of something earlier, like 'abcabc', and runs like 'aaaa',
    'abcd', '9876') count as one character. Random secrets lose almost nothing to this;
    typed ones lose most of their length.
    """
    text = secret[:_ANALYSED_CHARS]
    symbols, i = 0, 0
    while i < len(text):
        stretch = max(_earlier_match(text, i), _run_length(text, i))
        i += stretch if stretch >= 3 else 1
        symbols += 1
    return symbols * _pool_bits(text)


def secret_weakness(secret: str) -> str | None:
    """Why `secret` must not key reply tokens, or None when it is strong enough.

    Refused: a known placeholder fragment (case, '-', '_', '.' and spaces ignored), or an
    estimate (estimate_secret_bits) below MIN_SECRET_BITS.
    """
    folded = re.sub(r"[-_. ]", "", secret.lower())
    for word in PLACEHOLDERS:
        if word in folded:
            return (f"it looks like a placeholder (it contains {word!r}); anyone who has read "
                    f"the same example can mint reply addresses")
    bits = estimate_secret_bits(secret)
    if bits < MIN_SECRET_BITS:
        return (f"it is too easy to guess: about {bits:.0f} bits estimated, at least "
                f"{MIN_SECRET_BITS} needed (repeats and runs like 'aaaa' or '1234' count once)")
    return None


def _base(base_address: str) -> str:
    base, _detail = split_plus(base_address)
    if not base:
        raise ValueError("reply base address is not a valid address")
    return base


def _mac(ticket_key: str, base: str, secret: bytes) -> str:
    message = (
        _DOMAIN_SEPARATOR + ticket_key.lower().encode("ascii") + b"\x00" + base.encode("utf-8")
    )
    digest = hmac.new(secret, message, hashlib.sha256).digest()
    return base64.b32encode(digest).decode("ascii").lower()[:_MAC_CHARS]


def reply_address(base_address: str, ticket_key: str, secret: bytes) -> str:
    """The reply address for one ticket, e.g. `support+OA-1042.k3j...@desk.example`.

    A '+detail' already on the base address is dropped: the token takes its place.
    Raises ValueError for an empty secret, a malformed key or an invalid base address.
    """
    if not secret:
        raise ValueError("reply token secret is empty")
    if not _KEY.match(ticket_key):
        raise ValueError("ticket key must look like PREFIX-NUMBER")
    base = _base(base_address)
    local, _, domain = base.rpartition("@")
    return f"{local}+{ticket_key}.{_mac(ticket_key, base, secret)}@{domain}"


def ticket_key_from_address(addr: str, base_address: str, secret: bytes) -> str | None:
    """The ticket key of a reply address we minted, or None if it is not one of ours.

    None for a different mailbox, a missing, truncated or altered mac, or an empty secret.
    """
    if not secret:
        return None
    base, detail = split_plus(addr)
    if detail is None or base != _base(base_address):
        return None
    match = _DETAIL.match(detail.lower())
    if match is None:
        return None
    key, mac = match.groups()
    if not hmac.compare_digest(mac, _mac(key, base, secret)):
        return None
    return key.upper()


def ticket_key_from_recipients(
    addrs: Iterable[str], base_address: str, secret: bytes
) -> str | None:
    """The ticket key of the first recipient carrying a valid reply token, or None."""
    for addr in addrs:
        key = ticket_key_from_address(addr, base_address, secret)
        if key is not None:
            return key
    return None
