"""`oneassist status` and systemd's STATUS= through the real path: Dovecot, the SMTP sink, a store
file, and the verdict read back by a process that did none of the work (issue 13)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from daemon.cli import main
from daemon.clock import FrozenClock
from daemon.service import Service
from tests.integration.deskrig import ROOT, client_mail


def status(desk, capsys, clock=None) -> tuple[int, dict]:
    capsys.readouterr()
    code = main(["--config", str(desk.config_path), "status", "--json"], clock=clock)
    return code, json.loads(capsys.readouterr().out)


def test_status_follows_the_desk_through_fetch_send_and_silence(desk, capsys):
    code, doc = status(desk, capsys)
    assert code == 1 and doc["state"] == "WARNING"
    assert "no fetch recorded yet" in doc["line"]

    client = desk.add_client()
    desk.new_task(client)
    code, doc = status(desk, capsys)
    assert (code, doc["state"]) == (0, "OK"), doc["line"]
    assert doc["values"]["outbox"]["sent"] >= 2 and doc["values"]["spool_pending"] == 0
    assert doc["values"]["imap_up"] is True

    # Nobody fetched for 40 minutes: the daemon is down as far as anyone can tell.
    later = FrozenClock(datetime.now(UTC) + timedelta(minutes=40))
    code, doc = status(desk, capsys, later)
    assert code == 2 and doc["line"].startswith("CRITICAL: last fetch 40m ago")

    # People read the same verdict as a table.
    capsys.readouterr()
    assert main(["--config", str(desk.config_path), "status"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("OK: fetch ") and "CHECK" in out and "outbox" in out


def test_unsent_replies_and_a_dead_smtp_server_show_in_status(desk, capsys):
    client = desk.add_client()
    with socket.socket() as probe:  # a port nobody listens on: every send fails, and is retried
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    settings = replace(desk.settings, smtp=replace(desk.settings.smtp, port=dead_port))
    desk.deliver(client_mail(client, desk.support, "Задача", "Текст"))
    Service(settings).run_once()
    clock = FrozenClock(datetime.now(UTC) + timedelta(minutes=4))
    code, doc = status(desk, capsys, clock)
    outbox = next(c for c in doc["checks"] if c["name"] == "outbox")
    assert outbox["state"] == "OK" and "waiting" in outbox["text"]
    clock.advance(minutes=20)
    code, doc = status(desk, capsys, clock)
    outbox = next(c for c in doc["checks"] if c["name"] == "outbox")
    assert outbox["state"] == "WARNING" and outbox["text"].startswith("oldest unsent 2")
    assert code >= 1


def test_a_store_that_does_not_answer_is_critical(desk, capsys, tmp_path):
    broken = tmp_path / "broken.toml"
    text = desk.config_path.read_text().replace(f"sqlite:///{desk.tmp / 'desk.db'}",
                                                f"sqlite:///{tmp_path / 'not-a-db'}")
    (tmp_path / "not-a-db").write_bytes(b"this is not a SQLite database, it is a text file" * 100)
    broken.write_text(text)
    broken.chmod(0o600)
    capsys.readouterr()
    assert main(["--config", str(broken), "status"]) == 2
    assert capsys.readouterr().out.startswith("CRITICAL: store: ")


def test_the_daemon_tells_systemd_the_same_line(desk, tmp_path):
    client = desk.add_client()
    desk.new_task(client)  # a fetch on record, so the first STATUS= can already be OK
    path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        sock.settimeout(1.0)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "NOTIFY_SOCKET": path}
        proc = subprocess.Popen([sys.executable, "-m", "daemon", "--config", str(desk.config_path), "run"],
                                cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        lines: list[str] = []
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not any(s.startswith("STATUS=OK: fetch") for s in lines):
                try:
                    lines += sock.recv(4096).decode().split("\n")
                except TimeoutError:
                    continue
        finally:
            proc.terminate()
            proc.communicate(timeout=20)
    statuses = [s for s in lines if s.startswith("STATUS=")]
    assert any(s.startswith("STATUS=OK: fetch") and "breaches today 0" in s for s in statuses), statuses
