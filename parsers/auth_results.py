"""Decide from our own MX's Authentication-Results whether a staff mail really comes from its From domain.

This is the header half of invariant I6 (docs/reliability.md cases 20 and 21): only the topmost
Authentication-Results (RFC 8601) carrying one of our trusted authserv-ids is read, and it
must show a DMARC pass for the From domain or a DKIM pass aligned with it. Anything below
that header, or written under another authserv-id, may come from the sender and is ignored
(RFC 8601 sections 5 and 7.1). That only holds if the border MX deletes or renames
incoming Authentication-Results that carry its own authserv-id, as section 5 requires: when
it does not, a forged header is topmost and this check cannot tell.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from parsers.dkim_rules import (
    _aligned,
    _domain,
    counts_of,
    header_fields,
    parse_tags,
    signature_refusal,
    signer_of,
)
from parsers.mail import InboundMail

_AR_HEADER = "authentication-results"
# Token kinds of the lexer: a bare word, a quoted string, and the two separators.
_WORD, _QUOTED, _SEMI, _EQ = "word", "quoted", ";", "="


@dataclass(frozen=True)
class AuthVerdict:
    ok: bool
    reason: str


@dataclass(frozen=True)
class ResInfo:
    """One `method=result` clause; props maps lower-cased keys (`header.d`, `reason`) to values."""

    method: str
    result: str
    props: dict[str, str] = field(default_factory=dict)


def _lex(value: str) -> list[tuple[str, str, bool]]:
    """Tokens as (kind, text, preceded_by_space); comments count as space (RFC 5322 CFWS)."""
    tokens: list[tuple[str, str, bool]] = []
    i, n, spaced = 0, len(value), True
    while i < n:
        ch = value[i]
        if ch.isspace() or ch == ")":
            # A stray ')' closes no comment; it is dropped here because the word scanner
            # below stops on it and would otherwise never advance.
            i, spaced = i + 1, True
        elif ch == "(":
            # Comments nest and may hold ';' or 'dkim=pass' (Gmail's arc=pass comment),
            # so they are skipped whole rather than split on.
            depth, i = 1, i + 1
            while i < n and depth:
                depth += {"(": 1, ")": -1}.get(value[i], 0)
                i += 2 if value[i] == "\\" else 1
            spaced = True
        elif ch == '"':
            chars, i = [], i + 1
            while i < n and value[i] != '"':
                if value[i] == "\\" and i + 1 < n:
                    i += 1
                chars.append(value[i])
                i += 1
            tokens.append((_QUOTED, "".join(chars), spaced))
            i, spaced = i + 1, False
        elif ch in ";=":
            tokens.append((ch, ch, spaced))
            i, spaced = i + 1, False
        else:
            start = i
            while i < n and not value[i].isspace() and value[i] not in '();="':
                i += 1
            tokens.append((_WORD, value[start:i], spaced))
            spaced = False
    return tokens


def _pairs(tokens: list[tuple[str, str, bool]]) -> list[tuple[str, str]]:
    """`key=value` pairs of one resinfo; stray words are skipped rather than fatal."""
    pairs: list[tuple[str, str]] = []
    i = 0
    while i < len(tokens):
        if i + 2 < len(tokens) and tokens[i][0] == _WORD and tokens[i + 1][0] == _EQ:
            key, (kind, text, _) = tokens[i][1], tokens[i + 2]
            if kind in (_WORD, _QUOTED):
                i += 3
                # Unquoted base64 (header.b=ab+/c=) ends in '=' padding glued to the value.
                while i < len(tokens) and tokens[i][0] == _EQ and not tokens[i][2]:
                    text, i = text + "=", i + 1
                pairs.append((key, text))
                continue
        i += 1
    return pairs


def parse_authentication_results(value: str) -> tuple[str, list[ResInfo]]:
    """(authserv-id, resinfos) of one unfolded header value; ValueError without an authserv-id.

    A version after the id and the `none` form (no results) are accepted; a resinfo whose
    first pair is not `method=result` is dropped, so one odd clause cannot hide the rest.
    """
    tokens = _lex(value)
    # Microsoft 365 writes `spf=pass ...` with no authserv-id at all: such a header can
    # never be attributed to our MX, so it is refused rather than read as id "spf".
    if (
        not tokens
        or tokens[0][0] not in (_WORD, _QUOTED)
        or (len(tokens) > 1 and tokens[1][0] == _EQ)
    ):
        raise ValueError("Authentication-Results without an authserv-id")
    authserv_id = tokens[0][1]
    clauses: list[list[tuple[str, str, bool]]] = [[]]
    for token in tokens[1:]:
        if token[0] == _SEMI:
            clauses.append([])
        else:
            clauses[-1].append(token)
    # clauses[0] is the optional version between the id and the first ';'. Junk there is
    # ignored, not refused: refusing would skip a malformed header of our own MX and
    # promote a forged one beneath it to "topmost".
    results: list[ResInfo] = []
    for clause in clauses[1:]:
        pairs = _pairs(clause)
        if not pairs:
            continue  # `none`, or an empty clause from a trailing ';'
        method, result = pairs[0]
        props: dict[str, str] = {}
        for key, text in pairs[1:]:
            props.setdefault(key.lower(), text)
        # `dkim/1=pass`: the method version does not change what the result means.
        results.append(ResInfo(method.split("/")[0].strip().lower(), result.lower(), props))
    return authserv_id, results


def _our_header(mail: InboundMail, trusted: frozenset[str]) -> list[ResInfo] | None:
    """Results of the topmost A-R with a trusted id: the one our MX added last."""
    for name, value in mail.headers:
        if name != _AR_HEADER:
            continue
        try:
            authserv_id, results = parse_authentication_results(value)
        except ValueError:
            continue  # No id we could read, so it is not one our MX wrote.
        if authserv_id.lower() in trusted:
            return results
    return None


# A DKIM signature covers the bottom-most instance of each header it names, while the
# parser reads the top-most (RFC 6376 section 5.4.2): anyone holding one signed mail of a
# manager could prepend `Subject: [#cancel]`. These headers decide who wrote a staff mail,
# what it commands and which ticket it is about, so on staff mail each may occur once.
# The MIME headers of the top level decide how the signed body is read: a prepended
# `Content-Type: multipart/mixed; boundary=...` re-cuts the signed bytes so that a quoted
# `#cancel` becomes the whole text, and a second Content-Transfer-Encoding or
# Content-Disposition re-decodes or hides it. MIME-Version is inert in our parser but marks
# the same MIME block for other readers. Reply-To and Date are not here: staff mail is
# answered at its From address and never dated by its Date header.
STAFF_ROUTING_HEADERS = (
    "from", "sender", "subject", "to", "cc", "message-id", "in-reply-to", "references",
)
STAFF_MIME_HEADERS = (
    "content-type", "content-transfer-encoding", "content-disposition", "mime-version",
)
SINGLE_STAFF_HEADERS = STAFF_ROUTING_HEADERS + STAFF_MIME_HEADERS


def staff_header_refusal(mail: InboundMail) -> str | None:
    """Why a staff mail's header block cannot be authenticated, or None (docs/reliability.md case 36).

    Refused: a repeated From, Sender, Subject, To, Cc, Message-ID, In-Reply-To, References,
    Content-Type, Content-Transfer-Encoding, Content-Disposition or MIME-Version, and a From
    that is missing, repeated or names several mailboxes.
    """
    repeated = [name for name in SINGLE_STAFF_HEADERS if name in mail.repeated_headers]
    if repeated:
        return "repeated header " + ", ".join(repeated) + " (a signature covers one instance)"
    if mail.from_header_count != 1:
        return f"{mail.from_header_count} From headers, need exactly one"
    if mail.from_mailbox_count != 1:
        return f"{mail.from_mailbox_count} mailboxes in From, need exactly one"
    return None


def _signature_refusal(raw: bytes, mail: InboundMail, from_domain: str, signer: str | None,
                       b_prefix: str | None, need_one: bool) -> str | None:
    """Why the signature(s) a pass may be about cannot vouch for this mail, or None.

    The pass is about a DKIM-Signature whose d= is `signer` (None: any d= aligned with the
    From domain, as for a DMARC pass) and whose b= starts with `b_prefix` (RFC 8601 / 6008
    `header.b`; None when the MX did not write it). Every signature that fits must meet the
    h= rules of parsers.dkim_rules: the A-R does not say which one verified, and a second,
    broken signature with the same prefix must not stand in for the real one. A DMARC pass
    with no aligned signature at all rests on SPF alignment, so only a DKIM pass
    (`need_one`) insists that a fitting signature is in the mail.
    """
    fields = header_fields(raw)
    counts = counts_of(name for name, _ in fields)
    # Our MIME parser decides what the desk reads: where it sees more instances than the
    # plain split (a header it unfolded differently), the larger count is the one to cover.
    for name, parsed in counts_of(n.encode("utf-8", "replace") for n, _ in mail.headers).items():
        counts[name] = max(counts.get(name, 0), parsed)
    content_type = [value for name, value in fields if name == b"content-type"]
    multipart = bool(content_type) and content_type[0].strip().lower().startswith(b"multipart/")
    fitting: list[dict[bytes, bytes]] = []
    for name, value in fields:
        if name != b"dkim-signature":
            continue
        try:
            tags = parse_tags(value)
        except ValueError:
            # We cannot tell its d=, so we cannot rule out that it is the one that passed.
            return "a DKIM-Signature that cannot be parsed"
        sig_d = signer_of(tags)
        if signer is not None and sig_d != signer:
            continue
        if signer is None and not _aligned(from_domain, sig_d):
            continue
        b_value = b"".join(tags.get(b"b", b"").split()).decode("ascii", "replace")
        if b_prefix is not None and not b_value.startswith(b_prefix):
            continue
        fitting.append(tags)
    if not fitting:
        if not need_one:
            return None
        named = f"d={signer}" if signer is not None else f"a d= aligned with {from_domain}"
        named += f" and b={b_prefix}..." if b_prefix is not None else ""
        return f"no DKIM-Signature with {named} in the mail"
    for tags in fitting:
        refusal = signature_refusal(tags, from_domain, counts, multipart)
        if refusal is not None:
            return refusal
    return None


def staff_mail_authenticated(
    mail: InboundMail, trusted_authserv_ids: frozenset[str], raw: bytes
) -> AuthVerdict:
    """Whether our MX saw a DMARC pass or an aligned DKIM pass for this mail's single From.

    `raw` is the mail as delivered: the pass counts only if the DKIM-Signature it is about
    (found by `header.b`, else every aligned one) signs the headers an attacker could add
    or replace in a replayed copy (docs/reliability.md case 36). The MX cannot tell us h=, so we read it.
    """
    refusal = staff_header_refusal(mail)
    if refusal is not None:
        return AuthVerdict(False, refusal)
    from_domain = _domain(mail.from_addr) if "@" in mail.from_addr else ""
    if not from_domain:
        return AuthVerdict(False, "no From address")
    trusted = frozenset(t.lower() for t in trusted_authserv_ids)
    results = _our_header(mail, trusted)
    if results is None:
        return AuthVerdict(False, "no Authentication-Results from a trusted authserv-id")
    other: list[str] = []
    refused: list[str] = []
    for res in results:
        if res.result != "pass":
            continue
        if res.method == "dmarc":
            # Without header.from a pass cannot be tied to this From (docs/reliability.md case 21, the bare forgery).
            signer = _domain(res.props.get("header.from", ""))
            if signer == from_domain:
                # DMARC passed through an aligned DKIM signature or aligned SPF; the A-R
                # does not say which, so every aligned signature must meet the h= rules.
                # With none in the mail the pass rests on SPF, which a replay from another
                # host fails.
                why = _signature_refusal(raw, mail, from_domain, None, None, need_one=False)
                if why is None:
                    return AuthVerdict(True, f"dmarc pass for {from_domain}")
                refused.append(f"dmarc pass for {from_domain}, but {why}")
                continue
        elif res.method == "dkim":
            signer = _domain(res.props.get("header.d") or res.props.get("header.i", ""))
            if _aligned(from_domain, signer):
                # Not every MX writes header.b (Microsoft 365 does not): then every
                # signature of that d= must meet the rules, which is as safe, since the one
                # that verified is among them. With header.i only, d= is unknown: every
                # aligned signature stands in.
                d = signer if "header.d" in res.props else None
                why = _signature_refusal(raw, mail, from_domain, d, res.props.get("header.b"),
                                         need_one=True)
                if why is None:
                    return AuthVerdict(True, f"dkim pass for {signer} aligned with {from_domain}")
                refused.append(f"dkim pass for {signer}, but {why}")
                continue
        else:
            continue
        other.append(signer or "no domain")
    if refused:
        return AuthVerdict(False, "; ".join(refused))
    if other:
        names = ", ".join(sorted(set(other)))
        return AuthVerdict(False, f"pass for {names}, not aligned with {from_domain}")
    return AuthVerdict(False, "no dkim or dmarc pass in trusted Authentication-Results")


def mx_saw_forgery(mail: InboundMail, trusted_authserv_ids: frozenset[str]) -> bool:
    """Whether our MX's own Authentication-Results says spf=fail AND dmarc=fail.

    Such a sender address is most likely forged, so an automatic reply to it would be
    backscatter to an innocent mailbox. Either alone is not enough: SPF fails on every
    forward, and DMARC fails on lists and on domains without a policy.
    """
    results = _our_header(mail, frozenset(t.lower() for t in trusted_authserv_ids))
    if results is None:
        return False
    seen = {(res.method, res.result) for res in results}
    # A pass anywhere (DMARC, or SPF for another identity) means the claim is not disproved.
    return ("spf", "fail") in seen and ("dmarc", "fail") in seen \
        and ("dmarc", "pass") not in seen and ("spf", "pass") not in seen
