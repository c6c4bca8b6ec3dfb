"""Hostile MIME structure, charset names, amounts and entities found in the issue 9 review.

Each test names the cause; its docs/reliability.md case is in its docstring.
"""

from __future__ import annotations

import pytest

from daemon.core.errors import QuarantineError
from parsers import mime
from parsers.headers import _resolve, collapse_param
from parsers.html_text import html_to_text
from parsers.limits import _type_and_boundary, check_limits
from parsers.mime import parse


def html_mail(markup: str) -> bytes:
    return (
        "From: Анна <anna@client.example>\r\nTo: desk@desk.example\r\n"
        "Subject: tickets\r\nMessage-ID: <h1@client.example>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/html; charset=utf-8\r\n\r\n" + markup
    ).encode()


# ---- numeric character references past int()'s 4,300 digits ---------------------


@pytest.mark.parametrize(
    "ref", ["&#" + "9" * 5000, "&#" + "0" * 5000 + "65;", "&#" + "1" * 5000 + ";"]
)
def test_html_only_mail_with_a_huge_decimal_reference_still_parses(ref: str) -> None:
    """docs/reliability.md case 39: html.unescape raised ValueError and the client's mail was quarantined."""
    mail = parse(html_mail("<p>Please buy tickets</p>" + ref))
    assert mail.text.startswith("Please buy tickets")
    assert "9999" not in mail.text and "1111" not in mail.text


def test_fallback_tag_stripper_survives_a_huge_decimal_reference() -> None:
    """docs/reliability.md case 39: mime._strip_tags is the converter's fallback and unescaped too."""
    from parsers.mime import _strip_tags

    assert _strip_tags("<b>x</b>&#" + "7" * 5000).startswith("x")


@pytest.mark.parametrize(
    ("markup", "text"),
    [
        ("&#0000000065;&#65;&#x41;", "AAA"),
        ("&#1114112;&#99999999;", "\ufffd\ufffd"),
        ("&#00000000;", "\ufffd"),
        ("a&amp;b &#1055;", "a&b П"),
    ],
)
def test_short_and_zero_padded_references_decode_as_before(markup: str, text: str) -> None:
    assert html_to_text(markup) == text


# ---- part and depth caps: what the pre-scan read differently from the stdlib -----

HEAD = b"From: a@client.example\r\nTo: desk@desk.example\r\nSubject: x\r\nMIME-Version: 1.0\r\n"


def flood(content_type: bytes, count: int = 2000, *, blank: bool = True) -> bytes:
    if not blank:
        # No blank line anywhere: to the stdlib "--b" and "x" are no header lines, so
        # each ends a header block.
        return HEAD + content_type + b"\r\n" + b"--b\r\nx\r\n" * count + b"--b--\r\n"
    return HEAD + content_type + b"\r\n\r\n" + b"--b\r\n\r\nx\r\n" * count + b"--b--\r\n"


FLOODS = {
    "rfc2231-extended": flood(b"Content-Type: multipart/mixed; boundary*=''b"),
    "rfc2231-continuation": flood(b'Content-Type: multipart/mixed; boundary*0="b"'),
    "rfc2231-encoded-continuation": flood(b"Content-Type: multipart/mixed; boundary*0*=utf-8''b"),
    "rfc2231-unknown-charset": flood(b"Content-Type: multipart/mixed; boundary*=zz-9''b"),
    "second-content-type": flood(
        b'Content-Type: multipart/mixed; boundary="b"\r\nContent-Type: text/plain'
    ),
    "upper-case": flood(b"CONTENT-TYPE: Multipart/Mixed; BOUNDARY=b"),
    "folded": flood(b"Content-Type: multipart/mixed;\r\n\tboundary*=\r\n  ''b"),
    "str-strip-space": flood(b"Content-Type: \x1cmultipart/mixed; boundary=b"),
    "no-blank-line": flood(b"Content-Type: multipart/mixed; boundary=b", blank=False),
    "empty-boundary": flood(b'Content-Type: multipart/mixed; boundary=""').replace(b"--b", b"--"),
    "digest-default-type": HEAD
    + b"Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\n"
    + b"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
    + b"--b\r\n\r\nx\r\n" * 2000
    + b"--b--\r\n--d--\r\n",
}


def stdlib_parts(raw: bytes) -> int:
    import email

    return sum(1 for _ in email.message_from_bytes(raw).walk())


@pytest.mark.parametrize("name", sorted(FLOODS))
def test_part_floods_the_stdlib_sees_are_refused_by_the_pre_scan(name: str) -> None:
    """docs/reliability.md cases 31 and 40: limits read boundary= and the last Content-Type; the stdlib
    reads RFC 2231 forms and the first one, so 20,000 parts passed the 500-part cap."""
    raw = FLOODS[name]
    assert stdlib_parts(raw) > 2000  # the stdlib really builds them
    with pytest.raises(QuarantineError, match="more than 500 MIME parts"):
        check_limits(raw, max_bytes=10**8, max_parts=500, max_depth=30, max_header_bytes=10**6)


@pytest.mark.parametrize("name", sorted(FLOODS))
def test_the_parser_refuses_part_floods_even_without_the_pre_scan(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/reliability.md cases 31 and 40: the backstop counts parts as the feedparser builds them."""
    monkeypatch.setattr(mime, "check_limits", lambda raw, **caps: None)
    with pytest.raises(QuarantineError, match="more than 500 MIME parts"):
        parse(FLOODS[name])


def test_the_parser_refuses_deep_nesting_even_without_the_pre_scan(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """docs/reliability.md case 31: nesting is checked on the feedparser's own stack."""
    monkeypatch.setattr(mime, "check_limits", lambda raw, **caps: None)
    raw = HEAD
    for level in range(40):
        raw += f'Content-Type: multipart/mixed; boundary="l{level}"\r\n\r\n--l{level}\r\n'.encode()
    raw += b"Content-Type: text/plain\r\n\r\ndeep\r\n"
    assert parse(raw, max_depth=40).text == "deep"
    with pytest.raises(QuarantineError, match="nesting deeper than 30"):
        parse(raw)


def test_delivery_status_blocks_count_as_parts() -> None:
    """docs/reliability.md case 31: each blank-line block of a message/delivery-status is a message."""
    raw = HEAD + b"Content-Type: message/delivery-status\r\n\r\n" + b"X-A: 1\r\n\r\n" * 2000
    assert stdlib_parts(raw) > 2000
    with pytest.raises(QuarantineError, match="more than 500 MIME parts"):
        parse(raw)


def test_ordinary_multipart_forms_still_parse_within_the_caps() -> None:
    for form in (b"boundary*=''b", b'boundary*0="b"', b"BOUNDARY=b", b'boundary="b"'):
        mail = parse(flood(b"Content-Type: multipart/mixed; " + form, count=499))
        assert mail.text.count("x") == 499


def test_quoted_boundary_with_spaces_is_the_stdlib_boundary() -> None:
    assert _type_and_boundary(b'Content-Type: multipart/mixed; boundary="a b c "') == (
        b"multipart/mixed",
        b"a b c",
    )
    assert _type_and_boundary(
        b"content-type: Multipart/Alternative;\n boundary*0*=utf-8''b%41"
    ) == (
        b"multipart/alternative",
        b"bA",
    )
    assert _type_and_boundary(b"Content-Type: text/plain; boundary=b") == (b"text/plain", None)
    assert _type_and_boundary(b"Content-Type: multipart/mixed") == (b"multipart/mixed", None)


# ---- charset names that would stay in the codec caches forever --------------------


@pytest.mark.parametrize(
    "where",
    ["subject", "body-charset", "filename-charset", "boundary-charset"],
)
def test_random_charset_names_do_not_grow_the_codec_caches(where: str) -> None:
    """docs/reliability.md case 31: encodings.search_function caches every unknown name it is asked."""
    import encodings
    import secrets

    def mail(names: list[str]) -> bytes:
        if where == "subject":
            words = " ".join(f"=?{n}?q?a?=" for n in names)
            return HEAD + f"Content-Type: text/plain\r\nSubject: {words}\r\n\r\nx\r\n".encode()
        parts = []
        for n in names:
            if where == "body-charset":
                parts.append(f"--b\r\nContent-Type: text/plain; charset={n}\r\n\r\nx\r\n")
            elif where == "filename-charset":
                parts.append(
                    f"--b\r\nContent-Disposition: attachment; filename*={n}''f.txt\r\n\r\nx\r\n"
                )
            else:
                parts.append(
                    f"--b\r\nContent-Type: multipart/mixed; boundary*={n}''c\r\n\r\n--c--\r\n"
                )
        body = "".join(parts) + "--b--\r\n"
        return HEAD + b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + body.encode()

    parse(mail(["utf-8", "windows-1251"]))
    before = len(encodings._cache)
    for _ in range(25):
        mail_names = [secrets.token_hex(8) for _ in range(400)]
        parse(mail(mail_names), max_parts=1000)
    assert len(encodings._cache) <= before + 5


@pytest.mark.parametrize(
    ("name", "codec"),
    [
        ("windows-1251", "cp1251"),
        ("koi8-r", "koi8-r"),
        ("iso-8859-5", "iso8859-5"),
        ("x-mac-cyrillic", "mac-cyrillic"),
        ("utf-8", "utf-8"),
        ("us-ascii", "ascii"),
        ("gb2312", "gb2312"),
        ("iso-2022-jp", "iso2022_jp"),
        ("cp1251", "cp1251"),
        ('"UTF-8"', "utf-8"),
        ("ansi_x3.4-1968", "ascii"),
        ("base64", None),
        ("unknown-8bit", None),
        ("utf-8\u0456", None),
        ("a" * 41, None),
    ],
)
def test_real_charset_names_still_resolve(name: str, codec: str | None) -> None:
    assert _resolve(name) == codec


def test_every_stdlib_codec_name_resolves_as_codecs_lookup_does() -> None:
    import codecs
    from encodings.aliases import aliases

    names = set(aliases) | set(aliases.values())
    names |= {n.replace("_", "-") for n in names} | {n.upper() for n in names}
    for name in names:
        try:
            info = codecs.lookup(name)
            expected = info.name if getattr(info, "_is_text_encoding", True) else None
        except LookupError:
            expected = None
        assert _resolve(name) == expected, name


def test_rfc2231_values_collapse_as_the_stdlib_does_for_known_and_unknown_charsets() -> None:
    from email.utils import collapse_rfc2231_value

    for value in (
        ("utf-8", "", "\xd0\xa1\xd1\x87.pdf"),
        ("windows-1251", "ru", "\xd1\xf7\xe5\xf2.pdf"),
        ("zz-top", "", "\xd1.pdf"),
        ("base64", "", "abc"),
        (None, None, "plain"),
        '"quoted"',
    ):
        assert collapse_param(value) == collapse_rfc2231_value(value)  # type: ignore[arg-type]


def test_an_eight_bit_byte_in_a_content_type_is_no_multipart_and_no_crash():
    """Found by the property tests: `Content-Type:\\x80 multipart/report` made limits raise
    UnicodeEncodeError; the feedparser reads it as a non-multipart type, and so do we."""
    raw = (b"From: a@b.example\nContent-Type:\x80 multipart/mixed; boundary=b\n\n"
           b"--b\nContent-Type: text/plain\n\nx\n--b--\n")
    mail = parse(raw)
    assert mail.from_addr == "a@b.example"
