"""Pieces the fault tests share: the daemon's loops in threads, extra config, waiting.

`running_service()` runs the real runner loops of `oneassist run` (daemon/runners/loops.py:
fetch with IMAP IDLE, one ingest worker, the outbox sender) on threads of the test process,
each with a link of its own that has no master (as a runner started by hand): the same
code as the runner processes, with the store, Dovecot and the SMTP sink real, and their
log lines in the test's caplog.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from daemon.clock import SystemClock
from daemon.config import Settings, load
from daemon.runners import loops
from daemon.runners.link import Link
from store.db import close_db, init_db
from tests.integration.deskrig import DeskRig


def reconfigure(desk: DeskRig, section: str, lines: str) -> Settings:
    """Set `lines` (key = value) at the top of [section] of the desk's config (a key set
    before, anywhere, is removed first); reload and rebind the store."""
    import re

    text = desk.config_path.read_text(encoding="utf-8")
    for line in lines.strip().splitlines():
        key = line.split("=", 1)[0].strip()
        text = re.sub(rf"(?m)^{re.escape(key)} = .*\n", "", text)  # a key given again replaces the old
    header = f"[{section}]\n"
    text = text.replace(header, header + lines.strip() + "\n", 1) if header in text \
        else text + f"\n{header}{lines.strip()}\n"
    desk.config_path.write_text(text, encoding="utf-8")
    close_db()
    desk.settings = load(desk.config_path)
    init_db(desk.settings.store_url, desk.settings.store_lock_wait_seconds)
    return desk.settings


@contextlib.contextmanager
def running_service(settings: Settings) -> Iterator[list[Link]]:
    clock = SystemClock()
    links = [Link(None) for _ in range(3)]
    threads = [threading.Thread(target=loops.fetch, args=(settings, clock, links[0]), name="fetch", daemon=True),
               threading.Thread(target=loops.ingest, args=(settings, clock, links[1], 1), name="ingest",
                                daemon=True),
               threading.Thread(target=loops.outbox, args=(settings, clock, links[2]), name="outbox", daemon=True)]
    for thread in threads:
        thread.start()
    try:
        yield links
    finally:
        for link in links:
            link.stop()
        for thread in threads:
            thread.join(timeout=30)


def wait_until(condition: Callable[[], Any], timeout: float, what: str, every: float = 0.2) -> Any:
    """Poll until condition() is truthy; its value, or AssertionError naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:.0f} s for {what}")
        time.sleep(every)


def mail_with_file(sender: str, to: str, size: int, filename: str = "scan.bin", seed: int = 0) -> bytes:
    """A client mail with one file of `size` random bytes (base64: the mail is ~4/3 of that)."""
    import random
    from email.mime.application import MIMEApplication
    from email.mime.multipart import MIMEMultipart
    from email.mime.text import MIMEText
    from email.utils import make_msgid

    mail = MIMEMultipart("mixed")
    mail["From"], mail["To"], mail["Subject"] = sender, to, f"Scan {seed}"
    mail["Message-ID"] = make_msgid(domain="example.test")
    mail.attach(MIMEText("Во вложении", "plain", "utf-8"))
    part = MIMEApplication(random.Random(seed).randbytes(size), "octet-stream")
    part.add_header("Content-Disposition", "attachment", filename=filename)
    mail.attach(part)
    return mail.as_bytes()
