"""`oneassist run` as a master and its runner processes (issue 11), through the real daemon path.

- A runner killed with SIGKILL at a crash checkpoint (fetch, ingest, outbox) is started
  again by the master, and every mail of a backlog still makes one ticket entry and one
  ack (two only in the RFC 1047 window, counted in `resends`).
- A runner killed from outside mid-backlog, and the master itself killed: the same.
- A stopped (wedged) runner stops the systemd watchdog pings, is killed after
  run.stall_seconds and replaced, and the pings come back.
- IDLE liveness: a connection a proxy silences without closing is found within
  imap.liveness_seconds + imap.liveness_timeout_seconds and the mail behind it is acked.
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections import Counter

import pytest

from store.models import Message, Outbox, SpoolEntry
from tests.integration.deskrig import client_mail, parse_mail
from tests.integration.masterrig import BlackholeProxy, MasterProcess, alive, wait_until


def backlog(desk, clients: list[str], count: int) -> list[str]:
    ids = []
    for n in range(count):
        raw = client_mail(clients[n % len(clients)], desk.support, f"Задача {n}", f"Текст задачи {n}")
        ids.append(parse_mail(raw)["Message-ID"])
        desk.deliver(raw)
    return ids


def settled(count: int) -> bool:
    """Every mail has its spool entry done and nothing waits in the outbox."""
    if SpoolEntry.select().count() < count:
        return False
    if SpoolEntry.select().where(SpoolEntry.state == "pending").count():
        return False
    return not Outbox.select().where(Outbox.status.in_(("pending", "sending"))).count()


def assert_once(desk, clients: list[str], ids: list[str], window: bool = False) -> Counter[str]:
    """One entry per mail; one ack per mail, or two for exactly the acks counted as resent
    (a SIGKILL between the SMTP server's 250 and our update: the RFC 1047 window), when
    `window` allows it at all."""
    inbound = sorted(m.message_id for m in Message.select().where(Message.direction == "in"))
    assert inbound == sorted(i.strip("<>") for i in ids)
    acks = Counter(str(m["In-Reply-To"]) for c in clients for m in desk.inbox(c))
    assert set(acks) == set(ids)
    doubled = [mid for mid, n in acks.items() if n > 1]
    assert all(acks[mid] == 2 for mid in doubled), acks
    # Rows left 'sending' by the kill are sent again and counted in `resends`; each row is
    # recorded as its 250 arrives, so only those a server had taken come twice: never more
    # doubled acks than counted ones.
    resent = Outbox.select().where(Outbox.kind == "client.notice.ack", Outbox.resends > 0).count()
    assert len(doubled) <= resent, (acks, resent)
    assert window or not resent
    assert desk.intake_left() == []
    assert SpoolEntry.select().where(SpoolEntry.state.in_(("pending", "quarantined"))).count() == 0
    return acks


def with_run(desk, text: str) -> None:
    desk.config_path.write_text(desk.config_path.read_text() + "\n[run]\n" + text)


@pytest.mark.parametrize("crash_at, runner", [("spooled:2", "fetch"), ("applied:7", "ingest-1"),
                                              ("smtp-accepted:2", "outbox"), ("marked-sent:2", "outbox")])
def test_runner_killed_at_a_checkpoint_is_restarted_and_nothing_is_lost(desk, tmp_path, crash_at, runner):
    desk.config_path.write_text(desk.config_path.read_text().replace("fetch_batch = 100", "fetch_batch = 5"))
    clients = [desk.add_client(f"k{i}") for i in range(5)]
    ids = backlog(desk, clients, 30)
    master = MasterProcess(desk, tmp_path, env={"ONEASSIST_CRASH_AT": crash_at})
    try:
        wait_until(lambda: len(master.pids(runner)) >= 2, 60, f"{runner} killed at {crash_at} and restarted")
        wait_until(lambda: settled(30), 90, "the backlog processed and sent")
    finally:
        log = master.stop()
    assert master.proc.returncode == 0, log[-3000:]
    assert f"runner {runner} (pid {master.pids(runner)[0]}) was killed by SIGKILL" in log
    acks = assert_once(desk, clients, ids, window=crash_at.startswith("smtp-accepted"))
    print(f"{crash_at}: {sum(n > 1 for n in acks.values())} ack(s) resent in the RFC 1047 window")


def test_runner_killed_from_outside_and_the_master_killed(desk, tmp_path):
    desk.config_path.write_text(desk.config_path.read_text().replace("fetch_batch = 100", "fetch_batch = 5"))
    clients = [desk.add_client(f"x{i}") for i in range(10)]
    ids = backlog(desk, clients, 60)
    master = MasterProcess(desk, tmp_path)
    try:
        worker = master.pid("ingest-1")
        wait_until(lambda: Message.select().count() >= 10, 60, "ingest under way")
        os.kill(worker, signal.SIGKILL)
        wait_until(lambda: len(master.pids("ingest-1")) >= 2, 30, "the worker started again")
        sender = master.pid("outbox")
        wait_until(lambda: Message.select().where(Message.direction == "in").count() >= 30, 60, "half way")
        children = [master.pid(name) for name in ("fetch", "ingest-1", "outbox", "scheduler")]
        os.kill(master.proc.pid, signal.SIGKILL)
        master.proc.wait()
        # Orphaned, the runners see the link close and stop after the work in hand.
        wait_until(lambda: not any(alive(pid) for pid in children), 30, "runners gone after the master")
    finally:
        master.stop()
    assert sender in children
    again = MasterProcess(desk, tmp_path)
    try:
        again.wait_ready()  # the first runners may have finished the backlog before they stopped
        wait_until(lambda: settled(60), 90, "the rest processed after a new start")
    finally:
        log = again.stop()
    assert again.proc.returncode == 0, log[-3000:]
    # A SIGKILL between the SMTP server's 250 and our update is the one way to a second copy.
    acks = assert_once(desk, clients, ids, window=True)
    print(f"{sum(n > 1 for n in acks.values())} ack(s) resent in the RFC 1047 window")


def test_a_wedged_runner_stops_the_watchdog_and_is_replaced(desk, tmp_path):
    with_run(desk, "heartbeat_slack_seconds = 2\nstall_seconds = 8\n")
    client = desk.add_client()
    master = MasterProcess(desk, tmp_path, watchdog_usec=1_000_000)  # a ping every 0.5 s
    try:
        master.wait_ready()
        wait_until(lambda: len(master.notes.lines("WATCHDOG=1")) >= 3, 10, "watchdog pings")
        sender = master.pid("outbox")
        os.kill(sender, signal.SIGSTOP)
        stopped_at = time.monotonic()
        # The sender promised a beat within 1 s; with 2 s of slack the pings stop by ~3.5 s.
        time.sleep(5)
        pings = [at - stopped_at for at, _ in master.notes.lines("WATCHDOG=1", since=stopped_at)]
        assert all(at < 4.5 for at in pings), pings
        assert any("LATE: outbox" in line for _, line in master.notes.lines("STATUS=", since=stopped_at))
        # After stall_seconds the master kills it; a new sender beats, the pings come back.
        wait_until(lambda: len(master.pids("outbox")) >= 2, 30, "a new sender")
        replaced = time.monotonic()
        wait_until(lambda: master.notes.lines("WATCHDOG=1", since=replaced), 30, "pings again")
        desk.deliver(client_mail(client, desk.support, "После замены", "Текст"))
        desk.sink.wait_for(lambda m: client in m.rcpt_tos, timeout=30)
    finally:
        log = master.stop()
        if alive(sender):
            os.kill(sender, signal.SIGKILL)
    assert "runner outbox" in log and "late with its heartbeat; killing it" in log
    assert "was killed by SIGKILL" in log


def test_idle_liveness_finds_a_silently_dropped_connection(desk, tmp_path):
    proxy = BlackholeProxy(desk.dovecot.imap_port)
    text = desk.config_path.read_text().replace(f"port = {desk.dovecot.imap_port}", f"port = {proxy.port}", 1)
    desk.config_path.write_text(text.replace("fetch_batch = 100", "fetch_batch = 100\nliveness_seconds = 2\n"
                                                                  "liveness_timeout_seconds = 2"))
    client = desk.add_client()
    master = MasterProcess(desk, tmp_path)
    try:
        master.wait_ready()
        desk.deliver(client_mail(client, desk.support, "Через прокси", "Текст"))
        desk.sink.wait_for(lambda m: client in m.rcpt_tos, timeout=30)
        connections = proxy.connections
        proxy.blackhole()
        silenced = time.monotonic()
        desk.deliver(client_mail(client, desk.support, "После обрыва", "Текст"))
        wait_until(lambda: len(desk.inbox(client)) >= 2, 60, "the mail behind the dead connection acked")
        found = time.monotonic() - silenced
    finally:
        log = master.stop()
        proxy.close()
    assert proxy.connections > connections
    # Found by the liveness proof, or by the short command before IDLE, whichever came first.
    assert "oneassist.runner[fetch]: imap:" in log and "reconnecting in" in log, log[-3000:]
    # liveness 2 s + reply timeout 2 s + the first reconnect 1 s, with room for a loaded machine.
    assert found < 20, found


def test_a_runner_that_keeps_dying_is_restarted_with_a_pause_and_raises_one_alert(desk, tmp_path):
    """A mail that kills the ingest worker (an OOM kill, say) three times: three restarts, one
    admin alert about the runner, then the mail is quarantined (case 39) and the rest flows."""
    client = desk.add_client()
    desk.deliver(client_mail(client, desk.support, "Ядовитое", "Текст", extra={"X-Test": "POISON-MARK"}))
    desk.deliver(client_mail(client, desk.support, "Обычное", "Текст"))
    master = MasterProcess(desk, tmp_path, env={"ONEASSIST_KILL_ON": "route:POISON-MARK"})
    try:
        wait_until(lambda: len(desk.inbox(desk.admin)) >= 2, 90, "the runner alert and the quarantine alert")
        wait_until(lambda: settled(2), 30, "the other mail processed")
    finally:
        log = master.stop()
    subjects = sorted(str(m["Subject"]) for m in desk.inbox(desk.admin))
    assert len(subjects) == 2 and sum("Runner ingest-1 keeps dying: 3 times" in s for s in subjects) == 1, subjects
    assert len(master.pids("ingest-1")) == 4
    pauses = [float(p) for p in re.findall(r"runner ingest-1 \(pid \d+\) was killed by SIGKILL; "
                                            r"starting it again in (\d+) s", log)]
    assert pauses == [1, 2, 4]
    assert len(desk.inbox(client)) == 1  # the ordinary mail's ack; the poison one is quarantined
    assert SpoolEntry.select().where(SpoolEntry.state == "quarantined").count() == 1


def test_sigterm_stops_the_runners_in_the_order_mail_flows(desk, tmp_path):
    """Fetch first (nothing new comes in), ingest, the scheduler, the sender last (it drains);
    what was not done yet is done by the next start, once."""
    clients = [desk.add_client(f"s{i}") for i in range(5)]
    ids = backlog(desk, clients, 40)
    master = MasterProcess(desk, tmp_path)
    try:
        wait_until(lambda: desk.sink.received, 60, "the first mail sent")
    finally:
        log = master.stop()
    assert master.proc.returncode == 0, log[-3000:]
    stopped = re.findall(r"runner (\S+) stopped", log)
    assert stopped == ["fetch", "ingest-1", "scheduler", "outbox"], log[-3000:]
    assert any("fetched" in line and "processed" in line for _, line in master.notes.lines("STATUS="))
    again = MasterProcess(desk, tmp_path)
    try:
        again.wait_ready()
        wait_until(lambda: settled(40), 90, "the rest after a new start")
    finally:
        again.stop()
    assert_once(desk, clients, ids)
