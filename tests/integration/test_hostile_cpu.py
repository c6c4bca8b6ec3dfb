"""docs/reliability.md cases 38-40 through Dovecot and SMTP: quadratic text, poison mail that kills,
line ends and file counts the caps must see."""

from __future__ import annotations

import signal
import time
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr, make_msgid

from store.models import AttachmentMeta, SpoolEntry, Ticket
from tests.integration.deskrig import client_mail, parse_mail

KILLED = -signal.SIGKILL


def html_only(sender: str, to: str, markup: str) -> bytes:
    """A text/html part alone, as a stranger's mail program (or a script) sends it."""
    return (f"From: {sender}\r\nTo: {to}\r\nSubject: hello\r\nMessage-ID: {make_msgid()}\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\n").encode() + markup.encode()


def set_limits(desk, **values: float) -> None:
    lines = "".join(f"{key} = {value}\n" for key, value in values.items())
    desk.config_path.write_text(desk.config_path.read_text() + f"\n[limits]\n{lines}")


def acked(desk, client: str, raw: bytes) -> bool:
    mid = parse_mail(raw)["Message-ID"]
    return any(str(m["In-Reply-To"]) == mid for m in desk.inbox(client))


def test_hostile_html_does_not_delay_the_next_clients_ack(desk):
    """Case 38: 60 KB of line breaks and 600 KB of `<` (html2text: 62 s and > 30 s) before a
    client's task: the whole `run --once` stays under 10 s and the client is acknowledged."""
    stranger = desk.new_user("stranger")
    client = desk.add_client()
    desk.deliver(html_only(stranger, desk.support, "<p>x</p>" + "\n" * 60_000))
    desk.deliver(html_only(stranger, desk.support, "<" * 600_000))
    task = client_mail(client, desk.support, "Билеты", "Два билета на субботу")
    desk.deliver(task)
    started = time.monotonic()
    done = desk.run_process("run", "--once", timeout=60)
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert elapsed < 10, elapsed
    assert acked(desk, client, task)
    assert SpoolEntry.select().where(SpoolEntry.state == "quarantined").count() == 0


def test_mail_over_its_cpu_budget_is_quarantined_with_one_alert(desk):
    """Case 38: a stage over limits.stage_cpu_seconds quarantines the mail and alerts the
    admins; nothing of it is applied and the next client is acknowledged."""
    set_limits(desk, stage_cpu_seconds=0.2)
    stranger = desk.new_user("stranger")
    client = desk.add_client()
    desk.deliver(html_only(stranger, desk.support, "<td>" * 2_000_000))
    task = client_mail(client, desk.support, "Билеты", "Два билета на субботу")
    desk.deliver(task)
    done = desk.run_process("run", "--once", timeout=60)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    (bad,) = SpoolEntry.select().where(SpoolEntry.state == "quarantined")
    assert "parse used" in bad.error and "budget" in bad.error
    alerts = desk.inbox(desk.admin)
    assert len(alerts) == 1 and f"#{bad.id}" in alerts[0]["Subject"]
    assert desk.inbox(stranger) == []
    assert acked(desk, client, task)
    assert Ticket.select().count() == 1


def test_mail_that_kills_the_process_is_quarantined_after_three_starts(desk, monkeypatch):
    """Case 39: the process dies (SIGKILL, as OOM or the watchdog) on one mail of four; it
    dies three times, then the mail is quarantined with one alert and the others acked."""
    client = desk.add_client()
    tasks = []
    for i in range(4):
        extra = {"X-Test": "KILL-MARK"} if i == 1 else {}
        raw = client_mail(client, desk.support, f"Задача {i}", "Текст", extra=extra)
        desk.deliver(raw)
        tasks.append(raw)
    monkeypatch.setenv("ONEASSIST_KILL_ON", "route:KILL-MARK")
    codes = [desk.run_process("run", "--once").returncode for _ in range(4)]
    assert codes == [KILLED, KILLED, KILLED, 0]
    (bad,) = SpoolEntry.select().where(SpoolEntry.state == "quarantined")
    assert bad.attempts == 3 and "died or stalled" in bad.error
    alerts = desk.inbox(desk.admin)
    assert len(alerts) == 1 and f"#{bad.id}" in alerts[0]["Subject"]
    assert [acked(desk, client, raw) for raw in tasks] == [True, False, True, True]
    assert desk.run_process("run", "--once").returncode == 0
    assert len(desk.inbox(desk.admin)) == 1
    assert desk.intake_left() == []


def test_client_files_over_the_cap_reach_the_manager_listed(desk):
    """Case 40: 23 files from a client: the manager's notice carries 20 (the default of
    limits.max_files_per_mail), lists the other 3 by name and size; the store keeps 23."""
    client = desk.add_client()
    msg = MIMEMultipart("mixed")
    msg.attach(MIMEText("Документы по поездке", "plain", "utf-8"))
    for i in range(23):
        part = MIMEApplication(b"%PDF-1.4 " + bytes([i]) * (100 + i), "pdf")
        part.add_header("Content-Disposition", "attachment", filename=f"doc-{i:02d}.pdf")
        msg.attach(part)
    msg["From"] = formataddr(("Иван Петров", client), charset="utf-8")
    msg["To"] = desk.support
    msg["Subject"] = "Документы"
    msg["Message-ID"] = make_msgid()
    desk.deliver(msg.as_bytes())
    desk.run_once()
    notice = desk.latest(desk.manager)
    files = [p.get_filename() for p in notice.iter_attachments()]
    assert files == [f"doc-{i:02d}.pdf" for i in range(20)]
    text = notice.get_body(("plain",)).get_content()
    for i in range(20, 23):
        assert f"doc-{i}.pdf ({109 + i} B)" in text
    assert "doc-19.pdf (" not in text
    assert AttachmentMeta.select().count() == 23
