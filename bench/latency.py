"""Single-mail latency: APPEND of one client mail -> its acknowledgement accepted by the SMTP sink.

    python -m bench.latency                 # 50 mails, human summary
    python -m bench.latency --json          # one JSON document on stdout

The daemon runs as its own process (`python -m daemon --config X run`, IMAP IDLE). Each
mail is a new task from a registered client, appended to the support INBOX only after
the previous mail's ack arrived. Latency = the sink's arrival time of the ack (time of
the final dot, time.monotonic(), same clock) minus time.monotonic() just before APPEND.

Baseline, measured in the same run and interleaved with the daemon's samples so the
machine's noise hits both alike: a second mailbox, one plain imapclient connection in
IDLE, another APPENDing the same bytes; baseline = APPEND start -> the IDLE connection
sees EXISTS. It is the IMAP part of the daemon's latency, with nothing of the daemon.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/latency.py` works as well as `python -m bench.latency`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (  # noqa: E402
    BenchDesk,
    Progress,
    bench_main,
    bench_servers,
    checks_lines,
    code_state,
    dovecot_version,
    percentile,
    say,
)
from bench.corpus import Client, client_names, generate  # noqa: E402
from bench.cpu import (  # noqa: E402
    CpuWindow,
    busy_note,
    process_cpu_seconds,
)
from bench.daemon_process import (  # noqa: E402
    DaemonProcess,
    StoreReader,
)

TARGET_P95 = 1.0  # seconds, APPEND -> ack accepted


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.latency", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mails", type=int, default=50, help="measured mails (default 50)")
    p.add_argument("--warmup", type=int, default=2, help="mails sent first and not counted (default 2)")
    p.add_argument("--clients", type=int, default=5, help="registered senders (default 5)")
    p.add_argument("--attach-share", type=float, default=0.0,
                   help="share of mails with a 50 KB-2 MB file (default 0: typical single mails)")
    p.add_argument("--gap", type=float, default=0.2,
                   help="pause after each sample, so each mail finds the daemon idle in IDLE (default 0.2 s)")
    p.add_argument("--timeout", type=float, default=30.0, help="give up waiting for one ack after this (default 30 s)")
    p.add_argument("--seed", type=int, default=2, help="corpus RNG seed (default 2)")
    p.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    p.add_argument("--keep", action="store_true", help="keep the temp folder (config, store, daemon log)")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of the summary")
    args = p.parse_args(argv)
    if args.mails < 1:
        p.error("--mails must be at least 1")
    return args


def stats(values: list[float]) -> dict[str, float]:
    return {"p50": round(percentile(values, 50), 4), "p95": round(percentile(values, 95), 4),
            "max": round(max(values), 4), "min": round(min(values), 4),
            "mean": round(statistics.fmean(values), 4)}


def run(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {
        "bench": "latency",
        "command": "python -m bench.latency " + " ".join(sys.argv[1:]),
        "code": code_state(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "dovecot": dovecot_version()},
        "settings": {"mails": args.mails, "warmup": args.warmup, "clients": args.clients,
                     "attach_share": args.attach_share, "gap_seconds": args.gap, "seed": args.seed,
                     "log_level": args.log_level,
                     "sink": "record-only SMTP sink (deliver=None): acks are not delivered into Dovecot"},
    }
    problems: list[str] = []
    daemon_ms: list[float] = []
    baseline_ms: list[float] = []
    with bench_servers(keep=args.keep) as servers:
        dovecot, sink = servers.dovecot, servers.sink
        total = args.mails + args.warmup
        desk = BenchDesk(servers, autoreply_limit=total + 10, log_level=args.log_level)
        clients = [Client(desk.add_client(f"client{i:02d}", name=name, lang="ru"), name)
                   for i, name in enumerate(client_names(args.clients, args.seed))]
        probe = servers.new_user("probe")
        desk.close()
        mails = list(generate(clients, desk.support, total, seed=args.seed, reply_share=0.0,
                              attach_share=args.attach_share))

        daemon = DaemonProcess(desk.config_path, desk.tmp / "daemon.log")
        appender = dovecot.connect(probe)
        idler = dovecot.connect(probe)
        window = CpuWindow()
        try:
            daemon.start()
            ready = daemon.wait_ready()
            say(f"daemon ready (READY=1) after {ready:.2f} s; {args.warmup} warm-up + {args.mails} mails")
            window.start(daemon.pid, dovecot.master_pid)
            idler.select_folder("INBOX")
            idler.idle()
            progress = Progress()
            for i, mail in enumerate(mails):
                measured = i >= args.warmup
                # The baseline: same bytes, a plain APPEND, seen by a plain IDLE connection.
                started = time.monotonic()
                appender.append("INBOX", mail.raw)
                seen = _wait_exists(idler, started + args.timeout)
                if seen is None:
                    problems.append(f"baseline mail {i}: no EXISTS within {args.timeout:.0f} s")
                elif measured:
                    baseline_ms.append((seen - started) * 1000)
                idler.idle_done()
                idler.idle()
                time.sleep(args.gap)
                # The daemon: APPEND to the support INBOX, wait for the ack to this sender.
                mid = mail.message_id.encode()
                sender = mail.sender
                started = time.monotonic()
                desk.deliver(mail.raw)
                try:
                    (ack,) = sink.wait_for(lambda m, mid=mid, sender=sender: m.rcpt_tos == (sender,) and mid in m.raw,
                                           timeout=args.timeout)
                except TimeoutError:
                    daemon.check_alive()
                    problems.append(f"mail {i}: no ack within {args.timeout:.0f} s")
                    continue
                if measured:
                    daemon_ms.append((ack.at - started) * 1000)
                time.sleep(args.gap)
                progress.tick(lambda: f"{len(daemon_ms)}/{args.mails} mails; last {daemon_ms[-1] if daemon_ms else 0:.0f} ms, "
                                      f"baseline {baseline_ms[-1] if baseline_ms else 0:.0f} ms")
            machine = window.stop()
            daemon.sample_rss()
            cpu = process_cpu_seconds(daemon.pid)
        finally:
            with contextlib.suppress(Exception):
                idler.idle_done()
            for client in (idler, appender):
                with contextlib.suppress(Exception):
                    client.logout()
            exit_code = daemon.stop()
        if exit_code != 0:
            problems.append(f"the daemon exited with {exit_code} on SIGTERM")
        reader = StoreReader(desk.db_path)
        entries = reader.entries_in()
        outcomes = reader.tally("SELECT outcome, count(*) FROM spool_entry GROUP BY outcome")
        reader.close()
        if entries != total:
            problems.append(f"{entries} ticket entries stored, expected {total}")
        warnings = daemon.log_problems()
        warning_kinds = daemon.log_problem_kinds()
        for kind, n in warning_kinds.items():
            problems.append(f"daemon log: {n} x {kind}")

    result["daemon"] = {
        "ready_seconds": round(ready, 3),
        "latency_ms": stats(daemon_ms) if daemon_ms else None,
        "samples_ms": [round(v, 1) for v in daemon_ms],
        "peak_rss_mib": round(daemon.peak_rss_kb / 1024, 1),
        "process_peak_rss_mib": {k: round(v / 1024, 1) for k, v in sorted(daemon.process_peaks_kb.items())},
        "cpu_seconds_total": round(cpu, 3),
        "machine": machine,
    }
    result["baseline"] = {
        "what": "APPEND by one plain imapclient connection -> EXISTS seen in IDLE by another (other mailbox)",
        "latency_ms": stats(baseline_ms) if baseline_ms else None,
        "samples_ms": [round(v, 1) for v in baseline_ms],
    }
    d, b = result["daemon"]["latency_ms"], result["baseline"]["latency_ms"]
    result["ratios"] = {
        "p50_over_baseline_p50": round(d["p50"] / b["p50"], 2) if d and b else None,
        "p95_over_baseline_p95": round(d["p95"] / b["p95"], 2) if d and b else None,
    }
    result["targets"] = {"p95_seconds": TARGET_P95, "met": bool(d and d["p95"] / 1000 < TARGET_P95)}
    result["store"] = {"entries_in": entries, "spool_outcomes": outcomes, "daemon_log_warnings": len(warnings),
                           "daemon_log_warning_kinds": warning_kinds}
    result["notes"] = [note for note in (busy_note(machine),) if note]
    result["problems"] = problems
    result["ok"] = not problems and len(daemon_ms) == args.mails
    return result


def _wait_exists(idler: Any, deadline: float) -> float | None:
    """time.monotonic() when the IDLE connection reports a new message, or None at the deadline."""
    while time.monotonic() < deadline:
        responses = idler.idle_check(timeout=max(0.01, min(1.0, deadline - time.monotonic())))
        if any(len(r) > 1 and r[1] == b"EXISTS" for r in responses):
            return time.monotonic()
    return None


def summary(r: dict[str, Any]) -> str:
    s, d, b, q = r["settings"], r["daemon"], r["baseline"], r["ratios"]

    def row(name: str, v: dict[str, float] | None) -> str:
        if not v:
            return f"  {name:<34} -"
        return f"  {name:<34} p50 {v['p50']:7.1f}   p95 {v['p95']:7.1f}   max {v['max']:7.1f}   mean {v['mean']:7.1f}"

    m = d["machine"]
    lines = [
        f"OneAssist latency benchmark — {s['mails']} single mails (after {s['warmup']} warm-up), "
        f"each appended after the previous ack, {s['gap_seconds']:.1f} s pauses",
        f"machine: {r['machine']['cpus']} CPUs, Python {r['machine']['python']}, Dovecot {r['machine']['dovecot']}",
        f"code: {r['code']['commit']} + {r['code']['uncommitted_files']} uncommitted file(s), "
        f"tree {r['code']['tree_sha256']}",
        f"SMTP: {s['sink']}.",
        "",
        "milliseconds:",
        row("daemon: APPEND -> ack at the sink", d["latency_ms"]),
        row("baseline: APPEND -> IDLE EXISTS", b["latency_ms"]),
        "",
        f"daemon / baseline               p50 x{q['p50_over_baseline_p50']}   p95 x{q['p95_over_baseline_p95']}",
        f"target p95 < {r['targets']['p95_seconds']:.0f} s                {'met' if r['targets']['met'] else 'NOT met'}",
        f"daemon: READY=1 after {d['ready_seconds']:.2f} s, peak RSS {d['peak_rss_mib']:.1f} MiB, "
        f"{d['cpu_seconds_total']:.2f} s CPU in all",
        f"machine meanwhile: {m['machine_busy_cpus']:.2f} of {r['machine']['cpus']} CPUs busy, "
        f"other processes {m['other_processes_cpus']:.2f} (load {m['loadavg_1min_end']:.1f})",
    ]
    lines += checks_lines(r, f"checks: {r['store']['entries_in']} entries, outcomes {r['store']['spool_outcomes']}, "
                             "no warnings in the daemon log")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    return bench_main(parse_args, run, summary, argv)


if __name__ == "__main__":
    sys.exit(main())
