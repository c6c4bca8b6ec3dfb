"""Address normalization, lists, plus-details and redaction."""

import random
import time

import pytest

from parsers.addresses import (
    MAX_ADDRESSES,
    domain_of,
    mailboxes,
    normalize,
    parse_address_list,
    redact,
    safe_lower,
    split_plus,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Ivan.Petrov@Gmail.COM", "ivan.petrov@gmail.com"),
        ("Ivan Petrov <Ivan.Petrov@Gmail.COM>", "ivan.petrov@gmail.com"),
        ("<a@b.example>", "a@b.example"),
        ('"Petrov, Ivan" <i@x.ru>', "i@x.ru"),
        ("  mailto:A@B.example ", "a@b.example"),
        ("user@Пример.РФ", "user@xn--e1afmkfd.xn--p1ai"),
        ("user@xn--e1afmkfd.xn--p1ai", "user@xn--e1afmkfd.xn--p1ai"),
        ("user@example.com.", "user@example.com"),
        ("root@[192.0.2.1]", "root@[192.0.2.1]"),
        ('"ivan"@x.example', "ivan@x.example"),
        ("o'brien@x.example", "o'brien@x.example"),
        ("user@mail_relay.internal", "user@mail_relay.internal"),
        ("support+OA-1.abc@desk.example", "support+oa-1.abc@desk.example"),
    ],
)
def test_normalize(raw, expected):
    assert normalize(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "no-at-sign",
        "@example.com",
        "user@",
        "a b@c.d",
        "a@b@c.d",
        "a@b..c",
        "a,b@c.d",
        "a@.example",
        "<>",
        "x" * 400 + "@example.com",
        "a\r\n@b.c",
        "a@exa mple.com",
    ],
)
def test_normalize_returns_empty_for_garbage(raw):
    assert normalize(raw) == ""


def test_normalize_survives_domains_idna2003_refuses():
    # Sixty Cyrillic letters fit a label but their punycode does not: the codec raises.
    domain = "я" * 60 + ".example"
    with pytest.raises(UnicodeError):
        domain.encode("idna")
    assert normalize("A@" + domain.upper()) == "a@" + domain


def test_parse_address_list_normalizes_dedupes_and_keeps_order():
    values = [
        'OneAssist <Support@Desk.Example>, "Smith, John" <john@example.com>',
        "support@desk.example, undisclosed-recipients:;, garbage",
        "=?utf-8?B?0JjQstCw0L0=?= <ivan@example.ru>",
    ]
    assert parse_address_list(values) == (
        "support@desk.example",
        "john@example.com",
        "ivan@example.ru",
    )


def test_parse_address_list_accepts_one_string():
    assert parse_address_list("a@b.example, c@d.example") == ("a@b.example", "c@d.example")
    assert parse_address_list([]) == ()
    assert parse_address_list(["", "garbage"]) == ()


def test_parse_address_list_caps_a_bomb():
    value = ", ".join(f"user{i}@example.com" for i in range(5 * MAX_ADDRESSES))
    result = parse_address_list([value])
    assert len(result) == MAX_ADDRESSES
    assert result[0] == "user0@example.com"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("support+OA-1042.k3j@desk.example", ("support@desk.example", "oa-1042.k3j")),
        ("support@desk.example", ("support@desk.example", None)),
        ("Support <support+@desk.example>", ("support@desk.example", "")),
        ("a+b+c@x.example", ("a@x.example", "b+c")),
        ("+only@x.example", ("+only@x.example", None)),
        ("garbage", ("", None)),
    ],
)
def test_split_plus(raw, expected):
    assert split_plus(raw) == expected


def test_redact_keeps_first_letter_and_domain_only():
    assert redact("Ivan.Petrov@Gmail.com") == "i***@gmail.com"
    assert redact("Name <x@desk.example>") == "x***@desk.example"
    assert redact("garbage") == "***"
    assert "petrov" not in redact("ivan.petrov@gmail.com")


def test_domain_of():
    assert domain_of("Ivan <ivan@Mail.RU>") == "mail.ru"
    assert domain_of("nope") == ""


def test_parse_address_list_groups_comments_and_quoted_separators():
    value = (
        '"Smith, John" <J@X.example>, a@b.example (Comment, with comma), '
        "Team: c@d.example, e@f.example;, undisclosed-recipients:;, "
        '"a \\" b, c" <q@x.example>, g@h.example (nested (comment, here))'
    )
    assert parse_address_list(value) == (
        "j@x.example",
        "a@b.example",
        "c@d.example",
        "e@f.example",
        "q@x.example",
        "g@h.example",
    )


@pytest.mark.parametrize("char", ["(", ":", '"', "<", ",", "\\"])
def test_parse_address_list_is_linear_on_hostile_headers(char):
    # email.utils.getaddresses raises RecursionError on 200,000 '(' or ':'.
    started = time.process_time()
    assert parse_address_list([char * 200_000 + "a@b.example"]) in ((), ("a@b.example",))
    assert time.process_time() - started < 1.0


def test_normalize_is_idempotent_on_random_text():
    rng = random.Random(7)
    alphabet = "aZ@.<>\"(),;:\\ \t\r\n=?_-+8ЯёxnФ\x00[]%*'"
    for _ in range(5000):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24)))
        once = normalize(value)
        assert normalize(once) == once
        assert not any(c in once for c in ' \t\r\n"<>,;\x00')


# --- no compatibility folding (issue 9 finding 11) -------------------------------------


@pytest.mark.parametrize(
    "lookalike",
    [
        "\u212aate@desk.example",  # KELVIN SIGN: str.lower() gives an ASCII 'k'
        "kate@\uff44esk.example",  # FULLWIDTH d: IDNA 2003 nameprep folds it to 'd'
        "kate@DESK.\uff45xample",
        "kate@\u212aesk.example",
        "\uff4bate@desk.example",  # fullwidth k in the local part
    ],
)
def test_compatibility_characters_never_fold_into_another_mailbox(lookalike):
    folded = normalize(lookalike)
    assert folded != "kate@desk.example"
    assert folded == "" or not folded.isascii()
    # And the comparison the daemon makes for staff and clients agrees.
    assert safe_lower(lookalike) != "kate@desk.example"


def test_idna_domains_still_compare_in_ascii():
    assert normalize("Иван@Почта.РФ") == "иван@xn--80a1acny.xn--p1ai"
    assert normalize("ivan@xn--80a1acny.xn--p1ai") == "ivan@xn--80a1acny.xn--p1ai"
    # 'ß' is its own letter in IDNA 2008; IDNA 2003 would make it "strasse".
    assert normalize("a@straße.de") != normalize("a@strasse.de")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # Finding 6: the name decodes to CR LF and a header; the addr-spec is what counts.
        ("=?UTF-8?Q?=D0=A4=D1=91=D0=B4=D0=BE=D1=80=0D=0ABcc:_x@evil.test?= <ivan@example.org>",
         [("=?UTF-8?Q?=D0=A4=D1=91=D0=B4=D0=BE=D1=80=0D=0ABcc:_x@evil.test?=", "ivan@example.org")]),
        ('"Petrov, Ivan" <ivan@x.example>', [('"Petrov, Ivan"', "ivan@x.example")]),
        ("ivan@x.example (Ivan Petrov)", [("Ivan Petrov", "ivan@x.example")]),
        ("anna@desk.example, eve@evil.example", [("", "anna@desk.example"), ("", "eve@evil.example")]),
        ("Team: a@x.example, b@y.example;", [("", "a@x.example"), ("", "b@y.example")]),
        ("<@relay.example:ivan@x.example>", [("", "ivan@x.example")]),
        ("Ivan <ivan@x.example> <other@y.example>", [("Ivan", "")]),
        ("undisclosed-recipients:;", []),
    ],
)
def test_mailboxes_read_the_addr_spec_of_the_raw_header(value, expected):
    assert [(m.display, m.addr_spec) for m in mailboxes(value)] == expected


@pytest.mark.parametrize("chunk", ["=?", "=?u?q?", "(", '"', "<", ":", "=?utf-8?q?a"])
def test_mailboxes_is_linear_on_hostile_headers(chunk):
    start = time.process_time()
    mailboxes(chunk * 20_000)
    assert time.process_time() - start < 1.0
