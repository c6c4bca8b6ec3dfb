"""The master of `oneassist run` and its runners' link, on values (issue 11).

The processes themselves are tested in tests/integration/test_runners.py.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time

import pytest

from daemon.config import parse_settings
from daemon.core.errors import ConfigError
from daemon.master import Child, exit_reason, restart_delay, status_line
from daemon.runners.link import Link
from tests.unit.test_config import minimal


def test_run_defaults_follow_the_store(tmp_path):
    sqlite = parse_settings(minimal(), tmp_path)
    assert sqlite.run.ingest_workers == 1
    assert (sqlite.run.heartbeat_slack_seconds, sqlite.run.stall_seconds) == (30, 300)
    assert (sqlite.imap.liveness_seconds, sqlite.imap.liveness_timeout_seconds) == (60, 30)
    # Found in under 2 minutes (the bound), by default.
    assert sqlite.imap.liveness_seconds + sqlite.imap.liveness_timeout_seconds < 120
    data = minimal() | {"store": {"url": "postgresql://desk@db.test/desk"}}
    assert parse_settings(data, tmp_path).run.ingest_workers == (os.cpu_count() or 1)
    data["run"] = {"ingest_workers": 3}
    assert parse_settings(data, tmp_path).run.ingest_workers == 3


@pytest.mark.parametrize("run, message", [
    ({"ingest_workers": 2}, "run.ingest_workers = 2: a SQLite store takes one writer at a time"),
    ({"ingest_workers": 0}, "run.ingest_workers must be 1 or more"),
    ({"ingest_workers": "2"}, "run.ingest_workers must be an integer"),
    ({"stall_seconds": 20}, "run.stall_seconds = 20 must be more than run.heartbeat_slack_seconds = 30"),
    ({"heartbeat_slack_seconds": 0}, "run.heartbeat_slack_seconds must be greater than 0"),
    ({"workers": 2}, "unknown key run.workers"),
])
def test_run_errors_name_the_key(tmp_path, run, message):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("(", r"\(")):
        parse_settings(minimal() | {"run": run}, tmp_path)


def test_restart_pause_grows_and_is_capped():
    assert [restart_delay(n) for n in (1, 2, 3, 4, 7, 20)] == [1, 2, 4, 8, 60, 60]


def test_exit_reasons_read_like_the_log_should():
    assert exit_reason(-9) == "was killed by SIGKILL"
    assert exit_reason(1) == "exited with code 1"


def test_status_line_sums_the_workers_and_names_the_late():
    fetch = Child("fetch", state="idle", counts={"fetched": 12, "batches": 3})
    one = Child("ingest", 1, counts={"new-ticket": 5, "reply": 2, "retry": 1})
    two = Child("ingest", 2, counts={"new-ticket": 4, "quarantined": 1})
    out = Child("outbox", counts={"sent": 20, "retry": 2})
    sched = Child("scheduler", counts={"fired": 3})
    for child in (fetch, one, two, out, sched):
        child.proc = object()  # type: ignore[assignment] - running, for late_by
        child.beat_at, child.due = 100.0, 1.0
    out.beat_at = 50.0
    line = status_line([fetch, one, two, sched, out], restarts=2, now=102.0, slack=30.0)
    assert line == ("fetch idle: 12 fetched; ingest x2: 11 processed, 1 retried, 1 quarantined; "
                    "outbox: 20 sent, 2 retried, 0 dead; scheduler: 3 done; restarts 2; LATE: outbox")


def pair() -> tuple[Link, socket.socket]:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    theirs.setblocking(False)
    return Link(theirs), ours


def test_link_beats_and_kicks_are_one_packet_each():
    link, master = pair()
    link.beat(2.5, "idle", {"sent": 3})
    link.kick("outbox")
    assert json.loads(master.recv(4096)) == {"beat": "idle", "due": 2.5, "counts": {"sent": 3}}
    assert json.loads(master.recv(4096)) == {"kick": "outbox"}


def test_link_wait_returns_on_a_wake_up_and_stops_when_the_master_is_gone():
    link, master = pair()
    threading.Timer(0.2, lambda: master.send(b"w")).start()
    started = time.monotonic()
    assert link.wait(10) is True
    assert time.monotonic() - started < 5
    assert link.wait(0.1) is False and not link.stopping
    master.close()
    assert link.poll() is True and link.stopping


def test_a_busy_master_never_blocks_a_runner():
    link, master = pair()
    started = time.monotonic()
    for _ in range(100_000):  # far more than the socket buffer holds
        link.beat(1.0, "idle", {"sent": 1})
    assert time.monotonic() - started < 10 and not link.stopping
    master.close()


def test_the_master_starts_k_ingest_workers_between_fetch_and_the_sender(tmp_path):
    from dataclasses import replace

    from daemon.master import Master

    data = minimal() | {"store": {"url": "postgresql://desk@db.test/desk"}, "run": {"ingest_workers": 3}}
    settings = replace(parse_settings(data, tmp_path), source=tmp_path / "oneassist.toml")
    master = Master(settings)
    # Also the order they are stopped in: fetch first, the sender last.
    assert [c.name for c in master.children] == ["fetch", "ingest-1", "ingest-2", "ingest-3", "scheduler", "outbox"]
