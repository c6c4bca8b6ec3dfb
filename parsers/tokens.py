"""Per-ticket reply addresses: `support+OA-1042.<mac>@domain`, minted and verified.

The mac is an HMAC-SHA256 over the lower-cased ticket key and the canonical base
address, so a reply token proves that we handed this address out for this ticket on this
intake, and cannot be forged, moved to another ticket or another mailbox (DESIGN's
threading order, step 1; RELIABILITY test 24). Mail servers lower-case local parts, so
the mac uses the lower-case base32 alphabet and everything is compared case-insensitively;
verification uses `hmac.compare_digest`. Ticket keys are returned upper-case, their
canonical form.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable

from parsers.addresses import split_plus

_MAC_CHARS = 16  # 80 bits of base32: unguessable, and short enough for a 64-char local part.
_DOMAIN_SEPARATOR = b"oneassist-reply-token-v1\x00"
_DETAIL = re.compile(r"^([a-z][a-z0-9]*-[0-9]+)\.([a-z2-7]{16})$", re.ASCII)
_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9]*-[0-9]+$", re.ASCII)


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
