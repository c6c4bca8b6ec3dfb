"""`client export` and `client erase` through the real path (152-FZ, issue 13).

A client writes in (a task with an attachment), their manager answers, an invoice is issued,
and a second client writes too. After `client erase` run by its own process while the daemon
runs, the store's files (SQLite with its -wal and -shm, or a pg_dump of PostgreSQL, where
raw mail is bytea and so also searched for in hex) hold neither the client's address, nor
their name, nor a phrase of their mail; the other client's data and the invoice remain.
Before the erase the same search finds all three, so the test can fail.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import pytest

from daemon.config import load
from store.db import close_db, init_db
from tests.integration.deskrig import ROOT, client_mail
from tests.pgstore import fresh_database

NAME = "Zinaida Quillfeather"
PHRASE = "marmalade octopus 4411"


def task_mail(sender: str, to: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"{NAME} <{sender}>"
    msg["To"] = to
    msg["Subject"] = "Plan for the trip"
    msg["Message-ID"] = make_msgid(domain="example.test")
    msg.set_content(f"Please book it all: {PHRASE}. Thanks!\n", charset="us-ascii")
    msg.add_attachment(f"notes: {PHRASE}\n".encode(), maintype="text", subtype="plain",
                       filename="octopus-4411.txt")
    return msg.as_bytes()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request, desk):
    if request.param == "sqlite":
        yield "sqlite", None
        return
    # tests/pgstore.py: fails loudly under CI when PostgreSQL cannot be reached, drops the database after.
    with fresh_database("oa_ops") as url:
        name = url.rsplit("/", 1)[1]
        yield from _on_postgresql(desk, url, name)


def _on_postgresql(desk, url: str, name: str):
    text = desk.config_path.read_text().replace(f'url = "sqlite:///{desk.tmp / "desk.db"}"', f'url = "{url}"')
    desk.config_path.write_text(text)
    desk.settings = load(desk.config_path)
    close_db()
    init_db(url)
    try:
        yield "postgresql", name
    finally:
        close_db()


def store_bytes(desk, backend) -> bytes:
    kind, name = backend
    if kind == "sqlite":
        db = desk.tmp / "desk.db"
        return b"".join(Path(f"{db}{s}").read_bytes() for s in ("", "-wal", "-shm") if Path(f"{db}{s}").exists())
    return subprocess.run(["pg_dump", "-h", "127.0.0.1", "-U", "postgres", name], check=True,
                          capture_output=True).stdout


def traces(blob: bytes, *values: str) -> list[str]:
    found = []
    for value in values:
        raw = value.encode()
        if raw in blob or raw.lower() in blob.lower() or raw.hex().encode() in blob:
            found.append(value)
    return found


def cli(desk, *args: str) -> subprocess.CompletedProcess:
    done = desk.run_process(*args)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    return done


def test_export_then_erase_leaves_no_trace(desk, backend, tmp_path):
    victim = desk.add_client("victim", name=NAME)
    other = desk.add_client("other", name="Boris Keeper")
    desk.deliver(task_mail(victim, desk.support))
    desk.run_once()
    notice = desk.latest(desk.manager)
    desk.answer(notice, desk.manager, "Booked, see you there")
    desk.deliver(client_mail(other, desk.support, "Other task", "Nothing to do with the first"))
    desk.run_once()
    cli(desk, "invoice", "issue", victim)
    close_db()  # the rig's own connection must not hold the WAL: the erase runs beside a daemon

    before = store_bytes(desk, backend)
    assert traces(before, victim, NAME, PHRASE) == [victim, NAME, PHRASE]

    out = tmp_path / "export.json"
    cli(desk, "client", "export", victim, "-o", str(out))
    assert out.stat().st_mode & 0o777 == 0o600
    exported = json.loads(out.read_text())
    assert exported["client"]["name"] == NAME and len(exported["tickets"]) == 1
    assert any(PHRASE.encode() in base64.b64decode(m["raw_base64"])
               for m in exported["mails_received"])
    assert exported["invoices"] and exported["mails_sent"]
    assert other not in out.read_text()

    # Without --yes and without a terminal, nothing happens.
    refused = desk.run_process("client", "erase", victim)
    assert refused.returncode == 2 and b"--yes" in refused.stderr

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    daemon = subprocess.Popen([sys.executable, "-m", "daemon", "--config", str(desk.config_path), "run"],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        done = cli(desk, "--json", "client", "erase", victim, "--yes")
        result = json.loads(done.stdout)
        assert result["files_scrubbed"] is True
        assert result["deleted"]["tickets"] == 1 and result["deleted"]["spool"] >= 2
        after = store_bytes(desk, backend)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.communicate(timeout=30)
    assert traces(after, victim, NAME, PHRASE, "octopus-4411") == []
    assert traces(after, other, "Boris Keeper") == [other, "Boris Keeper"]

    invoices = json.loads(cli(desk, "--json", "invoice", "list").stdout)
    assert len(invoices) == 1 and invoices[0]["client"].endswith("@erased.invalid")
    gone = desk.run_process("client", "show", victim)
    assert gone.returncode == 2
