"""Verify a staff mail's DKIM signatures ourselves (docs/reliability.md I6 and case 20).

This is the "fresh dkimpy verification" alternative to trusting our MX's
Authentication-Results (parsers.auth_results). A mail passes only when it has exactly one
From header and at least one DKIM-Signature that dkimpy verifies, whose d= is aligned with
the From domain, which carries no `l=` body-length tag, and whose h= over-signs From and
Subject: lists each one more time than it occurs, so that a prepended instance breaks the
signature (docs/reliability.md case 36). In-Reply-To and References, which route staff mail, must be
signed wherever they occur. The top-level MIME headers decide how the signed body bytes
are cut and decoded, so Content-Type, Content-Transfer-Encoding and MIME-Version are
over-signed too when present; Content-Type also when absent (one added to a mail without
it re-cuts the body), and Content-Transfer-Encoding when absent from a single-part mail
(one added there re-decodes quoted `=23cancel` into `#cancel`). These h= rules live in
parsers.dkim_rules and are shared with the Authentication-Results path. Signers that over-sign:
rspamd by default, OpenDKIM with `OversignHeaders From,Subject,Content-Type,...`; Gmail
does not, so Gmail staff use the reply token.

Purity: the checks here are pure, but dkimpy itself looks up the signer's key in real DNS
when `dnsfunc` is None (production only; tests always inject a lookup), and it reads the
clock to honour a signature's t=/x= tags. So it sits with the adapters, not in parsers/.
"""

from __future__ import annotations

from collections.abc import Callable

import dkim
from dkim.util import parse_tag_value

from parsers.auth_results import SINGLE_STAFF_HEADERS, AuthVerdict
from parsers.dkim_rules import _domain, signature_refusal, signer_of

_SIG_HEADER = b"dkim-signature"
_SINGLE = tuple(name.encode() for name in SINGLE_STAFF_HEADERS)


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
            refusal = signature_refusal(tags, from_domain, counts, multipart)
            if refusal is not None:
                # Refused before verifying, so an attacker's d= never triggers a DNS query.
                failures.append(refusal)
            elif checker.verify(idx=idx, **kwargs):
                signer = signer_of(tags)
                return AuthVerdict(True, f"dkim pass for {signer} aligned with {from_domain}")
            else:
                failures.append(f"d={signer_of(tags)} did not verify")
        except Exception as exc:  # dkimpy raises many classes, and dnsfunc may raise anything
            failures.append(f"dkim: {type(exc).__name__}")
    return AuthVerdict(False, "; ".join(failures))
