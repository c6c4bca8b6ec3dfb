"""parse(): raw bytes to InboundMail on real mail-program samples, charsets and bombs."""

import hashlib
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest

from daemon.core.errors import QuarantineError
from parsers.mail import InboundMail
from parsers.mime import display_filename, parse
from tests.conftest import SAMPLES, load_sample

ALL_SAMPLES = sorted(p.name for p in SAMPLES.glob("*.eml"))
MSK = timezone(timedelta(hours=3))


@pytest.mark.parametrize("name", ALL_SAMPLES)
def test_every_sample_parses_with_single_line_headers(name):
    raw = load_sample(name)
    mail = parse(raw)
    assert mail.size == len(raw)
    assert mail.sha256 == hashlib.sha256(raw).hexdigest()
    single_line = [mail.subject, mail.from_name, mail.from_addr, mail.message_id or ""]
    single_line += [v for _, v in mail.headers] + [a.filename for a in mail.attachments]
    for value in single_line:
        assert "\r" not in value and "\n" not in value and "\x00" not in value
    assert all(name == name.lower() for name, _ in mail.headers)
    assert all(a == a.lower() for a in mail.to + mail.cc + mail.reply_to + (mail.from_addr,))
    assert "\x00" not in mail.text and "\r" not in mail.text


def test_gmail_reply_every_field():
    raw = load_sample("gmail-reply-ru.eml")
    mail = parse(raw)
    assert mail.message_id == "CAJx1P7T+9ZqRk2Lw3nQ=4kVbXh_3mS9pDq1oT8uV2e5yR0aB7c@mail.gmail.com"
    assert (mail.from_addr, mail.from_name, mail.from_header_count) == (
        "ivan.petrov@gmail.com",
        "Иван Петров",
        1,
    )
    assert mail.to == ("support+oa-1042.abcdefghijklmnop@desk.example",)
    assert mail.cc == () and mail.reply_to == ()
    assert mail.subject == "Re: [OA-1042] Забронировать столик на пятницу"
    assert mail.date == datetime(2026, 11, 27, 18, 12, 19, tzinfo=MSK)
    assert mail.date.utcoffset() == timedelta(hours=3)
    assert mail.in_reply_to == ("oa-1042-ask.2@desk.example",)
    assert mail.references == ("oa-1042-ack.1@desk.example", "oa-1042-ask.2@desk.example")
    assert mail.text.startswith("Добрый день!\n\nДа, столик на 19:00")
    assert 'class="gmail_quote"' in mail.html
    assert mail.attachments == ()
    assert mail.defects == ()
    assert mail.header("Subject") == mail.subject
    assert len(mail.header_all("received")) == 2
    assert mail.header("dkim-signature").startswith("v=1; a=rsa-sha256;")


def test_outlook_cp1251_quoted_printable():
    mail = parse(load_sample("outlook-reply-ru-cp1251.eml"))
    assert mail.from_addr == "s.ivanov@corp-example.ru"
    assert mail.from_name == "Иванов Сергей"
    assert mail.subject == "RE: [OA-1050] Встреча с подрядчиком"
    assert mail.header("thread-topic") == "[OA-1050] Встреча с подрядчиком"
    assert "Прошу перенести встречу на понедельник, 11:00." in mail.text
    assert "Сергей Иванов" in mail.html
    assert mail.date == datetime(2026, 11, 27, 7, 31, 2, tzinfo=UTC)


def test_thunderbird_koi8r_8bit():
    mail = parse(load_sample("thunderbird-reply-koi8r.eml"))
    assert mail.subject == "Re: [OA-1052] Подготовка визы"
    assert mail.from_name == "Петр Сидоров"
    assert mail.text.startswith("Добрый день!\n\nДокументы прикладываю позже")
    assert mail.html == ""


def test_iso_8859_5_body_split_subject_and_quoted_encoded_name():
    mail = parse(load_sample("rfc2047-subject-split.eml"))
    assert mail.subject == "Заказ такси в аэропорт Шереметьево срочно"
    assert mail.text.strip() == "Нужно такси к 6 утра."
    assert mail.from_name == "Дмитрий"


def test_yandex_8bit_utf8_and_mailru_base64():
    yandex = parse(load_sample("yandex-reply.eml"))
    assert yandex.subject == "Re: [OA-1054] Счёт № 17"
    assert "Оплату внёс" in yandex.text
    mailru = parse(load_sample("mailru-reply.eml"))
    assert mailru.reply_to == ("o.smirnova@mail.ru",)
    assert mailru.text.startswith("Да, подтверждаю заказ.")


def test_html_only_mail_gets_readable_text():
    mail = parse(load_sample("html-only-outlook.eml"))
    assert mail.html.startswith("<html>")
    assert "Please book a table for two at Café Pushkin on Saturday & send me" in mail.text
    assert "<" not in mail.text.replace("<support@desk.example>", "").replace("<olga@", "")
    assert "**" not in mail.text and "&amp;" not in mail.text


def test_rfc2231_and_rfc2047_file_names():
    mail = parse(load_sample("rfc2231-cyrillic-filename.eml"))
    names = [a.filename for a in mail.attachments]
    assert names == ["Счёт № 17.pdf", "Расходы за ноябрь 2026.xlsx", "Фото паспорта.jpg"]
    pdf = mail.attachments[0]
    assert pdf.content_type == "application/pdf"
    assert pdf.payload.startswith(b"%PDF-1.4")
    assert pdf.size == len(pdf.payload)
    assert pdf.sha256 == hashlib.sha256(pdf.payload).hexdigest()
    assert mail.attachments[1].payload[:4] == b"PK\x03\x04" and mail.attachments[1].size == 1028
    assert not any(a.inline for a in mail.attachments)
    assert mail.text == "Высылаю документы: счёт, расходы и фото паспорта.\n"


def test_header_injection_is_neutralized_everywhere():
    mail = parse(load_sample("header-injection-subject.eml"))
    assert mail.subject == "Hello Bcc: victim@evil"
    assert mail.from_addr == "attacker@evil.example"
    assert mail.from_name == "Evil Bcc: victim@evil.example"
    assert mail.attachments[0].filename == "report Bcc_ victim@evil.txt"
    assert mail.to == ("support@desk.example",)


def test_from_with_raw_specials_inside_an_encoded_word_is_refused_not_guessed():
    raw = (
        b"From: =?UTF-8?Q?Evil=0D=0ABcc:_victim@evil.example?= <attacker@evil.example>\r\n"
        b"Subject: x\r\n\r\nbody\r\n"
    )
    mail = parse(raw)
    # The addr-spec of the raw header is the sender; the name is decoded apart (finding 6).
    assert mail.from_addr == "attacker@evil.example"
    assert mail.from_name == "Evil Bcc: victim@evil.example"


@pytest.mark.parametrize(
    ("from_value", "address", "defect"),
    [
        ("Ivan <ivan@x.example> <other@y.example>", "", "from-unparseable"),
        ("a@x.example, b@y.example", "a@x.example", "from-several-mailboxes"),
        ('"Petrov, Ivan" <Ivan@X.Example>', "ivan@x.example", None),
        ("ivan@x.example (Ivan Petrov)", "ivan@x.example", None),
        ("undisclosed-recipients:;", "", "from-unparseable"),
    ],
)
def test_from_header_is_parsed_strictly(from_value, address, defect):
    mail = parse(f"From: {from_value}\r\nSubject: s\r\n\r\nb\r\n".encode())
    assert mail.from_addr == address
    if defect:
        assert defect in mail.defects


def test_two_from_headers_are_counted():
    mail = parse(load_sample("two-from-headers.eml"))
    assert mail.from_header_count == 2
    assert mail.from_addr == "manager@desk.example"
    assert "from-repeated" in mail.defects


def test_missing_message_id():
    mail = parse(load_sample("no-message-id.eml"))
    assert mail.message_id is None
    assert "message-id-missing" in mail.defects
    assert mail.date == datetime(2026, 11, 27, 12, 50, tzinfo=MSK)


def test_unknown_and_undefined_charsets_decode_with_replacement():
    mail = parse(load_sample("unknown-charset.eml"))
    assert mail.text == "\ufffd" * 5 + " " + "\ufffd" * 8 + " " + "\ufffd" * 6
    assert mail.subject.endswith("Заказ")
    assert "charset-unknown" in mail.defects
    assert mail.attachments[0].payload == "Нужна доставка цветов".encode("cp1251")


def test_mislabelled_8bit_headers_and_body():
    mail = parse(load_sample("mislabelled-8bit.eml"))
    assert mail.subject == "\ufffd" * 6
    assert mail.from_name == "\ufffd" * 4
    assert mail.from_addr == "olegm@example.ru"
    assert "\ufffd" in mail.text


def test_hostile_attachment_names_are_sanitized_for_display():
    mail = parse(load_sample("attachment-hostile-names.eml"))
    assert [a.filename for a in mail.attachments] == [
        "passwd",
        "_con.txt",
        "evil .exe",
        "htaccess",
        "attachment-5.bin",
    ]
    assert mail.attachments[0].payload == b"root:x:0:0"
    assert mail.text == "See attached."


def test_inline_image_with_content_id():
    mail = parse(load_sample("apple-mail-inline-image.eml"))
    (image,) = mail.attachments
    assert (image.filename, image.content_type, image.inline) == ("sofa.jpg", "image/jpeg", True)
    assert image.content_id == "F00D@icloud.example"
    assert image.payload.startswith(b"\xff\xd8")
    assert "cid:F00D@icloud.example" in mail.html
    assert "Budget up to 90 000 ₽." in mail.text


def test_attached_message_is_an_attachment_not_body():
    mail = parse(load_sample("forward-as-attachment.eml"))
    (eml,) = mail.attachments
    assert (eml.filename, eml.content_type) == ("Booking confirmation.eml", "message/rfc822")
    assert b"Your booking 77 is confirmed." in eml.payload
    assert "booking 77" not in mail.text


def test_dsn_parts_are_kept_as_attachments():
    mail = parse(load_sample("dsn-bounce-postfix.eml"))
    types = [a.content_type for a in mail.attachments]
    assert types == ["message/delivery-status", "message/rfc822"]
    assert b"Status: 5.1.1" in mail.attachments[0].payload
    assert b"oa-1061-ack.1@desk.example" in mail.attachments[1].payload
    assert "could not\nbe delivered" in mail.text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Fri, 27 Nov 2026 10:00:00 -0000", datetime(2026, 11, 27, 10, 0, tzinfo=UTC)),
        ("27 Nov 2026 10:00 +0300", datetime(2026, 11, 27, 7, 0, tzinfo=UTC)),
        ("yesterday at noon", None),
        ("Fri, 99 Nov 2026 10:00:00 +0000", None),
        ("", None),
    ],
)
def test_dates_are_aware_or_none(value, expected):
    mail = parse(f"From: a@b.example\r\nDate: {value}\r\n\r\nx".encode())
    assert mail.date == expected
    if mail.date is not None:
        assert mail.date.tzinfo is not None


def test_thread_ids_without_brackets_and_duplicates():
    raw = (
        b"From: a@b.example\r\nMessage-ID:   <id1@x.example>  \r\n"
        b"In-Reply-To: id2@x.example\r\n"
        b"References: <id0@x.example>\r\n <id2@x.example> <id2@x.example>\r\n\r\nx"
    )
    mail = parse(raw)
    assert mail.message_id == "id1@x.example"
    assert mail.in_reply_to == ("id2@x.example",)
    assert mail.references == ("id0@x.example", "id2@x.example")


def test_empty_message_id_header_is_none():
    assert parse(b"From: a@b.example\r\nMessage-ID: \r\n\r\nx").message_id is None
    assert parse(b"From: a@b.example\r\nMessage-ID: <>\r\n\r\nx").message_id is None


def test_lying_multipart_body_is_kept_as_text():
    raw = b"From: a@b.example\r\nContent-Type: multipart/mixed; boundary=nowhere\r\n\r\nplain words\r\n"
    mail = parse(raw)
    assert "plain words" in mail.text
    assert "lying-multipart" in mail.defects


def test_bare_body_text_and_html_nul_bytes_are_replaced():
    mail = parse(b"From: a@b.example\r\nContent-Type: text/plain; charset=utf-8\r\n\r\na\x00b\r\n")
    assert mail.text == "a\ufffdb\n"


@pytest.mark.parametrize("raw", [b"", b"   \r\n", b"\r\n\r\n\t"])
def test_empty_input_is_quarantined(raw):
    with pytest.raises(QuarantineError):
        parse(raw)


def test_non_bytes_input_is_quarantined():
    with pytest.raises(QuarantineError):
        parse("From: a@b\r\n\r\nx")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "index", "content_type", "expected"),
    [
        ("../../etc/passwd", 1, "", "passwd"),
        ("C:\\Users\\x\\evil.exe", 1, "", "evil.exe"),
        ("con", 1, "", "_con"),
        ("LPT1.txt", 1, "", "_LPT1.txt"),
        ("console.txt", 1, "", "console.txt"),
        (".htaccess", 1, "", "htaccess"),
        ("..", 3, "", "attachment-3.bin"),
        ("", 2, "image/png", "attachment-2.png"),
        (None, 4, "application/x-unknown", "attachment-4.bin"),
        ("a\r\nb\x00c.txt", 1, "", "a b c.txt"),
        ('what?<>|*"x:.txt', 1, "", "what______x_.txt"),
        ("=?utf-8?B?0KHRh9GR0YIucGRm?=", 1, "", "Счёт.pdf"),
        ("trailing dots. . .", 1, "", "trailing dots"),
        ("invoice\u202efdp.exe", 1, "", "invoice fdp.exe"),
    ],
)
def test_display_filename(name, index, content_type, expected):
    assert display_filename(name, index, content_type) == expected


def test_display_filename_caps_length_and_keeps_extension():
    name = display_filename("я" * 500 + ".pdf", 1)
    assert len(name) <= 200 and name.endswith(".pdf")


# --------------------------------------------------- caps and bombs (docs/reliability.md case 31)


def nested_multipart(depth: int) -> bytes:
    parts = [b'From: a@b.example\r\nContent-Type: multipart/mixed; boundary="b0"\r\n\r\n']
    for i in range(1, depth):
        parts.append(b'--b%d\r\nContent-Type: multipart/mixed; boundary="b%d"\r\n\r\n' % (i - 1, i))
    parts.append(b"--b%d\r\nContent-Type: text/plain\r\n\r\ndeep\r\n" % (depth - 1))
    parts.extend(b"--b%d--\r\n" % i for i in range(depth - 1, -1, -1))
    return b"".join(parts)


def nested_messages(depth: int) -> bytes:
    wrapper = b"Content-Type: message/rfc822\r\n\r\n" * depth
    return b"From: a@b.example\r\n" + wrapper + b"Subject: inner\r\n\r\nbody\r\n"


def many_parts(count: int) -> bytes:
    part = b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n"
    return (
        b"From: a@b.example\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
        + part * count
        + b"--b--\r\n"
    )


BOMBS = {
    "multipart nested 2000 deep": nested_multipart(2000),
    "message/rfc822 nested 5000 deep": nested_messages(5000),
    "Content-Type with 32000 ';'": b"From: a@b.example\r\nContent-Type: text/plain"
    + b";" * 32000
    + b"\r\n\r\nx",
    "Content-Disposition with 200 params": (
        b"From: a@b.example\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
        b"Content-Disposition: attachment" + b"; a=b" * 200 + b"\r\n\r\nx\r\n--b--\r\n"
    ),
    "To with 32000 addresses": b"From: a@b.example\r\nTo: "
    + b", ".join(b"user%d@example.com" % i for i in range(32000))
    + b"\r\n\r\nx",
    "60 MB message": b"From: a@b.example\r\n\r\n" + b"x" * (60 * 1024 * 1024),
    "100000 MIME parts": many_parts(100_000),
    "250 KB of short headers": b"".join(b"X-H%d: v\r\n" % i for i in range(12000)) + b"\r\nx",
}


@pytest.mark.parametrize("name", list(BOMBS))
def test_bombs_are_quarantined_or_handled_within_two_seconds(name):
    raw = BOMBS[name]
    started = time.process_time()
    try:
        result = parse(raw)
    except QuarantineError as exc:
        result = exc
    assert time.process_time() - started < 2.0
    assert isinstance(result, InboundMail | QuarantineError)


@pytest.mark.parametrize(
    "name",
    [
        "multipart nested 2000 deep",
        "message/rfc822 nested 5000 deep",
        "Content-Type with 32000 ';'",
        "To with 32000 addresses",
        "60 MB message",
        "100000 MIME parts",
    ],
)
def test_the_measured_bombs_are_refused_with_a_reason(name):
    with pytest.raises(QuarantineError) as caught:
        parse(BOMBS[name])
    assert str(caught.value)


def test_8000_recipients_under_the_header_cap_are_cut_not_stalled():
    to = b", ".join(b"u%d@example.com" % i for i in range(8000))
    started = time.process_time()
    mail = parse(b"From: a@b.example\r\nTo: " + to + b"\r\n\r\nx")
    assert time.process_time() - started < 2.0
    assert len(mail.to) == 1000


def test_depth_is_measured_not_guessed():
    assert parse(nested_multipart(25)).text.strip() == "deep"
    with pytest.raises(QuarantineError, match="nesting"):
        parse(nested_multipart(31))
    with pytest.raises(QuarantineError, match="nesting"):
        parse(nested_messages(31))
    # Forty attached messages side by side are wide, not deep.
    attached = b"--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: m\r\n\r\nbody\r\n" * 40
    wide = (
        b"From: a@b.example\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
        + attached
        + b"--b--\r\n"
    )
    assert len(parse(wide).attachments) == 40


def test_caps_are_parameters():
    raw = load_sample("rfc2231-cyrillic-filename.eml")
    with pytest.raises(QuarantineError, match="bytes"):
        parse(raw, max_bytes=100)
    with pytest.raises(QuarantineError, match="parts"):
        parse(raw, max_parts=2)
    with pytest.raises(QuarantineError, match="header block"):
        parse(raw, max_header_bytes=64)
    with pytest.raises(QuarantineError, match="nesting"):
        parse(load_sample("gmail-ndr.eml"), max_depth=2)


def test_parser_failure_beyond_the_caps_becomes_quarantine():
    # With the depth cap lifted, the stdlib parser itself hits RecursionError.
    with pytest.raises(QuarantineError):
        parse(nested_multipart(1200), max_depth=10_000, max_parts=10_000, max_header_bytes=1 << 30)


def test_disposition_with_only_parameters_still_names_the_file():
    raw = (
        b"From: a@b.example\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
        b"--b\r\nContent-Type: text/plain\r\n\r\nbody\r\n"
        b"--b\r\nContent-Type: text/plain\r\nContent-Disposition: filename=notes.txt\r\n\r\nnotes\r\n"
        b"--b--\r\n"
    )
    mail = parse(raw)
    assert mail.text == "body"
    assert [a.filename for a in mail.attachments] == ["notes.txt"]


@pytest.mark.parametrize(
    "value",
    [" " * 4000 + "x", "a" + " " * 4000 + "x", '"' * 4000, "(" * 4000, "a@" * 2000, "<a@b> " * 600],
)
def test_hostile_from_values_cost_little(value):
    # A From of 4,000 spaces once took 57 s in a backtracking regex.
    started = time.process_time()
    mail = parse(f"From: {value}\r\nSubject: x\r\n\r\nbody".encode())
    assert time.process_time() - started < 0.5
    assert mail.from_addr == ""


@pytest.mark.parametrize(
    "raw",
    [
        # eml_parser#76: an encoded word that decodes to a bare newline.
        b"From: =?utf-8?q?=0A?= <a@b.example>\r\nTo: =?utf-8?q?=0A?=\r\nSubject: =?utf-8?q?=0A?=\r\n\r\nx",
        # mail-parser#139: a header literally named "headers" (and friends).
        b"From: a@b.example\r\nheaders: x\r\nParse: y\r\nDefects: z\r\nSubject: s\r\n\r\nbody",
        # mailsuite#61: bytes that are not mail at all (an Outlook .msg OLE header).
        bytes.fromhex("d0cf11e0a1b11ae1") + bytes(range(256)) * 8,
        b"\x89PNG\r\n\x1a\n" + bytes(600),
    ],
    ids=["eml_parser-76", "mail-parser-139", "mailsuite-61-ole", "png"],
)
def test_peer_samples_from_reliability_30(raw):
    try:
        mail = parse(raw)
    except QuarantineError:
        return
    assert "\n" not in mail.subject and "\n" not in mail.from_name
    assert all("\n" not in v for _, v in mail.headers)
    assert mail.sha256 == hashlib.sha256(raw).hexdigest()
