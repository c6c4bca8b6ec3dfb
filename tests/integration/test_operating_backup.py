"""`oneassist backup FILE` while the daemon ingests, and a restore that works (issue 13).

The copy is taken while a running daemon fetches and answers a batch of mails. It is
restored into a fresh folder, `check` passes on it, its counts are those `backup` reported
and are consistent (every ticket has its acknowledgement), and a daemon started on the copy
sends no mail the copy records as sent, and processes no mail the copy records as done.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time

from tests.integration.deskrig import ROOT, client_mail

MAILS = 36  # under the 40 acknowledgements a day one address gets


def daemon(config) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "daemon", "--config", str(config), "run"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()[-2000:]


def rows(path, sql: str) -> list[tuple]:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return conn.execute(sql).fetchall()


def test_backup_during_ingest_restores_and_resends_nothing(desk, tmp_path):
    client = desk.add_client()
    for n in range(10):
        desk.deliver(client_mail(client, desk.support, f"Задача {n}", "Текст"))

    def stream() -> None:  # the rest arrives while the daemon works and the backup runs
        for n in range(10, MAILS):
            desk.deliver(client_mail(client, desk.support, f"Задача {n}", "Текст"))
            time.sleep(0.1)

    original = daemon(desk.config_path)
    copy = tmp_path / "backup" / "desk.db"
    copy.parent.mkdir(mode=0o700)
    feeder = threading.Thread(target=stream)
    try:
        desk.sink.wait_for(lambda m: client in m.rcpt_tos, count=5, timeout=60)
        feeder.start()
        time.sleep(1.0)
        done = desk.run_process("--json", "backup", str(copy))
        assert feeder.is_alive()  # taken mid-ingest
        assert done.returncode == 0, done.stderr.decode()[-2000:]
        reported = json.loads(done.stdout)["counts"]
        feeder.join()
        desk.sink.wait_for(lambda m: client in m.rcpt_tos, count=MAILS, timeout=180)
    finally:
        stop(original)
    assert copy.stat().st_mode & 0o777 == 0o600
    assert not os.path.exists(f"{copy}-wal")
    assert 5 <= reported["ticket"] < MAILS, reported

    # Restore into a fresh folder with its own config.
    fresh = tmp_path / "restored"
    fresh.mkdir(mode=0o700)
    shutil.copy2(copy, fresh / "desk.db")
    config = fresh / "oneassist.toml"
    config.write_text(desk.config_path.read_text().replace(str(desk.tmp / "desk.db"), str(fresh / "desk.db")))
    config.chmod(0o600)
    check = subprocess.run([sys.executable, "-m", "daemon", "--config", str(config), "check"], cwd=ROOT,
                           env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, timeout=120)
    assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()

    db = fresh / "desk.db"
    (tickets,), = rows(db, "SELECT COUNT(*) FROM ticket")
    (acks,), = rows(db, "SELECT COUNT(*) FROM outbox WHERE kind = 'client.notice.ack'")
    assert tickets == reported["ticket"] == acks  # one transaction made each ticket and its ack
    sent_before = {mid for (mid,) in rows(db, "SELECT message_id FROM outbox WHERE status = 'sent'")}
    done_before = {i for (i,) in rows(db, "SELECT id FROM spool_entry WHERE state != 'pending'")}
    (owed_rows,), = rows(db, "SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'sending')")
    (owed_mails,), = rows(db, "SELECT COUNT(*) FROM spool_entry WHERE state = 'pending'")
    assert sent_before

    desk.sink.clear()
    restored = daemon(config)
    try:
        time.sleep(8)  # let it fetch (the intake is empty now), process and send what the copy owes
    finally:
        stop(restored)
    resent = [m for m in desk.sink.received
              if any(mid.encode() in m.raw for mid in sent_before)]
    assert resent == []
    # What it sent is what the copy owed: its unsent rows, and an ack and a notice per pending mail.
    assert len(desk.sink.received) <= owed_rows + 2 * owed_mails
    after = {i: state for i, state in rows(db, "SELECT id, processed_at FROM spool_entry")}
    (tickets_after,), = rows(db, "SELECT COUNT(*) FROM ticket")
    pending_in_copy = MAILS - len(done_before)
    # Only mail the copy held as pending was processed: at most one new ticket for each.
    assert tickets <= tickets_after <= tickets + pending_in_copy
    assert set(after) >= done_before


def test_backup_of_postgresql_checks_pg_dump_and_prints_a_command_that_works(desk, tmp_path):
    from tests.pgstore import fresh_database

    # tests/pgstore.py: fails loudly under CI when PostgreSQL cannot be reached, drops the database after.
    with fresh_database("oa_ops") as fresh:
        name = fresh.rsplit("/", 1)[1]
        url = f"postgresql://postgres:not-a-real-password@127.0.0.1:5432/{name}"
        config = tmp_path / "pg.toml"
        config.write_text(desk.config_path.read_text().replace(f"sqlite:///{desk.tmp / 'desk.db'}", url))
        config.chmod(0o600)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        target = tmp_path / "pg.dump"
        done = subprocess.run([sys.executable, "-m", "daemon", "--config", str(config), "--json", "backup",
                               str(target)], cwd=ROOT, env=env, capture_output=True, timeout=120)
        assert done.returncode == 0, done.stderr.decode()
        plan = json.loads(done.stdout)
        assert plan["store"] == "postgresql" and plan["pg_dump_major"] >= plan["server_version"] // 10000
        assert "not-a-real-password" not in plan["command"] and plan["command"].startswith("pg_dump ")
        ran = subprocess.run(f"umask 077; {plan['command']}", shell=True, capture_output=True, timeout=120)
        assert ran.returncode == 0, ran.stderr.decode()
        assert target.stat().st_mode & 0o777 == 0o600
        listed = subprocess.run(["pg_restore", "--list", str(target)], capture_output=True, timeout=60)
        assert b"TABLE DATA public ticket" in listed.stdout
