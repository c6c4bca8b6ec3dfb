"""What a DKIM signature must cover before it may vouch for staff mail (docs/reliability.md case 36).

One set of h= rules for both halves of docs/reliability.md I6: the daemon's own dkimpy check
(daemon.adapters.dkim) and our MX's Authentication-Results (parsers.auth_results), which is
tied to the signature it reports through `header.b`. Pure: no dkimpy, no DNS, no clock.

A signature covers the bottom-most instance of each header its h= names, and a name listed
once more than it occurs also covers "no further instance" (RFC 6376 sections 5.4.2 and
8.15). A header not listed at all may be replaced or added by anyone holding one signed
mail, and the signature still verifies. So: From must be signed; From and Subject
over-signed; In-Reply-To and References, which route staff mail, signed wherever they
occur; the top-level MIME headers, which decide how the signed body bytes are cut and
decoded, over-signed when present, Content-Type also when absent (one added to a mail
without it re-cuts the body) and Content-Transfer-Encoding when absent from a single-part
mail (one added there re-decodes quoted `=23cancel` into `#cancel`). No `l=`: a signature
over a body prefix says nothing about a command appended after it.
"""

from __future__ import annotations

from collections.abc import Iterable

# Signed one more time than they occur: h= then also covers "no further instance".
_OVERSIGNED = (b"from", b"subject")
# Signed wherever they occur: they name the ticket a staff mail acts on.
_SIGNED_IF_PRESENT = (b"in-reply-to", b"references")
# Over-signed when present: a second or swapped instance re-reads the signed body.
_MIME_OVERSIGNED = (b"content-type", b"content-transfer-encoding", b"mime-version")


def _domain(value: str) -> str:
    """The domain of `d`, `@d` or `user@d`, lower-cased and without a root dot."""
    return value.rpartition("@")[2].strip().rstrip(".").lower()


def _aligned(from_domain: str, signer: str) -> bool:
    # A one-label signer ("com") would align every domain under it; no real signer is one.
    if "." not in signer:
        return False
    return from_domain == signer or from_domain.endswith("." + signer)


def signer_of(tags: dict[bytes, bytes]) -> str:
    """The d= domain of a parsed signature, lower-cased."""
    return _domain(tags.get(b"d", b"").decode("ascii", "replace"))


def _must_sign_absent(name: bytes, multipart: bool) -> bool:
    """Whether h= must name a MIME header the mail lacks, so that adding one breaks it."""
    if name == b"content-type":
        return True  # text/plain by default; an added multipart type re-cuts the body
    # A transfer encoding on a multipart is inert (its parts carry their own), so only a
    # single-part body can be re-decoded by one added later.
    return name == b"content-transfer-encoding" and not multipart


def signature_refusal(tags: dict[bytes, bytes], from_domain: str, counts: dict[bytes, int],
                      multipart: bool = False) -> str | None:
    """Why this signature cannot vouch for the From domain, or None when it may.

    `tags` is the parsed DKIM-Signature; `counts` how often each (lower-cased) header occurs
    in the mail; `multipart` whether its single Content-Type is multipart/*. Whether the
    signature verifies is not asked here: that is dkimpy's or our MX's job.
    """
    signer = signer_of(tags)
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
    if not _aligned(from_domain, signer):
        return f"d={signer} not aligned with {from_domain}"
    return None


def header_fields(raw: bytes) -> list[tuple[bytes, bytes]]:
    """(lower-cased name, unfolded value) of each header of `raw`, top to bottom.

    A plain RFC 5322 split, independent of the MIME parser, so that the A-R path counts
    headers the way a DKIM verifier does. A line without a colon names no header and is
    skipped; the header block ends at the first empty line.
    """
    fields: list[tuple[bytes, bytes]] = []
    for line in raw.replace(b"\r\n", b"\n").split(b"\n"):
        if not line.strip(b"\r"):
            break
        if line[:1] in (b" ", b"\t"):
            if fields:
                fields[-1] = (fields[-1][0], fields[-1][1] + line)
            continue
        name, colon, value = line.partition(b":")
        if colon:
            fields.append((name.strip().lower(), value))
        else:
            fields.append((b"", b""))  # a broken line still ends the previous header
    return [(name, value) for name, value in fields if name]


def parse_tags(value: bytes) -> dict[bytes, bytes]:
    """The tag=value list of a DKIM-Signature (RFC 6376 section 3.2); ValueError if malformed.

    Folding whitespace around and inside values is kept except at the ends; b= and bh=
    callers remove it. A repeated tag makes the signature invalid (section 3.2), so it
    raises rather than picking one.
    """
    tags: dict[bytes, bytes] = {}
    for part in value.split(b";"):
        if not part.strip():
            continue
        key, eq, val = part.partition(b"=")
        key = key.strip()
        if not eq or not key.replace(b"_", b"").isalnum():
            raise ValueError("DKIM-Signature tag without a name")
        if key in tags:
            raise ValueError("DKIM-Signature repeats a tag")
        tags[key] = val.strip()
    return tags


def counts_of(names: Iterable[bytes]) -> dict[bytes, int]:
    counts: dict[bytes, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    return counts
