"""Our MX's DKIM pass is tied to the signature it is about (docs/reliability.md case 36, invariant I6).

The Authentication-Results path cannot see h=: a manager's mail signed without
In-Reply-To, or without over-signing Content-Type, could be replayed with one of those added
or replaced and our MX would still write dkim=pass. The pass now counts only if the
DKIM-Signature named by `header.b` (RFC 8601 / RFC 6008), or every signature of that d=
when the MX writes no header.b, meets the same h= rules as the daemon's own check.

Mails are really signed with dkimpy (key from `openssl genpkey`, as in test_dkim_check);
the A-R path itself never verifies, so no DNS is involved.
"""

from __future__ import annotations

import base64
import re
import subprocess

import dkim
import pytest
from dkim.util import parse_tag_value

from daemon.adapters.dkim import verify_staff_dkim
from parsers.auth_results import staff_mail_authenticated
from parsers.dkim_rules import header_fields
from parsers.mime import parse

MX = "mx.desk.test"
STAFF = "anna@example.com"
DESK_ID = "<oneassist.t42.abc@desk.example>"  # a Message-ID the desk minted for ticket 42
HEAD = (b"From: Anna <anna@example.com>\r\nTo: client@client.example\r\n"
        b"Subject: Re: flowers\r\nMessage-ID: <anna-1@example.com>\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n")
BODY = b"\r\nHi Petr, I will call the shop today.\r\n\r\n--cut\r\n\r\n#cancel\r\n"
RECUT = b'Content-Type: multipart/mixed; boundary="cut"\r\n'
MIME = (b"mime-version", b"content-type", b"content-transfer-encoding")
# rspamd's default: every header named once more than it occurs.
OVER = (b"from", b"from", b"to", b"subject", b"subject", b"message-id", b"in-reply-to",
        b"references", *MIME, *MIME)
# Over-signs From and Subject, signs the MIME headers once, leaves In-Reply-To out.
PARTIAL = (b"from", b"from", b"to", b"subject", b"subject", b"message-id", *MIME)


@pytest.fixture(scope="module")
def key() -> tuple[bytes, bytes]:
    priv = subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                           "rsa_keygen_bits:2048"], check=True, capture_output=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubout", "-outform", "DER"], input=priv,
                         check=True, capture_output=True).stdout
    return priv, b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)


def _sign(key: tuple[bytes, bytes], headers: tuple[bytes, ...], head: bytes = HEAD,
          domain: bytes = b"example.com") -> bytes:
    raw = head + BODY
    return dkim.sign(raw, b"s1", domain, key[0], include_headers=list(headers)) + raw


def _b_prefix(signed: bytes) -> str:
    """The first 8 characters of the top signature's b=, as OpenDKIM writes header.b."""
    name, value = header_fields(signed)[0]
    assert name == b"dkim-signature"
    tags = parse_tag_value(b"".join(value.split(b"\r\n")))
    return b"".join(tags[b"b"].split()).decode()[:8]


def _ar(signed: bytes, *, b: bool = True, dmarc: bool = False) -> bytes:
    """Our MX's header for a mail whose signature verified at arrival."""
    clause = "dkim=pass header.d=example.com header.s=s1"
    if b:
        clause += f" header.b={_b_prefix(signed)}"
    if dmarc:
        clause = "dmarc=pass header.from=example.com"
    return f"Authentication-Results: {MX}; {clause}\r\n".encode()


def _check(raw: bytes):
    return staff_mail_authenticated(parse(raw), frozenset({MX}), raw)


def test_added_in_reply_to_on_a_signature_that_does_not_sign_it_is_refused(key):
    """docs/reliability.md case 36: an In-Reply-To of a desk-minted Message-ID routes a replay to a ticket."""
    partial = _sign(key, PARTIAL + MIME)  # MIME over-signed, In-Reply-To still unsigned
    assert _check(_ar(partial) + partial).ok
    replayed = _ar(partial) + f"In-Reply-To: {DESK_ID}\r\n".encode() + partial
    verdict = _check(replayed)
    assert not verdict.ok
    assert verdict.reason == ("dkim pass for example.com, but d=example.com does not sign "
                              "in-reply-to")
    # Signed with In-Reply-To in h= (rspamd): adding one breaks the signature, so the
    # MX would write dkim=fail; what the desk sees for the untouched mail is a pass.
    over = _sign(key, OVER)
    assert _check(_ar(over) + over).ok


def test_replaced_content_type_on_a_signature_that_signs_it_once_is_refused(key):
    """docs/reliability.md case 36: a Content-Type swapped in (one copy) re-cuts the body to `#cancel`."""
    partial = _sign(key, PARTIAL)
    assert _check(_ar(partial) + partial).reason.endswith("does not over-sign content-type")
    # Without Content-Type in h= at all, the attacker replaces it and the text is his cut.
    unsigned = _sign(key, tuple(h for h in PARTIAL if h != b"content-type"))
    swapped = unsigned.replace(b"Content-Type: text/plain; charset=utf-8\r\n", RECUT)
    assert dkim.verify(swapped, dnsfunc=lambda name, timeout=5: key[1])  # the MX says pass
    assert parse(swapped).text.startswith("#cancel")  # the hole: a command is all that's left
    verdict = _check(_ar(unsigned) + swapped)
    assert not verdict.ok and verdict.reason.endswith("does not over-sign content-type")


def test_content_type_added_to_a_mail_without_one_is_refused(key):
    head = HEAD.replace(b"Content-Type: text/plain; charset=utf-8\r\n", b"")
    unsigned = _sign(key, tuple(h for h in OVER if h != b"content-type"), head)
    verdict = _check(_ar(unsigned) + RECUT + unsigned)
    assert not verdict.ok and verdict.reason.endswith("does not over-sign content-type")


def test_no_signature_with_the_named_b_prefix_is_refused(key):
    over = _sign(key, OVER)
    header = f"Authentication-Results: {MX}; dkim=pass header.d=example.com header.b=AAAAAAAA"
    verdict = _check(header.encode() + b"\r\n" + over)
    assert verdict.reason == ("dkim pass for example.com, but no DKIM-Signature with "
                              "d=example.com and b=AAAAAAAA... in the mail")
    # The right b= prefix on a signature of another d= is not the one the pass is about.
    other = _sign(key, OVER, domain=b"mail.example.com")
    header = _ar(other).replace(b"header.d=example.com", b"header.d=example.com")
    assert _check(header + other).reason.startswith(
        "dkim pass for example.com, but no DKIM-Signature with d=example.com and b=")


def test_a_forged_over_signed_copy_with_the_same_prefix_does_not_stand_in(key):
    """Every signature matching header.b must meet the rules, not just one of them."""
    partial = _sign(key, PARTIAL)
    real = partial.split(b"From: ")[0]
    # A copy of the real signature (same b=, so same header.b) claiming an over-signing h=.
    forged, n = re.subn(rb"(?<![a-z])h=[^;]*;", b"h=" + b":".join(OVER) + b";", real)
    assert n == 1 and _b_prefix(forged + partial) == _b_prefix(partial)
    verdict = _check(_ar(partial) + forged + partial)
    assert not verdict.ok and "does not over-sign content-type" in verdict.reason


def test_without_header_b_every_signature_of_that_domain_must_meet_the_rules(key):
    """Microsoft 365 writes no header.b: then each signature of d= stands in for the pass."""
    partial, over = _sign(key, PARTIAL), _sign(key, OVER)
    assert _check(_ar(over, b=False) + over).ok
    assert not _check(_ar(partial, b=False) + partial).ok
    plain = HEAD + BODY
    verdict = _check(_ar(over, b=False) + plain)
    assert verdict.reason == ("dkim pass for example.com, but no DKIM-Signature with "
                              "d=example.com in the mail")


def test_dmarc_pass_checks_every_aligned_signature_and_alone_rests_on_spf(key):
    """A DMARC pass may rest on DKIM (then on a signature in the mail) or on SPF alignment."""
    partial, over = _sign(key, PARTIAL), _sign(key, OVER)
    assert _check(_ar(over, dmarc=True) + over).ok
    verdict = _check(_ar(partial, dmarc=True) + f"In-Reply-To: {DESK_ID}\r\n".encode() + partial)
    assert verdict.reason.startswith("dmarc pass for example.com, but d=example.com does not")
    # No aligned signature: the pass came from SPF, which a replay from another host fails.
    assert _check(_ar(over, dmarc=True) + HEAD + BODY).ok
    # A signature of an unaligned domain (a mailing list's) is not what DMARC passed on.
    listed = _sign(key, PARTIAL, domain=b"lists.example.org")
    assert _check(_ar(over, dmarc=True) + listed).ok


def test_both_paths_give_the_same_refusal(key):
    """One set of h= rules: the A-R path and the own dkimpy check refuse alike."""
    partial = _sign(key, PARTIAL)
    own = verify_staff_dkim(partial, STAFF, 1, lambda name: key[1])
    assert not own.ok
    assert _check(_ar(partial) + partial).reason == f"dkim pass for example.com, but {own.reason}"
