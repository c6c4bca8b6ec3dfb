"""Fresh DKIM verification of staff mail (docs/reliability.md I6, case 20 a-e).

Offline: an RSA key is made per module with `openssl genpkey` (dkimpy's own keygen,
dkim.dknewkey, shells out to the same binary through temp files), mails are signed with
dkimpy, and the key reaches the verifier through an injected lookup, never DNS.
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
from collections.abc import Callable

import dkim
import pytest
from dkim.canonicalization import CanonicalizationPolicy
from dkim.crypto import parse_pem_private_key

from daemon.adapters.dkim import verify_staff_dkim
from parsers.auth_results import AuthVerdict

SEL = b"s1"
STAFF = "anna@example.com"
COMMAND = b"#approve refund 500 EUR\r\n"
HEAD = (b"To: desk@oneassist.example\r\nSubject: [OA-7] #close\r\nMessage-ID: <1@example.com>\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: 7bit\r\n")
# The top-level MIME headers over-signed, as rspamd does by default (docs/reliability.md case 36).
MIME = (b"mime-version", b"mime-version", b"content-type", b"content-type",
        b"content-transfer-encoding", b"content-transfer-encoding")
Lookup = Callable[[bytes], bytes]
Key = tuple[bytes, bytes]  # (PEM private key, TXT record)


def _openssl(*args: str, stdin: bytes | None = None) -> bytes:
    return subprocess.run(["openssl", *args], input=stdin, check=True, capture_output=True).stdout


@pytest.fixture(scope="module")
def key() -> Key:
    """A fresh 2048-bit RSA key; generated once, as it takes a noticeable moment."""
    priv = _openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048")
    der = _openssl("pkey", "-pubout", "-outform", "DER", stdin=priv)
    return priv, b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)


@pytest.fixture
def dns(key: Key) -> Lookup:
    # The same key is published for every signer, so "another domain" really verifies.
    domains = (b"example.com", b"attacker.example", b"com")
    records = {SEL + b"._domainkey." + d + b".": key[1] for d in domains}
    return lambda name: records.get(name, b"")


def _mail(sender: str = STAFF, body: bytes = b"Please close it.\r\n", extra: bytes = b"") -> bytes:
    return b"From: Anna <%s>\r\n" % sender.encode() + HEAD + extra + b"\r\n" + body


def _sign(raw: bytes, key: Key, domain: bytes = b"example.com", length: bool = False,
          headers: tuple[bytes, ...] = (b"from", b"from", b"to", b"subject", b"subject",
                                        b"message-id", *MIME)) -> bytes:
    # From and Subject over-signed, as rspamd does by default and OpenDKIM with
    # OversignHeaders: h= names them once more than they occur.
    return dkim.sign(raw, SEL, domain, key[0], include_headers=list(headers), length=length) + raw


def _sign_without_from(raw: bytes, key: Key) -> bytes:
    """A valid signature whose h= omits From; dkim.sign refuses that, so its helper is used."""
    signer = dkim.DKIM(raw)
    signer.hasher = hashlib.sha256
    policy = CanonicalizationPolicy.from_c_value(b"relaxed/simple")
    bh = base64.b64encode(hashlib.sha256(policy.canonicalize_body(signer.body)).digest())
    tags = b"v=1 a=rsa-sha256 c=relaxed/simple d=example.com s=s1 h=to:subject".split()
    fields = [(t.split(b"=")[0], t.split(b"=")[1]) for t in tags] + [(b"bh", bh), (b"b", b"")]
    pk = parse_pem_private_key(key[0])
    header = signer.gen_header(fields, (b"to", b"subject"), policy, b"DKIM-Signature", pk)
    return b"DKIM-Signature: " + header + raw


def _dkimpy_accepts(raw: bytes, dns: Lookup) -> bool:
    return dkim.verify(raw, dnsfunc=lambda name, timeout=5: dns(name))


def test_aligned_signature_passes(key, dns):
    verdict = verify_staff_dkim(_sign(_mail(), key), STAFF, 1, dns)
    assert verdict.ok and verdict.reason == "dkim pass for example.com aligned with example.com"


def test_subdomain_from_is_aligned_with_parent_signer(key, dns):
    raw = _sign(_mail("anna@mail.example.com"), key)
    assert verify_staff_dkim(raw, "anna@mail.example.com", 1, dns).ok


def test_a_unsigned_fails(dns):
    assert verify_staff_dkim(_mail(), STAFF, 1, dns).reason == "no DKIM-Signature"


def test_b_valid_signature_of_another_domain_fails(key, dns):
    raw = _sign(_mail(), key, b"attacker.example")
    assert _dkimpy_accepts(raw, dns)  # genuinely valid
    verdict = verify_staff_dkim(raw, STAFF, 1, dns)
    assert not verdict.ok and verdict.reason == "d=attacker.example not aligned with example.com"


def test_single_label_signer_never_aligns(key, dns):
    verdict = verify_staff_dkim(_sign(_mail(), key, b"com"), STAFF, 1, dns)
    assert not verdict.ok and "not aligned" in verdict.reason


def test_c_from_not_in_h_fails_though_dkimpy_accepts_it(key, dns):
    raw = _sign_without_from(_mail(), key)
    # dkimpy's verifier does not demand From in h=; only our explicit check catches this.
    assert _dkimpy_accepts(raw, dns)
    verdict = verify_staff_dkim(raw, STAFF, 1, dns)
    assert not verdict.ok and verdict.reason == "d=example.com does not sign From"


def test_d_two_from_headers_fail(key, dns):
    raw = _sign(_mail(extra=b"From: Boss <boss@example.com>\r\n"), key)
    assert verify_staff_dkim(raw, STAFF, 2, dns).reason == "2 From headers, need exactly one"
    # A caller that miscounted still fails: dkimpy's own view of the headers is recounted.
    recount = verify_staff_dkim(raw, STAFF, 1, dns).reason
    assert recount == "dkim parser does not see exactly one From header"


def test_e_body_length_tag_fails_even_though_signature_verifies(key, dns):
    raw = _sign(_mail(), key, length=True) + COMMAND
    assert _dkimpy_accepts(raw, dns)  # l= hides the appended command
    verdict = verify_staff_dkim(raw, STAFF, 1, dns)
    assert not verdict.ok and verdict.reason == "d=example.com has an l= body length"
    assert COMMAND.decode().strip() not in verdict.reason


def test_tampered_body_fails(key, dns):
    raw = _sign(_mail(), key).replace(b"close it", b"refund it")
    assert verify_staff_dkim(raw, STAFF, 1, dns).reason == "dkim: ValidationError"


def test_no_dns_record_fails_without_raising(key):
    verdict = verify_staff_dkim(_sign(_mail(), key), STAFF, 1, lambda name: b"")
    assert verdict == AuthVerdict(False, "d=example.com did not verify")


def test_lookup_error_fails_without_raising(key):
    def broken(name: bytes) -> bytes:
        raise TimeoutError("no answer")

    assert verify_staff_dkim(_sign(_mail(), key), STAFF, 1, broken).reason == "dkim: TimeoutError"


def test_broken_signature_does_not_hide_a_good_one(key, dns):
    raw = b"DKIM-Signature: v=1; garbage\r\n" + _sign(_mail(), key)
    assert verify_staff_dkim(raw, STAFF, 1, dns).ok
    alone = b"DKIM-Signature: v=1; garbage\r\n" + _mail()
    assert verify_staff_dkim(alone, STAFF, 1, dns).reason.startswith("dkim: ")


REPLAYED_SUBJECT = b"Subject: [OA-1] [#cancel]\r\n"


def test_prepended_subject_breaks_an_over_signed_signature(key, dns):
    """docs/reliability.md case 36: a second Subject above a signed mail of a manager is not a command."""
    raw = REPLAYED_SUBJECT + _sign(_mail(), key)
    assert not _dkimpy_accepts(raw, dns)
    assert not verify_staff_dkim(raw, STAFF, 1, dns).ok


@pytest.mark.parametrize("name", [b"from", b"subject"])
def test_signature_that_does_not_over_sign_from_and_subject_fails(key, dns, name):
    """docs/reliability.md case 36: without over-signing, a prepended Subject still verifies in dkimpy."""
    headers = tuple(h for h in (b"from", b"from", b"to", b"subject", b"subject") if h != name) + (
        name, *MIME)
    raw = _sign(_mail(), key, headers=headers)
    verdict = verify_staff_dkim(raw, STAFF, 1, dns)
    assert not verdict.ok and verdict.reason == f"d=example.com does not over-sign {name.decode()}"
    if name == b"subject":
        # The hole the rule closes: dkimpy itself accepts the replayed command.
        assert _dkimpy_accepts(REPLAYED_SUBJECT + raw, dns)


def test_repeated_routing_header_fails_though_signature_verifies(key, dns):
    """docs/reliability.md case 36: a second References (not signed) would re-route the manager's text."""
    raw = b"References: <oneassist.1@desk.example>\r\n" + _sign(
        _mail(extra=b"References: <x@example.com>\r\n"), key)
    assert _dkimpy_accepts(raw, dns)
    verdict = verify_staff_dkim(raw, STAFF, 1, dns)
    assert not verdict.ok and verdict.reason == "dkim parser sees a repeated references"


def test_unsigned_references_fail(key, dns):
    """References names the ticket of staff mail; where it occurs it must be signed."""
    raw = _sign(_mail(extra=b"References: <oneassist.1@desk.example>\r\n"), key)
    verdict = verify_staff_dkim(raw, STAFF, 1, dns)
    assert not verdict.ok and verdict.reason == "d=example.com does not sign references"
    signed = _sign(_mail(extra=b"References: <oneassist.1@desk.example>\r\n"), key,
                   headers=(b"from", b"from", b"subject", b"subject", b"references", *MIME))
    assert verify_staff_dkim(signed, STAFF, 1, dns).ok


# Anna's answer quotes a client under her own text; as text/plain the command is quoted.
ANNA_BODY = (b"Hi Petr, I will call the shop today.\r\n\r\nThe client wrote:\r\n\r\n"
             b"--cut\r\n\r\n#cancel\r\n")
RECUT = b'Content-Type: multipart/mixed; boundary="cut"\r\n'
# From and Subject over-signed, the MIME headers signed once: what the finding's signer did.
SIGNED_ONCE = (b"from", b"from", b"to", b"subject", b"subject", b"mime-version",
               b"content-type", b"content-transfer-encoding")


def test_prepended_multipart_content_type_is_refused_though_dkimpy_accepts_it(key, dns):
    """docs/reliability.md case 36: the signature covers the bottom Content-Type; the parser cuts by the top."""
    from parsers.mime import parse

    signed = _sign(_mail(body=ANNA_BODY), key, headers=SIGNED_ONCE)
    replayed = RECUT + signed
    assert _dkimpy_accepts(replayed, dns)
    assert parse(replayed).text.startswith("#cancel")  # the quoted command is all that is left
    verdict = verify_staff_dkim(replayed, STAFF, 1, dns)
    assert verdict == AuthVerdict(False, "dkim parser sees a repeated content-type")
    # Signed once is not enough even untampered: the signer must over-sign the MIME headers.
    assert verify_staff_dkim(signed, STAFF, 1, dns).reason == \
        "d=example.com does not over-sign content-type"
    over = _sign(_mail(body=ANNA_BODY), key)
    assert verify_staff_dkim(over, STAFF, 1, dns).ok
    assert not _dkimpy_accepts(RECUT + over, dns)


@pytest.mark.parametrize("name", [b"mime-version", b"content-type", b"content-transfer-encoding"])
def test_signature_that_does_not_over_sign_a_present_mime_header_fails(key, dns, name):
    """docs/reliability.md case 36: a MIME header listed only as often as it occurs can be prepended."""
    headers = (b"from", b"from", b"subject", b"subject") + tuple(
        h for h in MIME if h != name) + (name,)
    verdict = verify_staff_dkim(_sign(_mail(), key, headers=headers), STAFF, 1, dns)
    assert verdict == AuthVerdict(False, f"d=example.com does not over-sign {name.decode()}")


def _bare(body: bytes, mime: bytes = b"") -> bytes:
    """A mail without the MIME block of HEAD (older scripts and some agents send none)."""
    return (b"From: Anna <%s>\r\n" % STAFF.encode() + b"To: desk@oneassist.example\r\n"
            b"Subject: [OA-7] thanks\r\nMessage-ID: <2@example.com>\r\n" + mime + b"\r\n" + body)


def test_content_type_added_to_a_mail_without_one_is_refused(key, dns):
    """docs/reliability.md case 36: no Content-Type to repeat, so h= must name it once ("there is none")."""
    unsigned = _sign(_bare(ANNA_BODY), key, headers=(b"from", b"from", b"subject", b"subject"))
    replayed = RECUT + unsigned
    assert _dkimpy_accepts(replayed, dns)
    verdict = verify_staff_dkim(replayed, STAFF, 1, dns)
    assert verdict == AuthVerdict(False, "d=example.com does not over-sign content-type")
    oversigned = _sign(_bare(ANNA_BODY), key, headers=(
        b"from", b"from", b"subject", b"subject", b"content-type", b"content-transfer-encoding"))
    assert verify_staff_dkim(oversigned, STAFF, 1, dns).ok
    assert not verify_staff_dkim(RECUT + oversigned, STAFF, 1, dns).ok


def test_transfer_encoding_must_be_over_signed_on_a_single_part_mail_only(key, dns):
    """docs/reliability.md case 36: an added quoted-printable turns a quoted `=23cancel` into `#cancel`.

    On a multipart mail the top-level encoding is inert (each part has its own), so a signer
    that signs Content-Transfer-Encoding only when present (rspamd's `(x)`) still passes.
    """
    from parsers.mime import parse

    plain = b"Content-Type: text/plain; charset=utf-8\r\n"
    headers = (b"from", b"from", b"subject", b"subject", b"content-type", b"content-type")
    signed = _sign(_bare(b"The client wrote:\r\n=23cancel\r\n", plain), key, headers=headers)
    replayed = b"Content-Transfer-Encoding: quoted-printable\r\n" + signed
    assert _dkimpy_accepts(replayed, dns) and "\n#cancel" in parse(replayed).text
    verdict = verify_staff_dkim(replayed, STAFF, 1, dns)
    assert verdict == AuthVerdict(False, "d=example.com does not over-sign content-transfer-encoding")
    multipart = b'Content-Type: multipart/alternative; boundary="b1"\r\n'
    parts = b"--b1\r\nContent-Type: text/plain\r\n\r\nThanks.\r\n--b1--\r\n"
    assert verify_staff_dkim(_sign(_bare(parts, multipart), key, headers=headers), STAFF, 1, dns).ok
