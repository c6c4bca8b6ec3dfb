"""Hostile MIME structure, charset names, amounts and entities found in the issue 9 review.

Each test names the cause; the RELIABILITY case is in its docstring.
"""

from __future__ import annotations

import pytest

from parsers.html_text import html_to_text
from parsers.mime import parse


def html_mail(markup: str) -> bytes:
    return (
        "From: Анна <anna@client.example>\r\nTo: desk@desk.example\r\n"
        "Subject: tickets\r\nMessage-ID: <h1@client.example>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/html; charset=utf-8\r\n\r\n" + markup
    ).encode()


# ---- numeric character references past int()'s 4,300 digits ---------------------


@pytest.mark.parametrize("ref", ["&#" + "9" * 5000, "&#" + "0" * 5000 + "65;", "&#" + "1" * 5000 + ";"])
def test_html_only_mail_with_a_huge_decimal_reference_still_parses(ref: str) -> None:
    """RELIABILITY 39: html.unescape raised ValueError and the client's mail was quarantined."""
    mail = parse(html_mail("<p>Please buy tickets</p>" + ref))
    assert mail.text.startswith("Please buy tickets")
    assert "9999" not in mail.text and "1111" not in mail.text


def test_fallback_tag_stripper_survives_a_huge_decimal_reference() -> None:
    """RELIABILITY 39: mime._strip_tags is the converter's fallback and unescaped too."""
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
