"""An hour of chaos: the real daemon under 5 x peak load with a fault every 5-10 minutes.

    python -m bench.soak                        # 60 minutes, summary on stdout
    python -m bench.soak --minutes 5 --json     # a short run, one JSON document

Load: 2,000 client mails an hour is the expected peak; the soak sends 5 x that (10,000 an
hour, Poisson arrivals) from 60 clients: new tasks and replies (bench/corpus.py), 5 %
malformed, 5 % automatic, and staff answers by tag to the manager notices the sink saw.
Faults (bench/soak_faults.py): IMAP reset through a TCP proxy, SMTP 451 for 3 minutes,
kill -9 of the daemon, the store write-locked for 30 s. The daemon is
`python -m daemon --config X run` against Debian's Dovecot (through the proxy) and a
record-only SMTP sink, with the production defaults except the flood caps per address,
which are raised: at 5 x peak each client sends ~170 mails an hour, and the soak
measures every acknowledgement rather than the caps.

Figures: arrival (APPEND) -> acknowledgement at the sink p50/p99/max; mails lost (every
appended Message-ID must be in the spool, the intake empty); duplicate ticket entries;
duplicate acks against the kills that landed between a 250 and the outbox update; RSS,
open files and IMAP connections at minute 10 and at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import random
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (  # noqa: E402
    BenchDesk,
    bench_main,
    bench_servers,
    checks_lines,
    code_state,
    percentile,
    say,
)
from bench.corpus import Client, client_names  # noqa: E402
from bench.daemon_process import DaemonProcess, StoreReader  # noqa: E402
from bench.soak_faults import Faults, observe  # noqa: E402
from bench.soak_load import MID, Ledger, Traffic, norm  # noqa: E402
from daemon.sandbox.tcp_proxy import TcpProxy  # noqa: E402

PEAK_PER_HOUR = 2000


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=60.0, help="load phase (default 60)")
    p.add_argument("--factor", type=float, default=5.0, help="times the peak of 2,000 mails/h (default 5)")
    p.add_argument("--clients", type=int, default=60)
    p.add_argument("--first-fault", type=float, default=None,
                   help="minutes to the first fault (default: drawn, 5-10)")
    p.add_argument("--fault-every", type=float, default=None,
                   help="minutes between faults (default: drawn, 5-10; a short trial run sets it)")
    p.add_argument("--drain", type=float, default=900.0, help="seconds to wait for the backlog after the load")
    p.add_argument("--seed", type=int, default=14)
    p.add_argument("--keep", action="store_true")
    p.add_argument("--json", action="store_true")
    return p.parse_args(argv)


class SoakDesk(BenchDesk):
    def __init__(self, servers: Any, proxy_port: int, **kw: Any) -> None:
        self.proxy_port = proxy_port
        super().__init__(servers, **kw)

    def write_config(self, **config: Any) -> Path:
        path = super().write_config(**config)
        text = path.read_text(encoding="utf-8")
        text = text.replace(f"port = {self.dovecot.imap_port}\n", f"port = {self.proxy_port}\n", 1)
        text = text.replace("max_attempts = 4\n", "")  # the production default (12)
        text = text.replace("[service]\n", "[service]\nstaff_notifications_per_source_per_hour = 100000\n"
                            "alerts_per_source_per_hour = 100000\n", 1)
        path.write_text(text, encoding="utf-8")
        return path


def run(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {"bench": "soak", "command": "python -m bench.soak " + " ".join(sys.argv[1:]),
                              "code": code_state(),
                              "machine": {"cpus": os.cpu_count(), "python": platform.python_version()}}
    problems: list[str] = []
    rate = PEAK_PER_HOUR * args.factor / 3600.0
    # Its own prefix: an hour is long, and a cleanup of stale oneassist-bench-* folders by
    # another run on this shared machine deleted a trial's mailboxes under it.
    with bench_servers(keep=args.keep, prefix="oa-soak-") as servers:
        proxy = TcpProxy("127.0.0.1", servers.dovecot.imap_port).start()
        desk = SoakDesk(servers, proxy.port, autoreply_limit=10**6)
        clients = [Client(desk.add_client(f"client{i:02d}", name=name), name)
                   for i, name in enumerate(client_names(args.clients, args.seed))]
        desk.close()
        ledger = Ledger(frozenset(c.email.lower() for c in clients), desk.manager.lower())
        traffic = Traffic(clients, desk.support, desk.manager, args.seed)
        faults = Faults(proxy, servers.sink, desk.db_path, args.seed)
        daemon = DaemonProcess(desk.config_path, desk.tmp / "daemon.log").start()
        daemon.wait_ready(timeout=120)
        appender = servers.dovecot.connect(desk.support)
        rng = random.Random(args.seed)
        samples: list[dict[str, Any]] = []
        start = time.monotonic()
        end = start + args.minutes * 60
        next_mail = start
        next_fault = start + (args.first_fault * 60 if args.first_fault is not None else faults.next_gap())
        next_sample = start + 60
        try:
            while (now := time.monotonic()) < end:
                if now >= next_mail:
                    mid, kind, raw = traffic.next(ledger)
                    ledger.note_appended(mid, kind, time.monotonic())
                    appender = _append(servers.dovecot, desk.support, appender, raw)
                    next_mail += rng.expovariate(rate)
                    continue
                ledger.take(servers.sink.take())
                if daemon.proc is not None and daemon.proc.poll() is not None:
                    problems.append(f"minute {(now - start) / 60:.1f}: the daemon exited by itself "
                                    f"({daemon.proc.returncode}); restarted")
                    daemon = DaemonProcess(daemon.config, daemon.log_path).start()
                    daemon.wait_ready(timeout=120)
                if now >= next_fault:
                    kind = faults.draw()
                    say(f"fault: {kind} at minute {(now - start) / 60:.1f}")
                    daemon = faults.inject(kind, (now - start) / 60, daemon, ledger)
                    next_fault = time.monotonic() + (args.fault_every * 60 if args.fault_every
                                                     else faults.next_gap())
                if now >= next_sample:
                    sample = {"minute": round((now - start) / 60), **observe(daemon, proxy),
                              "appended": len(ledger.appended), "acks": len(ledger.acks)}
                    samples.append(sample)
                    say(f"{sample}")
                    next_sample += 60
                time.sleep(max(0.0, min(0.2, next_mail - time.monotonic())))
            final = {"minute": round((time.monotonic() - start) / 60, 1), **observe(daemon, proxy)}
            say(f"load done ({len(ledger.appended)} mails); draining")
            drained = _drain(args.drain, servers, desk, ledger, daemon)
            exit_code = daemon.stop(timeout=60)
        finally:
            with contextlib.suppress(Exception):
                appender.logout()
            if daemon.proc is not None and daemon.proc.poll() is None:
                daemon.stop()
            proxy.stop()
        result.update(_figures(args, desk, ledger, faults, samples, final, daemon, servers))
        if not drained:
            problems.append(f"the backlog did not drain within {args.drain:.0f} s")
        if exit_code != 0:
            problems.append(f"the daemon exited with {exit_code} on SIGTERM")
    result["problems"] = problems + result.pop("_problems")
    result["notes"] = ["the figures measure the code named under code, as it was when the run started"]
    result["ok"] = not result["problems"]
    return result


def _append(dovecot: Any, user: str, client: Any, raw: bytes) -> Any:
    for attempt in range(3):
        try:
            client.append("INBOX", raw)
            return client
        except Exception:  # noqa: BLE001 - our own connection to Dovecot broke: open another
            with contextlib.suppress(Exception):
                client.logout()
            time.sleep(0.5 * (attempt + 1))
            client = dovecot.connect(user)
    client.append("INBOX", raw)
    return client


def _drain(seconds: float, servers: Any, desk: Any, ledger: Ledger, daemon: DaemonProcess) -> bool:
    deadline = time.monotonic() + seconds
    reader = StoreReader(desk.db_path)
    try:
        while time.monotonic() < deadline:
            ledger.take(servers.sink.take())
            waiting = reader.scalar("SELECT count(*) FROM outbox WHERE status IN ('pending', 'sending')")
            pending = reader.scalar("SELECT count(*) FROM spool_entry WHERE state = 'pending'")
            if (not servers.dovecot.folder_uids(desk.support) and not waiting and not pending
                    and not ledger.missing_acks()):
                return True
            daemon.check_alive()
            time.sleep(2)
        return False
    finally:
        reader.close()


def _figures(args: argparse.Namespace, desk: Any, ledger: Ledger, faults: Faults, samples: list[dict[str, Any]],
             final: dict[str, Any], daemon: DaemonProcess, servers: Any) -> dict[str, Any]:
    problems: list[str] = []
    reader = StoreReader(desk.db_path)
    try:
        spooled: dict[str, int] = {}
        for (raw,) in reader.db.execute("SELECT raw FROM spool_body"):
            found = MID.search(bytes(raw[:65536]))
            if found:
                key = norm(found.group(1).decode("ascii", "replace"))
                spooled[key] = spooled.get(key, 0) + 1
        dup_entries = reader.scalar(
            "SELECT count(*) FROM (SELECT message_id FROM message WHERE direction IN ('in', 'staff') "
            "AND message_id IS NOT NULL GROUP BY message_id HAVING count(*) > 1)")
        outcomes = reader.tally("SELECT outcome, count(*) FROM spool_entry GROUP BY outcome")
        outbox = reader.tally("SELECT status, count(*) FROM outbox GROUP BY status")
        tickets = reader.scalar("SELECT count(*) FROM ticket")
    finally:
        reader.close()
    lost = [mid for mid in ledger.appended if mid not in spooled]
    left = servers.dovecot.folder_uids(desk.support)
    lat = ledger.latencies()
    dup_acks = ledger.duplicate_acks()
    if lost:
        problems.append(f"{len(lost)} mail(s) lost (not in the spool), e.g. {lost[:3]}")
    if dup_entries:
        problems.append(f"{dup_entries} duplicate ticket entries")
    if dup_acks > faults.kills_in_window:
        problems.append(f"{dup_acks} duplicate acks, more than the {faults.kills_in_window} kill(s) in the 250 window")
    if ledger.missing_acks():
        problems.append(f"{len(ledger.missing_acks())} new task(s) never acknowledged")
    at10 = next((s for s in samples if s["minute"] >= 10), None)
    kinds = daemon.log_problem_kinds()
    return {
        "settings": {"minutes": args.minutes, "factor": args.factor, "mails_per_hour": PEAK_PER_HOUR * args.factor,
                     "clients": args.clients, "seed": args.seed},
        "mails": {"appended": len(ledger.appended),
                  "by_kind": {k: sum(1 for s in ledger.appended.values() if s.kind == k)
                              for k in ("new", "reply", "malformed", "automatic", "staff")},
                  "lost": len(lost), "left_in_intake": len(left), "tickets": tickets,
                  "spool_outcomes": outcomes, "outbox": outbox, "sink_received": ledger.received},
        "latency_seconds": ({"p50": round(percentile(lat, 50), 3), "p99": round(percentile(lat, 99), 3),
                             "max": round(max(lat), 3), "samples": len(lat)} if lat else None),
        "duplicate_ticket_entries": dup_entries,
        "duplicate_acks": dup_acks,
        "kills_in_250_window": faults.kills_in_window,
        "faults": faults.log,
        "minute_10": at10, "end_of_load": final, "timeline": samples,
        "daemon_log_problem_kinds": dict(list(kinds.items())[:30]),
        "_problems": problems,
    }


def summary(r: dict[str, Any]) -> str:
    m, lat = r["mails"], r["latency_seconds"] or {}
    lines = [
        f"OneAssist soak — {r['settings']['minutes']:g} min at {r['settings']['mails_per_hour']:.0f} mails/h, "
        f"{r['settings']['clients']} clients; code {r['code']['commit']} "
        f"(+{r['code']['uncommitted_files']} uncommitted, tree {r['code']['tree_sha256']})",
        f"mails appended {m['appended']} {m['by_kind']}; lost {m['lost']}; left in intake {m['left_in_intake']}",
        f"arrival -> ack: p50 {lat.get('p50')} s, p99 {lat.get('p99')} s, max {lat.get('max')} s "
        f"({lat.get('samples')} acks)",
        f"duplicate ticket entries {r['duplicate_ticket_entries']}; duplicate acks {r['duplicate_acks']} "
        f"(kills in the 250 window: {r['kills_in_250_window']})",
        f"faults: {', '.join(f['kind'] + '@' + str(f['minute']) for f in r['faults'])}",
        f"minute 10: {r['minute_10']}",
        f"end of load: {r['end_of_load']}",
        f"spool outcomes {m['spool_outcomes']}; outbox {m['outbox']}; tickets {m['tickets']}",
        "daemon log (WARNING and worse, by kind):",
        *[f"  {n} x {k}" for k, n in r["daemon_log_problem_kinds"].items()],
    ]
    lines += checks_lines(r, "checks: nothing lost, no duplicate entries, duplicate acks within the kills")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    return bench_main(parse_args, run, summary, argv)


if __name__ == "__main__":
    sys.exit(main())
