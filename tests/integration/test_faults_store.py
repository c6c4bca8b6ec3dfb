"""The store cannot write (docs/reliability.md case 8): a held SQLite write lock, a full
disk (RLIMIT_FSIZE), PostgreSQL dropping the daemon's connections.

Must hold: no mail leaves the intake folder before it is stored; one ERROR line a minute,
not one per mail or per loop; the state is in <data_dir>/store-health.json for
`oneassist status`; the daemon resumes by itself; nothing is lost or answered twice.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time

import peewee
import pytest

from daemon.runners.store_health import read_store_health
from store.db import close_db, init_db, reset_connection
from store.models import Message
from tests.integration.deskrig import client_mail
from tests.integration.faultrig import mail_with_file, reconfigure, running_service, wait_until


def _errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def _acks_to(desk, client: str) -> list:
    return [m for m in desk.sink.received if client in m.rcpt_tos]


def test_a_held_write_lock_keeps_mail_on_the_server_logs_once_and_resumes(desk, caplog):
    settings = reconfigure(desk, "store", "lock_wait_seconds = 0.5")
    client = desk.add_client()
    caplog.set_level(logging.INFO)
    holder = sqlite3.connect(settings.store_url.removeprefix("sqlite:///"), timeout=10)
    holder.execute("BEGIN IMMEDIATE")  # another process's long write: a backup, a manual UPDATE
    try:
        with running_service(settings):
            subjects = [f"Задача {i}" for i in range(3)]
            for subject in subjects:
                desk.deliver(client_mail(client, desk.support, subject, "Текст"))
            # Several fetch attempts fail meanwhile (one every RETRY_SECONDS, each after 0.5 s).
            wait_until(lambda: (read_store_health(settings.service.data_dir) or {}).get("state") == "unavailable",
                       20, "the state file to say the store is unavailable")
            time.sleep(12)
            assert len(desk.intake_left()) == 3, "mail left the intake folder before it was stored"
            assert not _acks_to(desk, client)
            state = read_store_health(settings.service.data_dir)
            assert state["failures"] >= 2 and "locked" in state["last_error"]
            store_errors = [e for e in _errors(caplog) if e.startswith("store:")]
            assert len(store_errors) == 1, _errors(caplog)
            assert len(_errors(caplog)) == 1, _errors(caplog)
            holder.execute("ROLLBACK")
            wait_until(lambda: len(_acks_to(desk, client)) >= 3, 60, "three acks after the lock is gone")
            wait_until(lambda: (read_store_health(settings.service.data_dir) or {}).get("state") == "ok",
                       20, "the state file to say ok again")
            time.sleep(2)
    finally:
        holder.close()
    assert desk.intake_left() == []
    assert len(_acks_to(desk, client)) == 3
    assert Message.select().where(Message.direction == "in").count() == 3
    assert any("writes work again" in r.getMessage() for r in caplog.records)


@pytest.fixture
def pg_store(desk):
    """The desk on a PostgreSQL database of its own (the shared server, a unique name)."""
    import uuid

    try:
        admin = peewee.PostgresqlDatabase("test", host="127.0.0.1", port=5432, user="postgres")
        admin.connect()
    except peewee.OperationalError as exc:
        pytest.skip(f"no PostgreSQL on 127.0.0.1:5432: {exc}")
    name = f"oa_faults_{uuid.uuid4().hex[:12]}"
    admin.execute_sql(f'CREATE DATABASE "{name}"')
    text = desk.config_path.read_text(encoding="utf-8")
    start = text.index('url = "sqlite:///')
    end = text.index("\n", start)
    desk.config_path.write_text(text[:start] + f'url = "postgresql://postgres@127.0.0.1:5432/{name}"'
                                + text[end:], encoding="utf-8")
    reconfigure(desk, "store", "")
    try:
        yield name, admin
    finally:
        close_db()
        admin.execute_sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        admin.execute_sql(f'DROP DATABASE "{name}"')
        admin.close()


def test_postgresql_dropping_our_connections_is_survived(desk, pg_store, caplog):
    """A server restart, as far as a shared server allows: pg_terminate_backend on every
    connection of the daemon's database (the server itself cannot be restarted here)."""
    name, admin = pg_store
    client = desk.add_client()
    caplog.set_level(logging.INFO)
    with running_service(desk.settings):
        desk.deliver(client_mail(client, desk.support, "До", "Первая"))
        wait_until(lambda: len(_acks_to(desk, client)) >= 1, 60, "the first ack")
        killed = admin.execute_sql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                   "WHERE datname = %s AND pid <> pg_backend_pid()", (name,)).fetchone()[0]
        assert killed >= 1
        for i in range(3):
            desk.deliver(client_mail(client, desk.support, f"После {i}", "Вторая"))
        wait_until(lambda: len(_acks_to(desk, client)) >= 4, 90, "acks of the mail after the restart")
        time.sleep(2)
    reset_connection()  # the test's own connection was terminated with the daemon's
    assert desk.intake_left() == []
    assert len(_acks_to(desk, client)) == 4
    assert Message.select().where(Message.direction == "in").count() == 4
    assert len([e for e in _errors(caplog) if e.startswith("store:")]) <= 2, _errors(caplog)
    assert (read_store_health(desk.settings.service.data_dir) or {"state": "ok"})["state"] == "ok"



def test_a_full_disk_keeps_mail_on_the_server_and_resumes_when_space_returns(desk):
    """RLIMIT_FSIZE as the full disk: the daemon may not grow any file past the limit (SQLite
    gets EFBIG: "database or disk is full"). Raising the limit from outside (prlimit) frees
    the disk without restarting the daemon."""
    import resource
    import subprocess
    import sys

    from tests.integration.deskrig import ROOT

    settings = reconfigure(desk, "store", "lock_wait_seconds = 1")
    client = desk.add_client()
    close_db()  # checkpoints and removes the WAL: the daemon starts from the main file alone
    db_file = settings.store_url.removeprefix("sqlite:///")
    limit = os.path.getsize(db_file) + 128 * 1024

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("ONEASSIST_CRASH_AT", None)
    proc = subprocess.Popen([sys.executable, "-m", "daemon", "--config", str(desk.config_path), "run"],
                            cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, preexec_fn=cap)  # a pipe: the log must not hit the cap
    lines: list[str] = []

    def read_log() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line.decode("utf-8", "replace"))

    threading.Thread(target=read_log, daemon=True).start()
    try:
        wait_until(lambda: any("daemon started" in line for line in lines), 60, "the daemon to start")
        desk.deliver(mail_with_file(client, desk.support, 600 * 1024))
        health = settings.service.data_dir
        wait_until(lambda: (read_store_health(health) or {}).get("state") == "unavailable", 60,
                   "the state file to say the store is unavailable")
        time.sleep(8)
        assert len(desk.intake_left()) == 1, "the mail left the intake folder though it was not stored"
        state = read_store_health(health)
        # EFBIG reaches SQLite as an I/O error on the WAL ("disk I/O error"), ENOSPC as SQLITE_FULL.
        assert "disk" in state["last_error"], state
        errors = [line for line in lines if " ERROR " in line]
        assert len(errors) == 1, errors
        # Space comes back for the master and each of its runner processes (they inherited the cap).
        for pid in [proc.pid, *_children(proc.pid)]:
            resource.prlimit(pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        wait_until(lambda: desk.sink.received, 60, "the ack once there is space")
        wait_until(lambda: (read_store_health(health) or {}).get("state") == "ok", 30, "the state to be ok")
        assert desk.intake_left() == []
    finally:
        proc.terminate()
        proc.wait(30)
    init_db(settings.store_url)
    assert Message.select().where(Message.direction == "in").count() == 1
    assert len([m for m in desk.sink.received if client in m.rcpt_tos]) == 1



def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat", "rb").read()  # noqa: SIM115 - read at once
            except OSError:
                continue
            if int(stat.rsplit(b")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def test_a_lock_between_the_250_and_the_outbox_update_sends_nothing_twice(tmp_path, dovecot, mailboxes):
    """The relay took the mail; the store is locked before the row is marked sent. The
    outcome is held and written once the lock is gone; nothing is sent again, not even
    by the next start (which resends rows left 'sending')."""
    from daemon.sandbox.smtp import SmtpSink, deliver_to_dovecot
    from store.models import Outbox
    from tests.integration.deskrig import DeskRig

    into_dovecot = deliver_to_dovecot(dovecot)
    state: dict[str, object] = {}

    def deliver(rcpt: str, raw: bytes) -> None:
        into_dovecot(rcpt, raw)
        if "holder" not in state:
            # Another process takes the write lock while our 250 is on its way, for 4 s.
            holder = sqlite3.connect(str(state["db"]), timeout=10, check_same_thread=False)
            holder.execute("BEGIN IMMEDIATE")
            state["holder"] = holder
            threading.Timer(4.0, lambda: (holder.execute("ROLLBACK"), holder.close())).start()

    with SmtpSink(deliver) as sink:
        desk = DeskRig(tmp_path, dovecot, sink, mailboxes)
        try:
            settings = reconfigure(desk, "store", "lock_wait_seconds = 0.5")
            state["db"] = settings.store_url.removeprefix("sqlite:///")
            client = desk.add_client()
            desk.deliver(client_mail(client, desk.support, "Задача", "Текст"))
            with running_service(settings):
                wait_until(lambda: "holder" in state, 60, "the first mail at the relay")
                wait_until(lambda: Outbox.select().where(Outbox.status == "sending").count() == 0
                           and Outbox.select().count() >= 2, 60, "the outcome written after the lock")
                time.sleep(1)
            assert {o.status for o in Outbox.select()} == {"sent"}
            counted = len(sink.received)
            done = desk.run_process("run", "--once")
            assert done.returncode == 0, done.stderr.decode()[-2000:]
            assert len(sink.received) == counted, "a mail went out twice"
            assert len([m for m in sink.received if client in m.rcpt_tos]) == 1
        finally:
            desk.close()
