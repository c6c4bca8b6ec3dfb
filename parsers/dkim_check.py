"""Verify a staff mail's DKIM signatures ourselves (invariant I6, RELIABILITY case 20).

This is the "fresh dkimpy verification" alternative to trusting our MX's
Authentication-Results (parsers.auth_results). A mail passes only when it has exactly one
From header and at least one DKIM-Signature that dkimpy verifies, whose d= is aligned with
the From domain, which carries no `l=` body-length tag, and whose h= over-signs From and
Subject: lists each one more time than it occurs, so that a prepended instance breaks the
signature (RELIABILITY 36). In-Reply-To and References, which route staff mail, must be
signed wherever they occur. The top-level MIME headers decide how the signed body bytes
are cut and decoded, so Content-Type, Content-Transfer-Encoding and MIME-Version are
over-signed too when present; Content-Type also when absent (one added to a mail without
it re-cuts the body), and Content-Transfer-Encoding when absent from a single-part mail
(one added there re-decodes quoted `=23cancel` into `#cancel`). Signers that over-sign:
rspamd by default, OpenDKIM with `OversignHeaders From,Subject,Content-Type,...`; Gmail
does not, so Gmail staff use the reply token.

Purity: the checks here are pure, but dkimpy itself looks up the signer's key in real DNS
when `dnsfunc` is None (production only; tests always inject a lookup), and it reads the
clock to honour a signature's t=/x= tags.
"""

from __future__ import annotations

from collections.abc import Callable

import dkim
from dkim.util import parse_tag_value

from parsers.auth_results import SINGLE_STAFF_HEADERS, AuthVerdict, _aligned, _domain

_SIG_HEADER = b"dkim-signature"
# Signed one more time than they occur: h= then also covers "no further instance".
_OVERSIGNED = (b"from", b"subject")
# Signed wherever they occur: they name the ticket a staff mail acts on.
_SIGNED_IF_PRESENT = (b"in-reply-to", b"references")
# Over-signed when present: a second or swapped instance re-reads the signed body.
_MIME_OVERSIGNED = (b"content-type", b"content-transfer-encoding", b"mime-version")
_SINGLE = tuple(name.encode() for name in SINGLE_STAFF_HEADERS)


def _signer(tags: dict[bytes, bytes]) -> str:
    return _domain(tags.get(b"d", b"").decode("ascii", "replace"))


def _must_sign_absent(name: bytes, multipart: bool) -> bool:
    """Whether h= must name a MIME header the mail lacks, so that adding one breaks it."""
    if name == b"content-type":
        return True  # text/plain by default; an added multipart type re-cuts the body
    # A transfer encoding on a multipart is inert (its parts carry their own), so only a
    # single-part body can be re-decoded by one added later.
    return name == b"content-transfer-encoding" and not multipart


def _refusal(tags: dict[bytes, bytes], from_domain: str, counts: dict[bytes, int],
             multipart: bool = False) -> str | None:
    """Why this signature cannot vouch for the From domain, or None when it may.

    `counts` is how often each header occurs in the mail, as dkimpy parsed it;
    `multipart` whether its (single) Content-Type is multipart/*.
    """
    signer = _signer(tags)
    if b"l" in tags:
        # l= signs only a prefix of the body: anything appended after it (a manager
        # command) still verifies, so such a signature proves nothing about the command.
        return f"d={signer} has an l= body length"
    # dkimpy's signer insists on From in h=, but its verifier does not: a signature
    # over other headers only would let anyone put a staff From above it.
    listed = [h.strip().lower() for h in tags.get(b"h", b"").split(b":")]
    if b"from" not in listed:
        return f"d={signer} does not sign From"
    for name in _OVERSIGNED:
        if listed.count(name) <= counts.get(name, 0):
            return f"d={signer} does not over-sign {name.decode()}"
    for name in _SIGNED_IF_PRESENT:
        if listed.count(name) < counts.get(name, 0):
            return f"d={signer} does not sign {name.decode()}"
    for name in _MIME_OVERSIGNED:
        present = counts.get(name, 0)
        if (present or _must_sign_absent(name, multipart)) and listed.count(name) <= present:
            return f"d={signer} does not over-sign {name.decode()}"
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
    counts: dict[bytes, int] = {}
    for name, _ in checker.headers:
        key = name.strip().lower()
        counts[key] = counts.get(key, 0) + 1
    if counts.get(b"from", 0) != 1:
        return AuthVerdict(False, "dkim parser does not see exactly one From header")
    repeated = [name.decode() for name in _SINGLE if counts.get(name, 0) > 1]
    if repeated:
        return AuthVerdict(False, "dkim parser sees a repeated " + ", ".join(repeated))
    content_type = [value for name, value in checker.headers
                    if name.strip().lower() == b"content-type"]
    multipart = bool(content_type) and content_type[0].strip().lower().startswith(b"multipart/")
    sigs = [value for name, value in checker.headers if name.lower() == _SIG_HEADER]
    if not sigs:
        return AuthVerdict(False, "no DKIM-Signature")

    failures: list[str] = []
    # Every signature is tried: a mailing list or an attacker may add a bad one above a
    # good one, and one bad signature must not hide a good one nor pass on its own.
    for idx, value in enumerate(sigs):
        try:
            tags = parse_tag_value(value)
            refusal = _refusal(tags, from_domain, counts, multipart)
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
