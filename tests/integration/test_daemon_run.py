"""The long-running daemon: IDLE push, poll fallback, clean stop, and the CLI around it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from store import spool
from tests.integration.deskrig import ROOT, client_mail, parse_mail


def start_daemon(desk) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("ONEASSIST_CRASH_AT", None)
    proc = subprocess.Popen([sys.executable, "-m", "daemon", "--config", str(desk.config_path), "run"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return proc


def stop_daemon(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        pytest.fail("daemon did not stop within 15 s of SIGTERM")
    assert proc.returncode == 0, err.decode()[-3000:]
    return err.decode()


@pytest.mark.parametrize("idle", [True, False], ids=["idle", "poll"])
def test_running_daemon_acknowledges_within_seconds(desk, idle):
    desk.config_path.write_text(desk.config_path.read_text()
                                .replace("idle = true", f"idle = {'true' if idle else 'false'}")
                                .replace("poll_seconds = 30", "poll_seconds = 0.5"))
    client = desk.add_client()
    proc = start_daemon(desk)
    try:
        time.sleep(0.5)  # let it connect and enter IDLE: the mail must arrive while it waits
        for n in range(3):
            raw = client_mail(client, desk.support, f"Задача {n}", "Текст")
            started = time.monotonic()
            desk.deliver(raw)
            mid = parse_mail(raw)["Message-ID"].encode()
            (ack,) = desk.sink.wait_for(lambda m, mid=mid: mid in m.raw and client in m.rcpt_tos, timeout=10)
            assert ack.at - started < 5.0  # typically 0.6 s; headroom for a loaded CI machine
    finally:
        log = stop_daemon(proc)
    # The log is one event per line and carries no mail content.
    assert "Задача" not in log and "Текст" not in log and client not in log
    assert "outcome=new-ticket" in log


def test_cli_lists_shows_and_exports(desk, tmp_path):
    client = desk.add_client(name="Мария Иванова")
    desk.deliver(client_mail(client, desk.support, "Визит к врачу", "Запишите к терапевту", name="Мария Иванова"))
    assert desk.run_process("run", "--once").returncode == 0

    listed = desk.run_process("--json", "ticket", "list")
    assert listed.returncode == 0
    (row,) = json.loads(listed.stdout)
    assert row["key"] == "OA-1" and row["client"] == client and row["messages"] == 1

    shown = desk.run_process("ticket", "show", "OA-1")
    text = shown.stdout.decode()
    assert shown.returncode == 0 and "Визит к врачу" in text and "client.notice.ack" in text and "sent" in text
    shown_json = json.loads(desk.run_process("ticket", "show", "OA-1", "--json").stdout)
    assert [m["direction"] for m in shown_json["messages"]] == ["in", "out", "out"]

    clients = json.loads(desk.run_process("--json", "client", "list").stdout)
    assert [c["email"] for c in clients] == [client] and clients[0]["tickets"] == 1

    outbox = json.loads(desk.run_process("outbox", "list", "--json").stdout)
    assert sorted((o["kind"], o["status"]) for o in outbox) == [("client.notice.ack", "sent"),
                                                                  ("staff.notice.ticket", "sent")]

    out = tmp_path / "export.json"
    assert desk.run_process("export", "-o", str(out)).returncode == 0
    document = json.loads(out.read_text())
    (ticket,) = document["tickets"]
    assert ticket["messages"][0]["raw_base64"] and ticket["messages"][0]["text"].startswith("Запишите")

    missing = desk.run_process("ticket", "show", "OA-99")
    assert missing.returncode == 2 and b"no ticket 'OA-99'" in missing.stderr


def test_client_add_errors_are_clear(desk):
    bad_tariff = desk.run_process("client", "add", "x@y.test", "--name", "X", "--tariff", "gold",
                                  "--manager", desk.manager)
    assert bad_tariff.returncode == 2 and b"unknown tariff 'gold'" in bad_tariff.stderr
    bad_manager = desk.run_process("client", "add", "x@y.test", "--name", "X", "--tariff", "basis",
                                   "--manager", "nobody@desk.test")
    assert bad_manager.returncode == 2 and b"is not a manager" in bad_manager.stderr
    ok = desk.run_process("client", "add", "x@y.test", "--name", "X", "--tariff", "basis",
                          "--manager", desk.manager, "--alias", "x2@y.test")
    assert ok.returncode == 0, ok.stderr
    again = desk.run_process("client", "add", "x2@y.test", "--name", "X", "--tariff", "basis",
                             "--manager", desk.manager)
    assert again.returncode == 2 and b"already registered" in again.stderr


def test_check_reports_each_server(desk):
    ok = desk.run_process("--json", "check")
    assert ok.returncode == 0, ok.stderr
    result = json.loads(ok.stdout)
    assert [c["name"] for c in result["checks"]] == ["config", "templates", "store", "imap", "smtp"]
    assert all(c["ok"] for c in result["checks"])
    # A wrong password: the check fails and names the key to look at.
    desk.config_path.write_text(desk.config_path.read_text().replace('password = "secret"', 'password = "wrong"'))
    bad = desk.run_process("check")
    assert bad.returncode == 1 and b"imap.username" in bad.stdout and b"imap.password" in bad.stdout
    # The server's words as a person reads them, not Python's bytes repr (issue 15).
    said = bad.stdout.decode() + bad.stderr.decode()
    assert "AUTHENTICATIONFAILED" in said and "b'" not in said and 'b"' not in said, said
    # A bad key: exit 2 and the key's name on stderr.
    desk.config_path.write_text(desk.config_path.read_text().replace("fetch_batch", "fetch_bach"))
    broken = desk.run_process("check")
    assert broken.returncode == 2 and b"unknown key imap.fetch_bach" in broken.stderr


def corpus_dir() -> Path | None:
    try:
        import test.test_email as pkg  # the CPython test package (Debian: libpython3.11-testsuite)
    except ImportError:
        return None
    folder = Path(pkg.__file__).parent / "data"
    return folder if folder.is_dir() else None


def test_cpython_malformed_corpus_through_the_daemon(desk):
    """Case 30: each corpus mail yields one ticket entry, one quarantine row, or one ignored entry."""
    folder = corpus_dir()
    if folder is None:
        if os.environ.get("CI"):
            pytest.fail("CPython's test_email corpus is missing (apt-get install libpython3.11-testsuite)")
        pytest.skip("CPython's test_email corpus is not installed")
    files = sorted(folder.glob("msg_*.txt"))
    assert len(files) >= 40
    for path in files:
        desk.deliver(path.read_bytes())
    desk.run_once()
    desk.run_once()
    from store.models import SpoolEntry

    entries = list(SpoolEntry.select())
    assert len(entries) == len(files)
    assert all(e.state in ("done", "ignored", "quarantined") for e in entries)
    # Raw bytes are kept unchanged (Dovecot stores CRLF line ends); compare digests, not
    # megabytes, so a failure report stays readable.
    import hashlib

    kept = sorted(hashlib.sha256(spool.raw_of(e.id)).hexdigest() for e in entries)
    sent = sorted(hashlib.sha256(p.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")).hexdigest()
                  for p in files)
    assert kept == sent
    assert desk.intake_left() == []
