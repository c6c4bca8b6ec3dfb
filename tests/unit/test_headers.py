"""Header decoding and sanitizing (docs/reliability.md cases 22, 30 and the sanitizer property of 33)."""

import random

import pytest

from parsers.headers import (
    clean_header_text,
    decode_bytes,
    decode_header_value,
    lookup_charset,
    raw_header_text,
)

NASTY = [
    "Hello \nBcc: victim@evil",
    "a\r\nb",
    "a\rb\n\nc",
    "\x00lead\x00",
    "tab\there",
    "  spaced   out  ",
    "line\u2028sep\u2029para",
    "nel\x85c1\x9fctl",
    "bom\ufeffx",
    "evil\u202efdp.exe",
    "iso\u2066late\u2069",
    "lone \udc8f surrogate",
    "\x1b[31mred\x1b[0m",
    "",
    "\r\n\t ",
]


@pytest.mark.parametrize("value", NASTY)
def test_clean_header_text_has_no_line_breaks_or_controls(value):
    cleaned = clean_header_text(value)
    assert not any(c in cleaned for c in "\r\n\x00\t\x85\u2028\u2029\ufeff\x1b\u202e\u2066")
    assert not any("\ud800" <= c <= "\udfff" for c in cleaned)
    assert cleaned == cleaned.strip()
    assert "  " not in cleaned
    cleaned.encode("utf-8")


def test_clean_header_text_examples():
    assert clean_header_text("Hello \nBcc: victim@evil") == "Hello Bcc: victim@evil"
    assert clean_header_text("tab\there") == "tab here"
    assert clean_header_text("  a \r\n\r\n b  ") == "a b"
    assert clean_header_text("Привет, мир") == "Привет, мир"


def test_clean_header_text_is_idempotent_on_random_text():
    rng = random.Random(20261127)
    alphabet = "ab Яё\r\n\t\x00\x0b\x0c\x1f\x7f\x85\xa0\u2028\u2029\ufeff\udc80 ="
    for _ in range(2000):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24)))
        once = clean_header_text(value)
        assert clean_header_text(once) == once
        assert "\r" not in once and "\n" not in once


def test_encoded_newline_cannot_inject_a_header():
    assert decode_header_value("=?UTF-8?Q?Hello_=0ABcc:_victim@evil?=") == "Hello Bcc: victim@evil"
    assert (
        decode_header_value("=?UTF-8?B?SGVsbG8NCkJjYzogdmljdGltQGV2aWw=?=")
        == "Hello Bcc: victim@evil"
    )


def test_base64_and_q_words_in_cyrillic_charsets():
    assert decode_header_value("=?UTF-8?B?0J/RgNC40LLQtdGC?=") == "Привет"
    assert decode_header_value("=?windows-1251?Q?=CF=F0=E8=E2=E5=F2?=") == "Привет"
    assert decode_header_value("=?koi8-r?B?8NLJ18XU?=") == "Привет"
    assert decode_header_value("=?iso-8859-5?Q?=BF=E0=D8=D2=D5=E2?=") == "Привет"


def test_character_split_across_two_encoded_words_survives():
    raw = "Заказ".encode()
    first, second = raw[:3], raw[3:]  # byte 3 is in the middle of "а"
    import base64

    words = [f"=?utf-8?B?{base64.b64encode(part).decode()}?=" for part in (first, second)]
    assert decode_header_value("\r\n ".join(words)) == "Заказ"


def test_whitespace_between_encoded_words_is_dropped_but_text_is_kept():
    value = "Re: =?utf-8?Q?=D0=90?=  =?utf-8?Q?=D0=91?= and =?utf-8?Q?=D0=92?="
    assert decode_header_value(value) == "Re: АБ and В"


def test_folded_plain_header_is_unfolded():
    assert decode_header_value("a very\r\n long\n\tsubject") == "a very long subject"


def test_rfc2231_language_suffix_in_an_encoded_word():
    assert decode_header_value("=?utf-8*ru?Q?=D0=94=D0=B0?=") == "Да"


@pytest.mark.parametrize(
    "value",
    [
        "=?x-unknown?B?z+7k8uLl8OTo8uU=?=",
        "=?unknown-8bit?Q?=CF=EE?=",
        "=?no-such-charset?Q?=CF=EE?=",
        "=?undefined?Q?=CF=EE?=",
        "=?base64?Q?=CF=EE?=",
        "=?zlib_codec?B?eJzLSM3JyQcABiwCFQ==?=",
        "=?utf-8?B?0J/RgNC40LLQ?=",
        "=?utf-8?B?!!!!?=",
        "=?utf-8?Q?=ZZbroken=?=",
    ],
)
def test_bad_charsets_and_encodings_never_raise(value):
    decoded = decode_header_value(value)
    assert isinstance(decoded, str)
    decoded.encode("utf-8")


def test_unknown_charset_decodes_with_replacement_characters():
    assert decode_header_value("=?x-unknown?Q?=CF=EE?=") == "\ufffd\ufffd"


def test_bytes_codec_named_as_charset_is_not_run():
    # zlib_codec would decompress the payload; the bytes must be read as text instead.
    compressed = "=?zlib_codec?B?eJzLSM3JyQcABiwCFQ==?="
    assert "hello" not in decode_header_value(compressed)


def test_utf7_word_is_decoded():
    assert decode_header_value("=?utf-7?Q?+BBcEMAQ6BDAENw-?=") == "Заказ"


def test_raw_8bit_header_bytes_become_replacement_characters():
    raw = "Срочно".encode("cp1251").decode("ascii", "surrogateescape")
    decoded = decode_header_value(raw)
    assert decoded == "\ufffd" * 6
    assert raw_header_text("ok\r\n fold") == "ok fold"


def test_raw_utf8_header_bytes_are_read_as_utf8():
    raw = "Срочно".encode().decode("ascii", "surrogateescape")
    assert decode_header_value(raw) == "Срочно"


@pytest.mark.parametrize(
    ("charset", "text"),
    [
        ("windows-1251", "Счёт № 17"),
        ("koi8-r", "Счёт"),
        ("iso-8859-5", "Счёт"),
        ("utf-8", "Счёт №"),
    ],
)
def test_decode_bytes_in_declared_charset(charset, text):
    assert decode_bytes(text.encode(charset), charset) == text


def test_decode_bytes_unknown_label_uses_replacement():
    assert decode_bytes("Да".encode("cp1251"), "x-unknown") == "\ufffd\ufffd"
    assert decode_bytes(b"ok", None) == "ok"
    assert decode_bytes(b"\xff", '"utf-8"') == "\ufffd"


def test_decode_bytes_never_returns_lone_surrogates():
    text = decode_bytes(b"+2D3cAQ-", "utf-7")
    text.encode("utf-8")


def test_lookup_charset_maps_aliases_and_rejects_non_text_codecs():
    assert lookup_charset("CP1251") == "cp1251"
    assert lookup_charset("KOI8-R") == "koi8-r"
    assert lookup_charset("base64") == "utf-8"
    assert lookup_charset("rot13") == "utf-8"
    assert lookup_charset("") == "utf-8"


def test_is_known_charset():
    from parsers.headers import is_known_charset

    assert is_known_charset("windows-1251") and is_known_charset("utf_8") and is_known_charset(None)
    assert not is_known_charset("x-unknown") and not is_known_charset("base64")
