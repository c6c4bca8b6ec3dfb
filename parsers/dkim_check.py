"""Verify a staff mail's DKIM signatures ourselves (invariant I6, RELIABILITY case 20).

This is the "fresh dkimpy verification" alternative to trusting our MX's
Authentication-Results (parsers.auth_results). A mail passes only when it has exactly one
From header and at least one DKIM-Signature that dkimpy verifies, whose d= is aligned with
the From domain, whose h= lists `from`, and which carries no `l=` body-length tag.

Purity: the checks here are pure, but dkimpy itself looks up the signer's key in real DNS
when `dnsfunc` is None (production only; tests always inject a lookup), and it reads the
clock to honour a signature's t=/x= tags.
"""

from __future__ import annotations

from collections.abc import Callable

import dkim
from dkim.util import parse_tag_value

from parsers.auth_results import AuthVerdict, _aligned, _domain

_SIG_HEADER = b"dkim-signature"


def _signer(tags: dict[bytes, bytes]) -> str:
    return _domain(tags.get(b"d", b"").decode("ascii", "replace"))


def _refusal(tags: dict[bytes, bytes], from_domain: str) -> str | None:
    """Why this signature cannot vouch for the From domain, or None when it may."""
    signer = _signer(tags)
    if b"l" in tags:
        # l= signs only a prefix of the body: anything appended after it (a manager
        # command) still verifies, so such a signature proves nothing about the command.
        return f"d={signer} has an l= body length"
    # dkimpy's signer insists on From in h=, but its verifier does not: a signature
    # over other headers only would let anyone put a staff From above it.
    signed = {h.strip().lower() for h in tags.get(b"h", b"").split(b":")}
    if b"from" not in signed:
        return f"d={signer} does not sign From"
    # Same rule as the Authentication-Results path, so the two halves of I6 agree.
    if not _aligned(from_domain, signer):
        return f"d={signer} not aligned with {from_domain}"
    return None


def verify_staff_dkim(
    raw: bytes,
    from_addr: str,
    from_header_count: int,
    dnsfunc: Callable[[bytes], bytes] | None = None,
) -> AuthVerdict:
    """Whether some DKIM signature of `raw` verifies and vouches for the single From.

    `dnsfunc` maps `<selector>._domainkey.<domain>.` to the TXT record (b"" when
    there is none); None means dkimpy's real DNS lookup. Never raises: a dkimpy or lookup
    error becomes a failing verdict named after the exception class.
    """
    if from_header_count != 1:
        return AuthVerdict(False, f"{from_header_count} From headers, need exactly one")
    from_domain = _domain(from_addr) if "@" in from_addr else ""
    if not from_domain:
        return AuthVerdict(False, "no From address")

    kwargs: dict[str, Callable[..., bytes | None]] = {}
    if dnsfunc is not None:
        lookup = dnsfunc

        # dkimpy calls dnsfunc(name, timeout=...); the injected lookup takes the name only.
        def _lookup(name: bytes, timeout: float = 5) -> bytes | None:
            return lookup(name)

        kwargs["dnsfunc"] = _lookup

    try:
        checker = dkim.DKIM(raw)
    except Exception as exc:  # never raise: a mail dkimpy cannot parse just fails
        return AuthVerdict(False, f"dkim: {type(exc).__name__}")
    # The caller's count comes from our MIME parser; recount what dkimpy will hash so a
    # disagreement between the two parsers fails closed instead of passing.
    if sum(1 for name, _ in checker.headers if name.lower() == b"from") != 1:
        return AuthVerdict(False, "dkim parser does not see exactly one From header")
    sigs = [value for name, value in checker.headers if name.lower() == _SIG_HEADER]
    if not sigs:
        return AuthVerdict(False, "no DKIM-Signature")

    failures: list[str] = []
    # Every signature is tried: a mailing list or an attacker may add a bad one above a
    # good one, and one bad signature must not hide a good one nor pass on its own.
    for idx, value in enumerate(sigs):
        try:
            tags = parse_tag_value(value)
            refusal = _refusal(tags, from_domain)
            if refusal is not None:
                # Refused before verifying, so an attacker's d= never triggers a DNS query.
                failures.append(refusal)
            elif checker.verify(idx=idx, **kwargs):
                signer = _signer(tags)
                return AuthVerdict(True, f"dkim pass for {signer} aligned with {from_domain}")
            else:
                failures.append(f"d={_signer(tags)} did not verify")
        except Exception as exc:  # dkimpy raises many classes, and dnsfunc may raise anything
            failures.append(f"dkim: {type(exc).__name__}")
    return AuthVerdict(False, "; ".join(failures))
