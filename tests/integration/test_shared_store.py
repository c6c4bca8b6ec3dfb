"""Two `oneassist run` daemons on one PostgreSQL store and one mailbox (issue 11).

A backlog of tasks and replies from many clients; the daemon holding the fetch lock is
killed with SIGKILL half way, and the standby takes over. Then: every mail has exactly
one timeline entry, every reply is on its task, every ack went out once, except those
the RFC 1047 window repeated, which are counted and printed. The full 500-mail version
is bench/shared_store.py.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from daemon.sandbox.smtp import SmtpSink
from store.db import close_db
from store.models import SpoolEntry
from tests.integration.shared_desk import SharedDesk
from tests.pgstore import fresh_database


@pytest.fixture
def shared(tmp_path, dovecot, mailboxes):
    with SmtpSink() as sink, fresh_database("oa_pgsafe") as url:
        desk = SharedDesk(tmp_path, dovecot, sink, mailboxes, url)
        try:
            yield desk
        finally:
            desk.stop_all()
            close_db()


def test_fetch_lock_holder_killed_half_way_standby_takes_over(shared):
    backlog = shared.backlog(clients=20, tasks_per_client=3)  # 60 tasks + 60 replies
    shared.start("a")
    shared.start("b")
    started = time.monotonic()
    while shared.processed() < backlog.size // 2:
        assert time.monotonic() - started < 60, f"{shared.processed()} processed after 60 s"
        time.sleep(0.05)
    holder = shared.lock_holder()
    victim = shared.name_of(holder)
    assert victim is not None, f"the fetch lock is held by pid {holder}, not by a daemon of this test"
    fetched = SpoolEntry.select().count()
    shared.kill(victim)
    killed_at = time.monotonic()
    shared.procs[victim].wait()
    while (new := shared.lock_holder()) in (None, holder):
        assert time.monotonic() - killed_at < 10, "no standby took the fetch lock within 10 s"
        time.sleep(0.05)
    takeover = time.monotonic() - killed_at
    survivor = shared.name_of(new)
    assert survivor is not None and survivor != victim
    shared.wait_settled(backlog, timeout=90)
    counts = shared.check(backlog)
    print(f"\nfetch lock holder {victim} killed with {fetched} of {backlog.size} mails fetched, "
          f"{backlog.size // 2}+ processed; "
          f"{survivor} took over in {takeover:.2f} s; {counts}")
    # Mail in the killed sender's window was sent again after its lease; at most one (one connection).
    assert counts["repeats_rfc1047"] <= 1


def test_worker_killed_mid_transaction_and_sender_killed_after_250(shared):
    backlog = shared.backlog(clients=15, tasks_per_client=2)  # 30 tasks + 30 replies
    # a dies inside its 8th apply transaction, b between the server's 250 and the outbox update
    # of its 10th mail; each is started again without the fault, as systemd would.
    shared.start("a", ONEASSIST_CRASH_AT="applying:8")
    # a alone until its worker died and was started again: with b running, a might not reach
    # its 8th apply at all.
    started = time.monotonic()
    while shared.runner_restarts("a") < 1:
        assert time.monotonic() - started < 60, "a's ingest worker was not killed and restarted"
        time.sleep(0.1)
    shared.start("b", ONEASSIST_CRASH_AT="smtp-accepted:10")
    shared.wait_settled(backlog, timeout=120, supervise=True)
    counts = shared.check(backlog)
    restarted = {name: shared.runner_restarts(name) for name in ("a", "b")}
    print(f"\nrunners restarted {restarted}; daemons restarted {dict(shared.restarts)}; {counts}")
    # Each master started its killed runner again (without the fault); no daemon died. b's
    # sender dies only if it sent 10 mails itself (a's sends too).
    assert restarted["a"] == 1 and restarted["b"] <= 1 and not shared.restarts
    # A sender's kill leaves one row (one SMTP connection) in the RFC 1047 window: sent twice.
    assert counts["repeats_rfc1047"] == restarted["b"]


def test_a_second_daemon_on_a_sqlite_store_stops_with_the_reason(desk):
    """SQLite is one daemon per store: a second `oneassist run` (or `run --once`) says why and exits."""
    from tests.integration.test_daemon_run import start_daemon, stop_daemon

    first = start_daemon(desk)
    try:
        lock = Path(str(desk.settings.store_url).removeprefix("sqlite:///") + ".lock")
        started = time.monotonic()
        while not (lock.exists() and lock.read_text().strip() == str(first.pid)):
            assert time.monotonic() - started < 30, "the first daemon did not take its store"
            time.sleep(0.1)
        for args in (("run",), ("run", "--once")):
            second = desk.run_process(*args, timeout=30)
            err = second.stderr.decode()
            assert second.returncode != 0
            assert "another oneassist daemon" in err and f"pid {first.pid}" in err and "PostgreSQL" in err
    finally:
        stop_daemon(first)
    assert desk.run_process("run", "--once").returncode == 0  # free again
