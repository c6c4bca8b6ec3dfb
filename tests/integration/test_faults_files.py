"""Hostile files (docs/reliability.md case 27): a 42 KB zip bomb, `../../etc/passwd`, `con`,
NUL and RTL-override names, a 300-character name, a declared type that lies.

Must hold: every file is stored and relayed under a safe name, byte for byte (never
unpacked), nothing is written outside the store, and the sender's own name is shown
escaped next to the safe one in the manager's notice.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import make_msgid
from pathlib import Path

from store.models import AttachmentMeta, Message, Outbox, SpoolEntry
from tests.integration.deskrig import ROOT


def _zip_bomb() -> bytes:
    """~42 KB of zip that unpacks to 42 MB of zeros."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("0.bin", bytes(42 * 1024 * 1024))
    return buffer.getvalue()


def _hostile_mail(sender: str, to: str) -> tuple[bytes, list[tuple[str, bytes]]]:
    files = [
        ("bomb.zip", "application/zip", _zip_bomb()),
        ("../../etc/passwd", "text/plain", b"root:x:0:0:root:/root:/bin/bash\n"),
        ("con", "application/octet-stream", b"device name"),
        ("report\x00.pdf", "application/pdf", b"%PDF-1.4 nul"),
        ("invoice\u202efdp.exe", "application/pdf", b"MZ\x90\x00 an executable, not a pdf"),
        ("д" * 300 + ".docx", "application/msword", b"long"),
        ("photo.jpg", "image/jpeg", b"PK\x03\x04 a zip that says it is a jpeg"),
    ]
    mail = MIMEMultipart("mixed")
    mail["From"], mail["To"], mail["Subject"] = sender, to, "Files"
    mail["Message-ID"] = make_msgid(domain="example.test")
    mail.attach(MIMEText("Файлы во вложении", "plain", "utf-8"))
    for name, ctype, data in files:
        part = MIMEApplication(data, ctype.split("/")[1])
        part.replace_header("Content-Type", ctype)
        if name.isascii() and "\x00" not in name:
            part.add_header("Content-Disposition", "attachment", filename=name)
        else:
            part.add_header("Content-Disposition", "attachment", filename=("utf-8", "", name))
        mail.attach(part)
    return mail.as_bytes(), [(name, data) for name, _, data in files]


def _tree(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")} if folder.exists() else set()


def test_hostile_files_are_kept_and_relayed_under_safe_names_never_unpacked(desk, tmp_path):
    client = desk.add_client()
    raw, files = _hostile_mail(client, desk.support)
    desk.deliver(raw)
    before = {"tmp": _tree(tmp_path), "root": _tree(ROOT / "etc"), "cwd": set(os.listdir(ROOT))}
    done = desk.run_process("run", "--once")
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    # Nothing written outside the store: no new file beside the store, none under the repo.
    new_files = _tree(tmp_path) - before["tmp"]
    assert all(name.startswith(("desk.db", "data")) for name in new_files), new_files
    assert _tree(ROOT / "etc") == before["root"] and set(os.listdir(ROOT)) == before["cwd"]
    assert not Path("/etc/passwd").read_bytes().startswith(b"root:x:0:0:root:/root:/bin/bash\nroot")
    (entry,) = SpoolEntry.select()
    assert entry.state == "done"
    message = Message.get(Message.direction == "in")
    stored = {a.sha256: a for a in AttachmentMeta.select().where(AttachmentMeta.message == message.id)}
    assert len(stored) == len(files)
    for _name, data in files:
        meta = stored[hashlib.sha256(data).hexdigest()]
        assert meta.size == len(data), "stored unpacked or altered"
        assert "/" not in meta.filename and "\\" not in meta.filename and "\x00" not in meta.filename
        assert "\u202e" not in meta.filename and len(meta.filename) <= 200
        assert meta.filename.split(".")[0].lower() not in ("con", "")
    # The manager's notice: the same bytes under the same safe names, the originals escaped.
    # (A 300-character Cyrillic name once made a 1,200-character header line: the relay refused it.)
    assert [o.status for o in Outbox.select()] == ["sent", "sent"]
    notice = desk.inbox(desk.manager)[-1]
    relayed = {part.get_filename(): part.get_content() for part in notice.iter_attachments()}
    assert {hashlib.sha256(v).hexdigest() for v in relayed.values()} == set(stored)
    assert set(relayed) == {m.filename for m in stored.values()}
    text = notice.get_body(("plain",)).get_content()
    assert '"../../etc/passwd"' in text
    assert "invoice\\u202efdp.exe" in text and "\u202e" not in text
    assert "report\\u0000.pdf" in text and "\x00" not in text
    assert "…" in text  # the 300-character name, cut for display
