"""VERP envelope senders: `support+b-<outbox id>.<mac>@domain`, minted and verified. Pure.

Every mail the desk sends has its own envelope sender, so a delivery status
notification (DSN) names the outbox row it is about (RFC 3464 DSNs go to the envelope
sender). The mac is an HMAC-SHA256 over the outbox id and the base address with a key
of its own (HKDF label VERP_LABEL, parsers/tokens.py), so a forged DSN (an id we did
not send, a guessed or altered mac) changes nothing (docs/reliability.md cases 12, 17).
Mail servers may lower-case local parts: the mac is lower-case base32, compared with
hmac.compare_digest.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable

from parsers.addresses import split_plus

VERP_LABEL = b"oneassist-desk/verp/v1"
_DOMAIN_SEPARATOR = b"oneassist-verp-v1\x00"
_MAC_CHARS = 16
_DETAIL = re.compile(r"^b-([1-9][0-9]{0,17})\.([a-z2-7]{16})$", re.ASCII)


def _mac(outbox_id: int, base: str, key: bytes) -> str:
    digest = hmac.new(key, _DOMAIN_SEPARATOR + str(outbox_id).encode("ascii") + b"\x00" + base.encode("utf-8"),
                      hashlib.sha256).digest()
    return base64.b32encode(digest).decode("ascii").lower()[:_MAC_CHARS]


def _base(address: str) -> str:
    base, _detail = split_plus(address)
    if not base:
        raise ValueError("VERP base address is not a valid address")
    return base


def verp_address(base_address: str, outbox_id: int, key: bytes) -> str:
    """The envelope sender of outbox row `outbox_id`; a '+detail' on the base is replaced."""
    if not key:
        raise ValueError("VERP key is empty")
    if outbox_id <= 0:
        raise ValueError("outbox id must be positive")
    base = _base(base_address)
    local, _, domain = base.rpartition("@")
    return f"{local}+b-{outbox_id}.{_mac(outbox_id, base, key)}@{domain}"


def outbox_id_of(address: str, base_address: str, key: bytes) -> int | None:
    """The outbox id of a VERP address we minted, or None (another mailbox, a bad or missing mac)."""
    if not key:
        return None
    base, detail = split_plus(address)
    if detail is None or base != _base(base_address):
        return None
    match = _DETAIL.match(detail.lower())
    if match is None:
        return None
    outbox_id = int(match.group(1))
    if not hmac.compare_digest(match.group(2), _mac(outbox_id, base, key)):
        return None
    return outbox_id


def outbox_id_in(addresses: Iterable[str], base_address: str, key: bytes) -> int | None:
    """The outbox id of the first address that is one of our VERP senders."""
    for address in addresses:
        found = outbox_id_of(address, base_address, key)
        if found is not None:
            return found
    return None
