"""Several `oneassist run` daemons on one PostgreSQL store and one Dovecot mailbox.

A backlog of tasks and replies from many clients, daemons as real processes (killed with
SIGKILL like `kill -9`, restarted like systemd's Restart=always), and the invariants read
back from the store and the SMTP sink: every mail one timeline entry, every ack once
(those the RFC 1047 window repeated counted, not hidden), every reply on its task.
Used by tests/integration/test_shared_store.py and bench/shared_store.py.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from daemon.cli.client import add_client
from daemon.config import load
from daemon.runners.fetch import account_of
from daemon.sandbox.dovecot import DovecotServer
from daemon.sandbox.smtp import SmtpSink
from store.db import close_db, database, init_db
from store.locks import FETCH_LOCK_CLASS
from store.models import Message, Outbox, SpoolEntry
from tests.integration.deskrig import ROOT, DeskRig, client_mail, parse_mail

_NODE_PID = re.compile(r"^oneassist fetch-lock [^:]*:(\d+):")


def _parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def _bare(message_id: str) -> str:
    """A Message-ID as the store keeps it: without the angle brackets."""
    return str(message_id).strip().strip("<>")


@dataclass
class Backlog:
    tasks: dict[str, str] = field(default_factory=dict)      # task Message-ID -> client
    replies: dict[str, str] = field(default_factory=dict)    # reply Message-ID -> its task's Message-ID

    @property
    def size(self) -> int:
        return len(self.tasks) + len(self.replies)


class SharedDesk:
    """A DeskRig on a PostgreSQL store, run by several daemon processes."""

    def __init__(self, tmp_path: Path, dovecot: DovecotServer, sink: SmtpSink, new_user, url: str,
                 *, lease_seconds: int = 5, fetch_batch: int = 10, quota: int | None = None,
                 ingest_workers: int = 1) -> None:
        self.rig = DeskRig(tmp_path, dovecot, sink, new_user, fetch_batch=fetch_batch)
        close_db()
        text = self.rig.config_path.read_text(encoding="utf-8")
        text = re.sub(r'(?m)^url = "sqlite:///.*"$',
                      f'url = "{url}"\nlease_seconds = {lease_seconds}\nfetch_lock_retry_seconds = 0.5', text)
        # One SMTP connection: a sender killed after a 250 leaves exactly one row in the window.
        text = text.replace("max_attempts = 4", "max_attempts = 4\nconnections = 1")
        if quota is not None:  # the bench's clients send more tasks than the tests' tariff allows
            text = text.replace("quota = 3\n", f"quota = {quota}\n")
        # Each daemon is a master with this many ingest worker processes (issue 11).
        text += f"\n[run]\ningest_workers = {ingest_workers}\n"
        self.rig.config_path.write_text(text, encoding="utf-8")
        self.settings = self.rig.settings = load(self.rig.config_path)
        init_db(url)
        self.sink = sink
        self.procs: dict[str, subprocess.Popen] = {}
        self.logs = tmp_path
        self.mailbox = f"{account_of(self.settings.imap)}/{self.settings.imap.folder}"
        self.restarts: Counter[str] = Counter()

    # -- the backlog -------------------------------------------------------------------

    def backlog(self, clients: int, tasks_per_client: int, *, replies: bool = True) -> Backlog:
        """Tasks from `clients` clients, each followed (later in the mailbox) by a reply to it."""
        emails = [f"c{i}-{os.getpid()}@client.test" for i in range(clients)]
        for email in emails:
            add_client(self.settings, email=email, name="Иван Петров", tariff="basis",
                       manager=self.rig.manager, language="ru", aliases=[], assistant=None,
                       now=datetime.now(UTC))
        backlog = Backlog()
        raws = []
        for n in range(tasks_per_client):
            for i, email in enumerate(emails):
                raw = client_mail(email, self.rig.support, f"Задача {n} клиента {i}", f"Текст задачи {n}")
                mid = _bare(parse_mail(raw)["Message-ID"])
                backlog.tasks[mid] = email
                raws.append(raw)
                if replies:
                    reply = client_mail(email, self.rig.support, f"Re: Задача {n} клиента {i}",
                                        f"Уточнение к задаче {n}", in_reply_to=f"<{mid}>")
                    backlog.replies[_bare(parse_mail(reply)["Message-ID"])] = mid
                    raws.append(reply)
        for raw in raws:
            self.rig.deliver(raw)
        return backlog

    # -- the daemons -------------------------------------------------------------------

    def start(self, name: str, **env: str) -> subprocess.Popen:
        full = {**os.environ, "PYTHONPATH": str(ROOT), **env}
        for key in ("ONEASSIST_CRASH_AT", "ONEASSIST_KILL_ON"):
            if key not in env:
                full.pop(key, None)
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - the process owns it
        # A session of its own: killing the group is a host dying, the master and its runners at once.
        proc = subprocess.Popen([sys.executable, "-m", "daemon", "--config", str(self.rig.config_path), "run"],
                                cwd=ROOT, env=full, stdout=log, stderr=log, start_new_session=True)
        self.procs[name] = proc
        return proc

    def supervise(self) -> list[str]:
        """Restart daemons that died (as systemd would, without the fault); their names."""
        died = []
        for name, proc in list(self.procs.items()):
            if proc.poll() is not None:
                died.append(name)
                self.restarts[name] += 1
                self.start(name)
        return died

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def lock_holder(self) -> int | None:
        """The OS pid of the daemon holding the mailbox's fetch lock (its node id names it)."""
        cursor = database.execute_sql(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s AND l.objid = hashtext(%s)::oid",
            (FETCH_LOCK_CLASS, self.mailbox))
        row = cursor.fetchone()
        match = _NODE_PID.match(row[0]) if row else None
        return int(match.group(1)) if match else None

    def name_of(self, pid: int) -> str | None:
        """The daemon a pid belongs to: its master, or one of the master's runners."""
        return next((name for name, proc in self.procs.items() if proc.pid in (pid, _parent_of(pid))), None)

    def kill(self, name: str) -> None:
        """SIGKILL to a daemon's master and every runner of it at once (a host that died)."""
        os.killpg(self.procs[name].pid, signal.SIGKILL)

    def runner_restarts(self, name: str) -> int:
        """How often this daemon's master started a dead runner again (its log says so)."""
        return (self.logs / f"{name}.log").read_text(errors="replace").count("starting it again in")

    # -- progress and invariants ---------------------------------------------------------

    def processed(self) -> int:
        return SpoolEntry.select().where(SpoolEntry.state != "pending").count()

    def settled(self, backlog: Backlog) -> bool:
        """Every mail fetched and processed, the intake empty, nothing left to send."""
        if self.processed() < backlog.size:
            return False
        if Outbox.select().where(Outbox.status.in_(("pending", "sending"))).exists():
            return False
        return self.rig.intake_left() == []

    def wait_settled(self, backlog: Backlog, timeout: float, supervise: bool = False) -> float:
        started = time.monotonic()
        while not self.settled(backlog):
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"not settled in {timeout:.0f}s: {self.processed()}/{backlog.size} processed, "
                                   f"outbox open {Outbox.select().where(Outbox.status != 'sent').count()}, "
                                   f"intake {len(self.rig.intake_left())}; logs in {self.logs}")
            if supervise:
                self.supervise()
            time.sleep(0.3)
        return time.monotonic() - started

    def check(self, backlog: Backlog) -> dict[str, int]:
        """Assert the invariants; returns the counts the report prints."""
        by_mid = Counter(mid for (mid,) in Message.select(Message.message_id)
                         .where(Message.direction == "in").tuples())
        everything = {**backlog.tasks, **backlog.replies}
        missing = [m for m in everything if by_mid[m] == 0]
        doubled = [m for m in everything if by_mid[m] > 1]
        assert not missing and not doubled, f"{len(missing)} mails without and {len(doubled)} with two entries"
        ticket_of = dict(Message.select(Message.message_id, Message.ticket)
                         .where(Message.direction == "in").tuples())
        astray = [r for r, task in backlog.replies.items() if ticket_of[r] != ticket_of[task]]
        assert not astray, f"{len(astray)} replies not on their task's ticket"
        assert len(set(ticket_of[t] for t in backlog.tasks)) == len(backlog.tasks)
        sent = Counter(_bare(parse_mail(m.raw)["Message-ID"]) for m in self.sink.received)
        rows = {_bare(mid): (status, resends) for mid, status, resends in
                Outbox.select(Outbox.message_id, Outbox.status, Outbox.resends).tuples()}
        assert all(status == "sent" for status, _ in rows.values())
        assert set(sent) == set(rows), "a mail went out that the outbox does not hold, or one did not go"
        repeated = {mid: n for mid, n in sent.items() if n > 1}
        # A repeat is only ever a row the RFC 1047 window interrupted: resent with the same bytes.
        assert all(rows[mid][1] >= n - 1 for mid, n in repeated.items())
        acks = Counter()
        for m in self.sink.received:
            mail = parse_mail(m.raw)
            task = _bare(mail["In-Reply-To"] or "")
            if task in backlog.tasks and backlog.tasks[task] in m.rcpt_tos:
                acks[task] += 1
        assert set(acks) == set(backlog.tasks), "a task without its acknowledgement"
        return {"mails": backlog.size, "acks": sum(acks.values()), "ack_repeats": sum(n - 1 for n in acks.values()),
                "sent": sum(sent.values()), "repeats_rfc1047": sum(n - 1 for n in repeated.values())}
