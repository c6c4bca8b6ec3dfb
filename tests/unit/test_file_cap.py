"""docs/reliability.md case 40: no mail the desk sends carries more than the configured number of files."""

from __future__ import annotations

import hashlib

from daemon.render.compose import cap_files
from parsers.mail import Attachment


def files(count: int) -> tuple[Attachment, ...]:
    return tuple(Attachment(filename=f"f{i}.bin", content_type="application/octet-stream",
                            size=2048 * i, sha256=hashlib.sha256(b"%d" % i).hexdigest(),
                            payload=b"x") for i in range(count))


def test_under_the_cap_nothing_changes():
    assert cap_files("text", None, files(3), 3, "ru") == ("text", None, files(3))


def test_over_the_cap_the_rest_are_listed_by_name_and_size():
    text, html, kept = cap_files("Текст\n", "<p>Текст</p>", files(25), 20, "en")
    assert kept == files(20)
    assert text.startswith("Текст\n\n5 more file(s)")
    assert text.rstrip().endswith("- f24.bin (48.0 KB)")
    assert "f19.bin" not in text and "<li>f20.bin (40.0 KB)</li>" in html


def test_listed_names_are_escaped_in_html_and_kept_on_one_line():
    (odd,) = (Attachment(filename="<b>x\r\ny.pdf", content_type="application/pdf", size=5,
                         sha256="0" * 64, payload=b"x"),)
    text, html, kept = cap_files("t", "<p>t</p>", (odd, odd), 1, "ru")
    assert len(kept) == 1 and "Ещё 1 файл(ов)" in text
    assert "&lt;b&gt;" in html and "\r" not in text.split("\n")[-2]
