"""Outgoing mail as a client's program reads it: headers intact, no injection, files exact."""

from datetime import UTC, datetime
from email import message_from_bytes, policy

from daemon.render.compose import Identity, build_message
from parsers.mail import Attachment

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def roundtrip(**kw):
    args = {"identity": Identity("Анна Петрова — OneAssist", "support@desk.test", "support+oa-1.x@desk.test"),
            "to": ("ivan@client.test",), "subject": "Тема", "text": "Текст", "html": None,
            "message_id": "oneassist.1@desk.test", "date": NOW, "loop_id": "support@desk.test"}
    args.update(kw)
    raw = build_message(**args)
    return raw, message_from_bytes(raw, policy=policy.default)


def test_long_cyrillic_subject_and_name_survive_folding():
    subject = "[OA-1042] Забронируйте, пожалуйста, столик на двоих на пятницу в ресторане у набережной, 19:00"
    raw, mail = roundtrip(subject=subject)
    assert str(mail["Subject"]) == subject
    assert mail["From"].addresses[0].display_name == "Анна Петрова — OneAssist"
    assert mail["From"].addresses[0].addr_spec == "support@desk.test"
    assert all(len(line) <= 998 for line in raw.split(b"\n"))


def test_newlines_never_make_a_header():
    raw, mail = roundtrip(subject="Hello\nBcc: victim@evil.test", identity=Identity("x\r\nBcc: a@b", "support@desk.test"))
    head = raw.split(b"\n\n", 1)[0]
    assert b"\nBcc:" not in head and mail["Bcc"] is None
    assert "victim@evil.test" in str(mail["Subject"])


def test_attachments_keep_names_and_bytes():
    payload = bytes(range(256)) * 10
    att = Attachment("Счёт № 5.pdf", "application/pdf", len(payload), "", payload)
    txt = Attachment("notes.txt", "text/plain", 5, "", b"a\r\nb\n")
    _, mail = roundtrip(html="<p>Текст</p>", attachments=(att, txt))
    parts = list(mail.iter_attachments())
    assert [p.get_filename() for p in parts] == ["Счёт № 5.pdf", "notes.txt"]
    assert parts[0].get_content() == payload and parts[1].get_content() == b"a\r\nb\n"
    assert mail.get_body(("html",)).get_content().strip() == "<p>Текст</p>"
    assert mail["Auto-Submitted"] == "auto-replied" and mail["X-Loop"] == "support@desk.test"


def test_long_ascii_headers_fold_and_non_ascii_ones_are_encoded_not_fatal():
    refs = tuple(f"{i}.abcdefabcdef.reference@client.example" for i in range(10))
    raw, mail = roundtrip(references=refs, in_reply_to=refs[-1], to=("иван@почта.рф",))
    head = raw.split(b"\n\n", 1)[0].decode("ascii")
    assert all(len(line) <= 78 for line in head.splitlines() if not line.startswith(("Subject", " =?")))
    assert mail["References"].split() == [f"<{r}>" for r in refs]
    assert "иван@почта.рф" in str(mail["To"])
