"""Several daemons on one PostgreSQL store: throughput per worker count, and failover.

    python -m bench.shared_store --workers 1 2            # mails stored/s and CPU per mail, K = 1 and 2
    python -m bench.shared_store --failover               # 500 mails of 50 clients, kill -9 of the fetcher
    python -m bench.ingest --store postgresql --workers 2 # the same as the first, by the issue's name

Each run gets a database of its own on 127.0.0.1:5432 (dropped after), Dovecot and a
record-only SMTP sink in a folder under /tmp. The backlog (tests/integration/shared_desk.py)
is a task and a reply to it per client and round, all in the mailbox before the daemons
start. K workers are K ingest worker processes of one `oneassist run` (`[run]
ingest_workers = K`), claiming spool entries (store/claims.py) beside one fetcher and one
sender; `--daemons` runs K whole daemons on the one store instead (one holds the fetch
lock, all claim and send). Every figure of
one invocation comes from the same machine state, so compare them as ratios.

The throughput is entries stored / seconds from the first spooled mail to the last entry;
CPU per mail is the daemons' own CPU (user + system, /proc) over that time, divided by
the mails; PostgreSQL's is apart (`pg_cpu_ms_per_mail`: the server processes of the
run's own database, from the daemons' start, so a little start-up is in it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import bench_servers, code_state, say  # noqa: E402
from bench.cpu import process_cpu_seconds  # noqa: E402
from store.db import close_db, database  # noqa: E402
from store.models import SpoolEntry  # noqa: E402
from tests.integration.shared_desk import SharedDesk  # noqa: E402
from tests.pgstore import fresh_database  # noqa: E402


def throughput(servers, workers: int, clients: int, rounds: int, timeout: float,
               daemons: bool = False) -> dict[str, Any]:
    with fresh_database("oa_bench") as url:
        desk = SharedDesk(Path(tempfile.mkdtemp(dir=servers.base)), servers.dovecot, servers.sink,
                          servers.new_user, url, lease_seconds=60, fetch_batch=100, quota=1000,
                          ingest_workers=1 if daemons else workers)
        servers.sink.clear()
        try:
            backlog = desk.backlog(clients, rounds)
            procs = [desk.start(f"w{i}") for i in range(workers if daemons else 1)]
            started = time.monotonic()
            first, cpu0 = None, 0.0
            while desk.processed() < backlog.size:
                if first is None and SpoolEntry.select().exists():
                    # From here: the daemons' start-up (imports, connections) is not per mail.
                    first = time.monotonic()
                    cpu0 = sum(process_cpu_seconds(p.pid) for p in procs)
                if time.monotonic() - started > timeout:
                    raise SystemExit(f"bench: {desk.processed()}/{backlog.size} after {timeout:.0f} s "
                                     f"(logs in {desk.logs})")
                for proc in procs:
                    if proc.poll() is not None:
                        raise SystemExit(f"bench: a daemon exited with {proc.returncode} (logs in {desk.logs})")
                time.sleep(0.05)
            done = time.monotonic()
            cpu = sum(process_cpu_seconds(p.pid) for p in procs) - cpu0
            # PostgreSQL's side: the server processes of this run's own database (the daemons'
            # sessions, all opened for this run), not the bench's own session.
            backends = [pid for (pid,) in database.execute_sql(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()").fetchall()]
            pg_cpu = sum(process_cpu_seconds(pid) for pid in backends)
            desk.wait_settled(backlog, timeout=timeout)
            counts = desk.check(backlog)
        finally:
            desk.stop_all()
            close_db()
    seconds = done - (first or started)
    return {"workers": workers, "mails": backlog.size, "seconds": round(seconds, 2),
            "mails_per_s": round(backlog.size / seconds, 1), "cpu_ms_per_mail": round(1000 * cpu / backlog.size, 2),
            "pg_cpu_ms_per_mail": round(1000 * pg_cpu / backlog.size, 2), "load_avg_1min": round(os.getloadavg()[0], 2), "invariants": counts}


def failover(servers, clients: int, rounds: int, timeout: float) -> dict[str, Any]:
    with fresh_database("oa_bench") as url:
        desk = SharedDesk(Path(tempfile.mkdtemp(dir=servers.base)), servers.dovecot, servers.sink,
                          servers.new_user, url, lease_seconds=10, fetch_batch=10, quota=1000)
        servers.sink.clear()
        try:
            backlog = desk.backlog(clients, rounds)
            desk.start("a")
            desk.start("b")
            while desk.processed() < backlog.size // 2:
                time.sleep(0.05)
            holder = desk.lock_holder()
            victim = desk.name_of(holder)
            fetched = SpoolEntry.select().count()
            desk.kill(victim)  # the master and its runners at once, as a host dies
            killed = time.monotonic()
            desk.procs[victim].wait()
            while desk.lock_holder() in (None, holder):
                if time.monotonic() - killed > 30:
                    raise SystemExit("bench: no standby took the fetch lock in 30 s")
                time.sleep(0.02)
            takeover = time.monotonic() - killed
            settled = desk.wait_settled(backlog, timeout=timeout)
            counts = desk.check(backlog)
        finally:
            desk.stop_all()
            close_db()
    return {"mails": backlog.size, "clients": clients, "killed": victim, "fetched_at_kill": fetched,
            "takeover_s": round(takeover, 2), "settled_after_kill_s": round(settled + takeover, 1),
            "invariants": counts}


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run of median rate, with every sample's rate beside it."""
    ordered = sorted(runs, key=lambda r: r["mails_per_s"])
    chosen = dict(ordered[len(ordered) // 2])
    chosen["samples_mails_per_s"] = [r["mails_per_s"] for r in runs]
    chosen["samples_cpu_ms_per_mail"] = [r["cpu_ms_per_mail"] for r in runs]
    chosen["samples_pg_cpu_ms_per_mail"] = [r["pg_cpu_ms_per_mail"] for r in runs]
    return chosen


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.shared_store", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--store", choices=("postgresql",), default="postgresql",
                   help="the shared store (PostgreSQL on 127.0.0.1:5432; SQLite is one daemon: bench.ingest)")
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts to compare (default 1 2)")
    p.add_argument("--clients", type=int, default=50, help="clients (default 50)")
    p.add_argument("--rounds", type=int, default=5,
                   help="tasks per client, each followed by a reply (default 5: 500 mails of 50 clients)")
    p.add_argument("--repeat", type=int, default=3, help="runs per worker count, interleaved; the median is "
                   "reported (default 3)")
    p.add_argument("--failover", action="store_true", help="kill -9 the fetcher half way instead")
    p.add_argument("--daemons", action="store_true", help="K whole daemons on the store, not K workers of one")
    p.add_argument("--timeout", type=float, default=300.0)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    result: dict[str, Any] = {"bench": "shared_store", "command": " ".join(["python -m bench.shared_store",
                                                                              *(argv or sys.argv[1:])]),
                              "code": code_state(), "cpus": os.cpu_count()}
    with bench_servers() as servers:
        if args.failover:
            result["failover"] = failover(servers, args.clients, args.rounds, args.timeout)
            say(f"failover: {result['failover']}")
        else:
            samples: dict[int, list[dict[str, Any]]] = {k: [] for k in args.workers}
            # Interleaved (1, 2, 1, 2...): a neighbour's load on a shared machine hits every K alike.
            for _ in range(args.repeat):
                for k in args.workers:
                    samples[k].append(throughput(servers, k, args.clients, args.rounds, args.timeout, args.daemons))
                    say(f"K={k}: {samples[k][-1]}")
            runs = [_median(samples[k]) for k in args.workers]
            base = runs[0]
            for run in runs:
                run["rate_vs_first"] = round(run["mails_per_s"] / base["mails_per_s"], 2)
                run["cpu_vs_first"] = round(run["cpu_ms_per_mail"] / base["cpu_ms_per_mail"], 2)
            result["runs"] = runs
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=1))
    else:
        for run in result.get("runs", []):
            print(f"K={run['workers']}: {run['mails_per_s']} mails/s ({run['rate_vs_first']} x K={args.workers[0]}), "
                  f"{run['cpu_ms_per_mail']} ms CPU/mail ({run['cpu_vs_first']} x), {run['mails']} mails in "
                  f"{run['seconds']} s (median of {run['samples_mails_per_s']} mails/s, "
                  f"{run['samples_cpu_ms_per_mail']} ms CPU/mail, PostgreSQL "
                  f"{run['samples_pg_cpu_ms_per_mail']} ms/mail; machine load {run['load_avg_1min']}); "
                  f"{run['invariants']}")
        if "failover" in result:
            print(f"failover: {result['failover']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
