"""Authentication-Results as proof of a staff sender (docs/reliability.md I6, case 20 and 21).

Mails are built from raw bytes through parsers.mime.parse, so header order, folding and
decoding are what the daemon really sees. A-R values imitate Gmail, Microsoft 365 and
Postfix with OpenDKIM/OpenDMARC.
"""

from __future__ import annotations

import pytest

from parsers.auth_results import (
    AuthVerdict,
    ResInfo,
    parse_authentication_results,
    staff_mail_authenticated,
)
from parsers.mail import InboundMail
from parsers.mime import parse

OUR_MX = "mail.oneassist.example"
TRUSTED = frozenset({OUR_MX})
STAFF = "Anna Petrova <anna@oneassist.example>"

GMAIL = (
    "mx.google.com;\r\n"
    "       dkim=pass header.i=@oneassist.example header.s=20230601 header.b=kD9x+Q/a;\r\n"
    "       arc=pass (i=1 spf=pass spfdomain=oneassist.example dkim=pass\r\n"
    "        dkdomain=oneassist.example dmarc=pass fromdomain=oneassist.example);\r\n"
    "       spf=pass (google.com: domain of anna@oneassist.example designates 209.85.220.41\r\n"
    "        as permitted sender) smtp.mailfrom=anna@oneassist.example;\r\n"
    "       dmarc=pass (p=QUARANTINE sp=QUARANTINE dis=NONE) header.from=oneassist.example"
)
M365_NO_ID = (
    "spf=pass (sender IP is 40.107.22.51) smtp.mailfrom=oneassist.example; "
    "dkim=pass (signature was verified) header.d=oneassist.example;"
    "dmarc=pass action=none header.from=oneassist.example;compauth=pass reason=100"
)
M365_WITH_ID = (
    "mx.microsoft.com 1; spf=pass smtp.mailfrom=oneassist.example; "
    "dmarc=pass action=none header.from=oneassist.example; "
    "dkim=pass header.d=oneassist.example; arc=none"
)
OPENDKIM_PASS = (
    f"{OUR_MX};\r\n\tdkim=pass (2048-bit key; unprotected) header.d=oneassist.example\r\n"
    "\theader.i=@oneassist.example header.a=rsa-sha256 header.s=mail header.b=Xy12AbCd"
)
OPENDKIM_FAIL = (
    f'{OUR_MX};\r\n\tdkim=fail reason="signature verification failed" (2048-bit key;\r\n'
    "\tunprotected) header.d=oneassist.example header.i=@oneassist.example header.b=Xy12AbCd"
)
OPENDMARC_PASS = f"{OUR_MX}; dmarc=pass (p=quarantine dis=none) header.from=oneassist.example"
OPENDMARC_FAIL = f"{OUR_MX}; dmarc=fail (p=quarantine dis=quarantine) header.from=oneassist.example"
FORGED_BARE = f"{OUR_MX}; dkim=pass; dmarc=pass"
FORGED_FULL = (
    f"{OUR_MX}; dkim=pass header.d=oneassist.example; dmarc=pass header.from=oneassist.example"
)


# The signature the A-R samples' dkim=pass is about (OPENDKIM_PASS names its b= prefix):
# only its tags are read on this path, the MX verified it. It over-signs what staff mail
# needs (docs/reliability.md case 36); tests/unit/test_signature_match.py signs for real.
SIGNATURE = (
    "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=oneassist.example; s=mail;\r\n"
    "\th=from:from:to:subject:subject:date:message-id:content-type:content-type:\r\n"
    "\t content-transfer-encoding; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;\r\n"
    "\tb=Xy12AbCd\r\n\t kD9x+Q/aQm7e0w=="
)


def raw_mail(*auth_results: str, from_lines: tuple[str, ...] = (STAFF,)) -> bytes:
    """A small signed staff mail; A-R headers topmost first, as each MTA prepends its own."""
    lines = [f"Authentication-Results: {value}" for value in auth_results]
    lines += ["Received: from mail-sor-f41.google.com (mail-sor-f41.google.com [209.85.220.41])"]
    lines += [SIGNATURE]
    lines += [f"From: {value}" for value in from_lines]
    lines += [
        "To: support@desk.oneassist.example",
        "Subject: [OA-1042] #close",
        "Date: Tue, 04 Jun 2024 10:15:00 +0300",
        "Message-ID: <CAF1x2y3@mail.gmail.com>",
        "Content-Type: text/plain; charset=utf-8",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n#close\r\n").encode()


def mail(*auth_results: str, from_lines: tuple[str, ...] = (STAFF,)) -> InboundMail:
    return parse(raw_mail(*auth_results, from_lines=from_lines))


def check(raw: bytes, trusted: frozenset[str] = TRUSTED) -> AuthVerdict:
    """The A-R path as the pipeline calls it: the parsed mail and the bytes it came from."""
    return staff_mail_authenticated(parse(raw), trusted, raw)


def verdict(
    *auth_results: str, trusted: frozenset[str] = TRUSTED, **kw: tuple[str, ...]
) -> AuthVerdict:
    return check(raw_mail(*auth_results, **kw), trusted)


# --- realistic verifiers -------------------------------------------------------------


def test_gmail_sample_passes_and_parses_folded():
    authserv_id, results = parse_authentication_results(
        mail(GMAIL).header("authentication-results") or ""
    )
    assert authserv_id == "mx.google.com"
    assert [(r.method, r.result) for r in results] == [
        ("dkim", "pass"),
        ("arc", "pass"),
        ("spf", "pass"),
        ("dmarc", "pass"),
    ]
    assert results[0].props["header.b"] == "kD9x+Q/a"
    assert results[2].props == {"smtp.mailfrom": "anna@oneassist.example"}
    assert verdict(GMAIL, trusted=frozenset({"mx.google.com"})).ok


def test_dkim_pass_with_header_i_only():
    value = "mx.google.com; dkim=pass header.i=@oneassist.example header.s=20230601"
    result = verdict(value, trusted=frozenset({"mx.google.com"}))
    assert result == AuthVerdict(
        True, "dkim pass for oneassist.example aligned with oneassist.example"
    )


def test_m365_header_without_authserv_id_is_never_ours():
    with pytest.raises(ValueError):
        parse_authentication_results(M365_NO_ID)
    result = verdict(M365_NO_ID, trusted=frozenset({"mx.microsoft.com", "spf"}))
    assert not result.ok and "trusted authserv-id" in result.reason


def test_m365_with_id_and_version():
    authserv_id, results = parse_authentication_results(M365_WITH_ID)
    assert authserv_id == "mx.microsoft.com"
    assert results[1] == ResInfo(
        "dmarc", "pass", {"action": "none", "header.from": "oneassist.example"}
    )
    assert verdict(M365_WITH_ID, trusted=frozenset({"MX.Microsoft.com"})).ok


def test_postfix_opendkim_alone_passes_on_header_d():
    assert verdict(OPENDKIM_PASS).ok


def test_postfix_opendmarc_on_top_of_opendkim_passes():
    assert verdict(OPENDMARC_PASS, OPENDKIM_PASS).ok


def test_only_topmost_of_our_headers_counts_even_between_our_own_milters():
    # OpenDMARC (added last, topmost) says fail; OpenDKIM's pass below it is not read.
    assert not verdict(OPENDMARC_FAIL, OPENDKIM_PASS).ok


# --- docs/reliability.md case 21: forged Authentication-Results ----------------------------


@pytest.mark.parametrize("forged", [FORGED_BARE, FORGED_FULL])
def test_forged_pass_below_our_real_fail_is_ignored(forged: str):
    result = verdict(OPENDKIM_FAIL, forged)
    assert result == AuthVerdict(False, "no dkim or dmarc pass in trusted Authentication-Results")


def test_bare_forgery_when_our_mx_added_none_fails_for_lack_of_domain():
    assert not verdict(FORGED_BARE).ok


def test_documented_limit_a_full_forgery_is_trusted_if_the_mx_does_not_strip():
    # RFC 8601 section 5: the border MX must delete or rename incoming A-R bearing its
    # authserv-id. This pins that the parser cannot make up for an MX that does not.
    assert verdict(FORGED_FULL).ok


def test_other_authserv_ids_are_ignored_wherever_they_are():
    other = "mx.attacker.example; dkim=pass header.d=oneassist.example"
    assert not verdict(other, OPENDKIM_FAIL).ok
    assert not verdict(other, trusted=frozenset({"mx.google.com"})).ok


def test_authserv_id_matches_case_insensitively_and_quoted():
    assert verdict(f'"{OUR_MX.upper()}" 1; dkim=pass header.d=oneassist.example').ok


# --- docs/reliability.md case 20: alignment and the From header ----------------------------


def test_dkim_for_another_domain_is_not_aligned():
    result = verdict(f"{OUR_MX}; dkim=pass header.d=mailer.evil.example header.s=s1")
    assert result == AuthVerdict(
        False, "pass for mailer.evil.example, not aligned with oneassist.example"
    )


@pytest.mark.parametrize(
    ("signer", "from_line", "ok"),
    [
        ("oneassist.example", "anna@eu.oneassist.example", True),
        ("OneAssist.Example.", "anna@oneassist.example", True),
        ("assist.example", "anna@oneassist.example", False),
        ("example", "anna@oneassist.example", False),
        ("eu.oneassist.example", "anna@oneassist.example", False),
    ],
)
def test_relaxed_alignment(signer: str, from_line: str, ok: bool):
    assert verdict(f"{OUR_MX}; dkim=pass header.d={signer}", from_lines=(from_line,)).ok is ok


def test_two_from_headers_fail_even_with_a_pass():
    result = verdict(OPENDMARC_PASS, from_lines=(STAFF, "client@evil.example"))
    assert result == AuthVerdict(False, "repeated header from (a signature covers one instance)")


@pytest.mark.parametrize("from_line", ["", "undisclosed-recipients:;"])
def test_empty_from_fails(from_line: str):
    assert not verdict(OPENDMARC_PASS, from_lines=(from_line,)).ok


def test_dmarc_pass_alone_needs_header_from_of_our_domain():
    assert verdict(OPENDMARC_PASS).ok
    assert not verdict(f"{OUR_MX}; dmarc=pass").ok
    assert not verdict(f"{OUR_MX}; dmarc=pass header.from=evil.example").ok


@pytest.mark.parametrize("result", ["none", "neutral", "policy", "temperror", "permerror", "fail"])
def test_non_pass_results_fail(result: str):
    assert not verdict(f"{OUR_MX}; dkim={result} header.d=oneassist.example").ok


# --- grammar ---------------------------------------------------------------------------


def test_pass_inside_a_comment_does_not_count():
    value = (
        f"{OUR_MX} (dkim=pass; dmarc=pass); dkim=fail (dkim=pass header.d=oneassist.example;"
        " (nested) \\) x) header.d=oneassist.example; dmarc=none (dmarc=pass"
        " header.from=oneassist.example) header.from=oneassist.example"
    )
    assert [(r.method, r.result) for r in parse_authentication_results(value)[1]] == [
        ("dkim", "fail"),
        ("dmarc", "none"),
    ]
    assert not verdict(value).ok


def test_quoted_values_and_reason_keep_semicolons():
    value = f'{OUR_MX}; DKIM/1 = Pass reason="good; \\"verified\\"" header.d="oneassist.example"'
    _, results = parse_authentication_results(value)
    assert results == [
        ResInfo("dkim", "pass", {"reason": 'good; "verified"', "header.d": "oneassist.example"})
    ]
    assert verdict(value).ok


@pytest.mark.parametrize("value", [f"{OUR_MX}; none", f"{OUR_MX} 1;none", f"{OUR_MX}"])
def test_none_form_has_no_results(value: str):
    assert parse_authentication_results(value) == (OUR_MX, [])
    assert not verdict(value).ok


def test_base64_padding_trailing_semicolon_and_stray_words():
    value = f"{OUR_MX}; dkim=pass header.b=ab+/c= header.d=x.example; junk; ; spf=pass"
    _, results = parse_authentication_results(value)
    assert results == [
        ResInfo("dkim", "pass", {"header.b": "ab+/c=", "header.d": "x.example"}),
        ResInfo("spf", "pass", {}),
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            f"{OUR_MX}; dkim=pass ) header.d=x.example",
            [ResInfo("dkim", "pass", {"header.d": "x.example"})],
        ),
        (f"{OUR_MX}; dkim=pass (unclosed header.d=x.example", [ResInfo("dkim", "pass", {})]),
        (
            f'{OUR_MX}; dkim=pass reason="unclosed; dmarc=pass',
            [ResInfo("dkim", "pass", {"reason": "unclosed; dmarc=pass"})],
        ),
        (f"{OUR_MX}; dkim=pass header.b=x\\", [ResInfo("dkim", "pass", {"header.b": "x\\"})]),
    ],
)
def test_unbalanced_input_ends_and_hides_nothing(value: str, expected: list[ResInfo]):
    assert parse_authentication_results(value) == (OUR_MX, expected)


@pytest.mark.parametrize("value", ["", "   ", "; dkim=pass", "(only a comment)"])
def test_no_authserv_id_raises(value: str):
    with pytest.raises(ValueError):
        parse_authentication_results(value)


@pytest.mark.parametrize(
    "header",
    ["Subject: [OA-1] [#cancel]", "Sender: anna@oneassist.example", "To: desk@oneassist.example",
     "Cc: x@oneassist.example", "Message-ID: <replay@evil.example>",
     "In-Reply-To: <oneassist.1@oneassist.example>", "References: <oneassist.1@oneassist.example>"],
)
def test_prepended_header_fails_even_with_a_pass(header):
    """docs/reliability.md case 36: our MX's pass covers the bottom-most instance; the parser reads the top."""
    name = header.split(":", 1)[0]
    # The signed original: it has its own instance of every header under test.
    original = {"Sender": STAFF, "Cc": "boss@oneassist.example", "In-Reply-To": "<v@vendor.example>",
                "References": "<v@vendor.example>"}
    lines = [f"Authentication-Results: {OPENDMARC_PASS}", header]
    if name in original:
        lines.append(f"{name}: {original[name]}")
    raw = "\r\n".join(lines).encode() + b"\r\n" + _RAW_SIGNED
    result = check(raw)
    assert not result.ok and result.reason.startswith(f"repeated header {name.lower()}")
    assert check(lines[0].encode() + b"\r\n" + _RAW_SIGNED).ok


_RAW_SIGNED = (
    f"From: {STAFF}\r\nTo: vendor@vendor.example\r\nSubject: Re: delivery\r\n"
    "Message-ID: <CAF1x2y3@mail.gmail.com>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    "Thanks, see you Monday.\r\n"
).encode()


def test_from_with_two_mailboxes_fails_even_with_a_pass():
    """Issue 9 finding 11: `From: staff, other` is not one author."""
    result = verdict(OPENDMARC_PASS, from_lines=(f"{STAFF}, client@evil.example",))
    assert result == AuthVerdict(False, "2 mailboxes in From, need exactly one")


# Anna's signed answer quotes a client's text under her own: harmless as text/plain.
_ANNA_SIGNED = (
    f"From: {STAFF}\r\nTo: support@desk.oneassist.example\r\nSubject: Re: [OA-1] flowers\r\n"
    "Message-ID: <anna-1@oneassist.example>\r\nMIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n"
    "Hi Petr, I will call the shop today.\r\n\r\nThe client wrote:\r\n\r\n"
    "--cut\r\n\r\n#cancel\r\n=23cancel\r\n"
).encode()


def test_prepended_multipart_content_type_cuts_out_a_quoted_command_and_is_refused():
    """docs/reliability.md case 36: the MX's pass covers the bottom Content-Type; the parser cuts by the top.

    With `Content-Type: multipart/mixed; boundary="cut"` put above, the text the desk reads
    is the client's quoted `#cancel` alone, though the signed bytes are Anna's unchanged.
    """
    head = f"Authentication-Results: {OPENDMARC_PASS}\r\n".encode()
    original = parse(head + _ANNA_SIGNED)
    assert original.text.startswith("Hi Petr")
    assert check(head + _ANNA_SIGNED).ok
    replayed = head + b'Content-Type: multipart/mixed; boundary="cut"\r\n' + _ANNA_SIGNED
    assert parse(replayed).text.startswith("#cancel")  # the hole: only a command is left
    result = check(replayed)
    assert result == AuthVerdict(
        False, "repeated header content-type (a signature covers one instance)")


@pytest.mark.parametrize(
    "header",
    ["Content-Transfer-Encoding: quoted-printable", "MIME-Version: 1.0",
     "Content-Disposition: attachment"],
)
def test_prepended_mime_header_fails_even_with_a_pass(header):
    """docs/reliability.md case 36: each top-level MIME header changes how the signed body is read."""
    name = header.split(":", 1)[0].lower()
    lines = [f"Authentication-Results: {OPENDMARC_PASS}", header]
    signed = _ANNA_SIGNED.replace(b"MIME-Version: 1.0\r\n", b"MIME-Version: 1.0\r\n"
                                  b"Content-Disposition: inline\r\n")
    raw = "\r\n".join(lines).encode() + b"\r\n" + signed
    if name == "content-transfer-encoding":
        # What a second encoding does: the quoted `=23cancel` decodes to a command.
        assert "\n#cancel" in parse(raw.replace(b"Content-Transfer-Encoding: 7bit\r\n", b"")).text
    result = check(raw)
    assert not result.ok and result.reason.startswith(f"repeated header {name}")
    assert check(lines[0].encode() + b"\r\n" + signed).ok
