"""Bulk intake: N client mails in the support mailbox, then the real daemon process drains them.

    python -m bench.ingest [--json]             # 1,000 mails, human summary (--json: one document)
    python -m bench.ingest --mails 5000 --rss-baseline bench/results/ingest-1000.json

What it does (README.md beside this file has the details and the figures):
1. starts Dovecot and a record-only SMTP sink (deliver=None) in a folder under /tmp,
   writes the desk config and registers the clients;
2. appends the corpus (bench/corpus.py) to the support INBOX before the daemon runs;
3. starts `python -m daemon --config X run` (IDLE service, not --once) and polls its
   SQLite store read-only until every mail has its ticket entry (Message, direction 'in')
   and the sink has accepted one acknowledgement per new task;
4. reads the daemon's peak RSS (VmHWM), stops it with SIGTERM, checks the store; 5. measures the floor in a fresh
   process: imapclient FETCH BODY.PEEK[] of the same mails in batches of 100, then aiosmtplib sends N acks.
"""

from __future__ import annotations

import argparse
import collections
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/ingest.py` works as well as `python -m bench.ingest`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (  # noqa: E402
    BenchDesk,
    Progress,
    append_all,
    bench_main,
    bench_servers,
    code_state,
    dovecot_version,
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
from bench.floors import (  # noqa: E402
    floor_fetch,
    floor_send,
    in_child,
)
from bench.ingest_summary import summary  # noqa: E402
from bench.profiling import start_py_spy, stop_py_spy  # noqa: E402

TARGET_RATE = 400.0  # ticket entries stored per second
TARGET_RATIO = 1.5  # end-to-end / floor
TARGET_RSS_GROWTH = 0.10  # peak RSS at 5,000 mails vs 1,000


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mails", type=int, default=1000, help="client mails to ingest (default 1000)")
    p.add_argument("--clients", type=int, default=50, help="registered senders (default 50)")
    p.add_argument("--attach-share", type=float, default=0.08,
                   help="share of mails with one 50 KB-2 MB file (default 0.08)")
    p.add_argument("--reply-share", type=float, default=1 / 3, help="share of replies (default 1/3)")
    p.add_argument("--seed", type=int, default=1, help="corpus RNG seed (default 1)")
    p.add_argument("--fetch-batch", type=int, default=100, help="daemon imap.fetch_batch (default 100)")
    p.add_argument("--floor-batch", type=int, default=100, help="FETCH batch of the floor loop (default 100)")
    p.add_argument("--floor-sends", type=int, default=None,
                   help="mails the floor's SMTP loop sends (default: --mails, as the issue defines it)")
    p.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                   help="the daemon's log level (default INFO, the production default)")
    p.add_argument("--timeout", type=float, default=None,
                   help="give up on the daemon after this many seconds (default 120 + 0.5 s per mail)")
    p.add_argument("--stall", type=float, default=60.0,
                   help="give up when nothing was stored, spooled or sent for this many seconds (default 60)")
    p.add_argument("--poll", type=float, default=0.05, help="store poll interval in seconds (default 0.05)")
    p.add_argument("--rss-baseline", type=Path, default=None,
                   help="a --json result of a smaller run: report this run's peak RSS growth against it")
    p.add_argument("--py-spy", type=Path, default=None,
                   help="attach py-spy to the daemon and write a profile here (.svg flamegraph, "
                        ".txt collapsed stacks, .json speedscope); the figures of such a run are not clean")
    p.add_argument("--keep", action="store_true", help="keep the temp folder (config, store, daemon log)")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of the summary")
    args = p.parse_args(argv)
    if args.mails < 1 or args.clients < 1:
        p.error("--mails and --clients must be at least 1")
    if args.timeout is None:
        args.timeout = 120 + 0.5 * args.mails
    if args.floor_sends is None:
        args.floor_sends = args.mails
    return args


def run(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {
        "bench": "ingest",
        "command": "python -m bench.ingest " + " ".join(sys.argv[1:]),
        "code": code_state(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "settings": {
            "mails": args.mails, "clients": args.clients, "attach_share": args.attach_share,
            "reply_share": round(args.reply_share, 4), "seed": args.seed, "fetch_batch": args.fetch_batch,
            "floor_batch": args.floor_batch, "floor_sends": args.floor_sends, "log_level": args.log_level,
            "sink": "record-only SMTP sink (deliver=None): acks are not delivered into Dovecot",
            "profiled": bool(args.py_spy),
        },
    }
    problems: list[str] = []
    with bench_servers(keep=args.keep) as servers:
        dovecot, sink = servers.dovecot, servers.sink
        result["machine"]["dovecot"] = dovecot_version()
        desk = BenchDesk(servers, autoreply_limit=args.mails + 1, log_level=args.log_level,
                         fetch_batch=args.fetch_batch)
        started = time.monotonic()
        clients = [Client(desk.add_client(f"client{i:02d}", name=name, lang="ru"), name)
                   for i, name in enumerate(client_names(args.clients, args.seed))]
        say(f"{len(clients)} clients registered in {time.monotonic() - started:.1f} s; store {desk.db_path}")
        desk.close()  # the daemon owns the store from here; we only read it (mode=ro)

        # -- the corpus, in the mailbox before the daemon starts --------------------------------
        kinds: collections.Counter[str] = collections.Counter()
        charsets: collections.Counter[str] = collections.Counter()
        attached = 0
        progress = Progress()

        def corpus():
            nonlocal attached
            for mail in generate(clients, desk.support, args.mails, seed=args.seed,
                                 attach_share=args.attach_share, reply_share=args.reply_share):
                kinds[mail.kind] += 1
                charsets[mail.charset] += 1
                attached += bool(mail.attachment_bytes)
                yield mail.raw

        started = time.monotonic()
        count, total = append_all(dovecot, desk.support, corpus(), on_chunk=lambda n, b: progress.tick(
            lambda: f"generated and appended {n}/{args.mails} mails ({b / 2**20:.0f} MiB)"))
        appended_in = time.monotonic() - started
        say(f"appended {count} mails ({total / 2**20:.1f} MiB) in {appended_in:.1f} s: "
            f"{kinds['new']} new tasks, {kinds['reply']} replies, {attached} with a file")
        result["corpus"] = {
            "mails": count, "bytes": total, "new_tasks": kinds["new"], "replies": kinds["reply"],
            "with_attachment": attached, "charsets": dict(charsets), "append_seconds": round(appended_in, 2),
        }
        expected_entries, expected_acks = count, kinds["new"]
        client_addresses = {c.email for c in clients}

        # -- the daemon -------------------------------------------------------------------------
        daemon = DaemonProcess(desk.config_path, desk.tmp / "daemon.log")
        reader = StoreReader(desk.db_path)
        spy = None
        t_first_spool = t_stored = t_acks_done = cpu_e2e = None
        last_entries, t_last_entry, cpu_last_entry = 0, None, 0.0
        last_moved: tuple[int, ...] = ()
        t_last_move = time.monotonic()
        rss_timeline: list[list[float]] = []
        window = CpuWindow()
        timed_out = False
        try:
            daemon.start()
            window = CpuWindow().start(daemon.pid, dovecot.master_pid)
            if args.py_spy:
                spy = start_py_spy(daemon.pid, args.py_spy)
            t0 = daemon.started_at
            assert t0 is not None
            deadline = t0 + args.timeout
            progress = Progress()
            state = {"entries": 0, "acks": 0, "rss": 0, "busy": 0}

            def line() -> str:
                rss_timeline.append([round(time.monotonic() - t0, 1), state["entries"],
                                     round(state["rss"] / 1024, 1)])
                return (f"daemon: {state['entries']}/{expected_entries} entries stored, "
                        f"{state['acks']}/{expected_acks} acks accepted, {state['busy']} mail(s) "
                        f"in the outbox, RSS {state['rss'] / 1024:.0f} MiB")

            while True:
                now = time.monotonic()
                daemon.check_alive()
                state["rss"] = daemon.sample_rss()[0]
                state["entries"] = entries = reader.entries_in()
                state["acks"] = acks = sum(1 for m in sink.received if m.rcpt_tos
                                           and m.rcpt_tos[0] in client_addresses)
                spooled = reader.spooled()
                if t_first_spool is None and spooled:
                    t_first_spool = now
                if entries > last_entries:
                    last_entries, t_last_entry = entries, now
                    cpu_last_entry = process_cpu_seconds(daemon.pid)
                moved = (entries, acks, len(sink.received), spooled)
                if moved != last_moved:
                    last_moved, t_last_move = moved, now
                if t_stored is None and entries >= expected_entries:
                    t_stored = now
                if t_stored is not None and acks >= expected_acks and t_acks_done is None:
                    t_acks_done = now
                    cpu_e2e = process_cpu_seconds(daemon.pid)
                    say(f"daemon: every entry stored and every ack accepted after {now - t0:.1f} s; "
                        "waiting for the rest of the outbox")
                if t_acks_done is not None:
                    # The other mail the daemon sends (staff notices...) is not in the
                    # end-to-end figure, but the run goes on until it has gone too.
                    state["busy"] = reader.scalar("SELECT count(*) FROM outbox WHERE status IN "
                                                  "('pending', 'sending')")
                    if state["busy"] == 0 and not reader.scalar(
                            "SELECT count(*) FROM spool_entry WHERE state = 'pending'"):
                        break
                if now > deadline or now - t_last_move > args.stall:
                    timed_out = True
                    why = (f"timed out after {args.timeout:.0f} s" if now > deadline else
                           f"no progress for {args.stall:.0f} s (nothing stored, spooled or sent)")
                    problems.append(f"{why}: {entries}/{expected_entries} entries, {acks}/{expected_acks} acks, "
                                    f"{reader.scalar('SELECT count(*) FROM spool_entry WHERE state = ?', 'pending')}"
                                    " spool entries still pending")
                    break
                progress.tick(line)
                time.sleep(args.poll)
            say("daemon: done" if not timed_out else "daemon: TIMED OUT")
            # A mail's own arrival time at the sink is exact; the store's is as fine as the poll.
            ack_times = sorted(m.at for m in sink.received if m.rcpt_tos and m.rcpt_tos[0] in client_addresses)
            t_acked = ack_times[expected_acks - 1] if len(ack_times) >= expected_acks and expected_acks else \
                (t_stored if not expected_acks else None)
            # Anything still on its way (a late extra mail, an alert) shows up in this second.
            time.sleep(1.0)
            daemon.sample_rss()
            cpu_total = process_cpu_seconds(daemon.pid)
            daemon_window = window.stop()
            all_times = [m.at for m in sink.received]
            t_drained = max(all_times) if all_times and not timed_out else None
        finally:
            stop_py_spy(spy)
            exit_code = daemon.stop()
        if exit_code != 0:
            problems.append(f"the daemon exited with {exit_code} on SIGTERM")
        ready = (daemon.ready_at - t0) if daemon.ready_at else None

        # -- what the store says ----------------------------------------------------------------
        outcomes = reader.tally("SELECT outcome, count(*) FROM spool_entry GROUP BY outcome")
        spool_states = reader.tally("SELECT state, count(*) FROM spool_entry GROUP BY state")
        outbox = reader.tally("SELECT kind || ':' || status, count(*) FROM outbox GROUP BY kind, status")
        outbox_status = reader.tally("SELECT status, count(*) FROM outbox GROUP BY status")
        entries = reader.entries_in()
        reader.close()
        received = sink.received
        acks_received = [m for m in received if m.rcpt_tos and m.rcpt_tos[0] in client_addresses]
        others = collections.Counter(m.rcpt_tos[0] if m.rcpt_tos else "-" for m in received
                                     if not (m.rcpt_tos and m.rcpt_tos[0] in client_addresses))
        if entries != expected_entries:
            problems.append(f"{entries} ticket entries stored, expected {expected_entries}")
        if len(acks_received) != expected_acks:
            problems.append(f"{len(acks_received)} acks accepted by the sink, expected {expected_acks}")
        if outbox_status.get("dead") or outbox_status.get("pending") or outbox_status.get("sending"):
            problems.append(f"outbox not drained: {outbox_status}")
        if admins := sum(n for rcpt, n in others.items() if rcpt == desk.admin):
            problems.append(f"{admins} alert(s) to the admin reached the sink")
        if outcomes.get("new-ticket", 0) != expected_acks or outcomes.get("reply", 0) != kinds["reply"]:
            problems.append(f"spool outcomes {outcomes} do not match {expected_acks} new + {kinds['reply']} replies")
        warnings = daemon.log_problems()
        warning_kinds = daemon.log_problem_kinds()
        for kind, n in warning_kinds.items():
            problems.append(f"daemon log: {n} x {kind}")
        ack_sizes = [len(m.raw) for m in acks_received]

        result["daemon"] = {
            "ready_seconds": _r(ready),
            "first_spooled_seconds": _r(t_first_spool - t0 if t_first_spool else None),
            "stored_seconds": _r(t_stored - t0 if t_stored else None),
            # When not every entry was stored: how many were, and when the last of them was.
            "entries_stored": last_entries,
            "last_entry_seconds": _r(t_last_entry - t0 if t_last_entry else None),
            "acked_seconds": _r(t_acked - t0 if t_acked else None),
            "end_to_end_seconds": _r(max(t_stored, t_acked) - t0 if t_stored and t_acked else None),
            "end_to_end_after_ready_seconds": _r(max(t_stored, t_acked) - daemon.ready_at
                                                  if t_stored and t_acked and daemon.ready_at else None),
            "stored_per_second": _r(expected_entries / (t_stored - t0) if t_stored else None),
            # The same without the start-up (imports, the store, IMAP login): the rate a running
            # daemon keeps, from the first mail in the spool to the last entry stored.
            "stored_per_second_after_first_spool": _r(expected_entries / (t_stored - t_first_spool)
                                                      if t_stored and t_first_spool and t_stored > t_first_spool
                                                      else None),
            "all_outgoing_accepted_seconds": _r(t_drained - t0 if t_drained else None),
            "outgoing_mails": len(received),
            "other_outgoing_by_recipient": dict(others),
            # The sum of every process's own peak: an upper bound of the desk at any one moment.
            "peak_rss_mib": round(daemon.peak_rss_kb / 1024, 1),
            "process_peak_rss_mib": {k: round(v / 1024, 1) for k, v in sorted(daemon.process_peaks_kb.items())},
            "desk_rss_sampled_peak_mib": round(daemon.desk_rss_peak_kb / 1024, 1),
            "process_cpu_seconds": {k: round(v, 2) for k, v in sorted(daemon.process_cpu.items())},
            "exit_code": exit_code,
            "ack_bytes_mean": round(sum(ack_sizes) / len(ack_sizes)) if ack_sizes else None,
            "poll_interval_seconds": args.poll,
            # CPU time does not grow when other processes take the CPUs; wall time does.
            "cpu_seconds_to_end_to_end": _r(cpu_e2e),
            "cpu_ms_per_mail": _r(cpu_e2e * 1000 / expected_entries if cpu_e2e else None, 2),
            "cpu_seconds_to_last_entry": _r(cpu_last_entry),
            "cpu_seconds_total": _r(cpu_total),
            # [seconds since Popen, entries stored, RSS MiB], one every progress line (~3 s).
            "rss_timeline": rss_timeline,
            "machine": daemon_window,
        }
        result["store"] = {"entries_in": entries, "spool_outcomes": outcomes, "spool_states": spool_states,
                           "outbox": outbox, "daemon_log_warnings": len(warnings),
                           "daemon_log_warning_kinds": warning_kinds}

        # -- the floor, in a fresh process, on the same Dovecot and sink ------------------------
        folder = desk.settings.imap.processed_folder
        say(f"floor: FETCH BODY.PEEK[] of {folder} in batches of {args.floor_batch}")
        floor_window = CpuWindow().start(None, dovecot.master_pid)
        fetch = in_child(floor_fetch, "127.0.0.1", dovecot.imap_port, desk.support, "secret", folder,
                         args.floor_batch)
        if fetch["mails"] != count:
            problems.append(f"the floor fetched {fetch['mails']} mails from {folder}, expected {count}")
        if acks_received:
            samples = [(m.mail_from, m.rcpt_tos[0], m.raw) for m in acks_received[:200]]
        else:  # the daemon sent nothing: a 3 KB stand-in keeps the floor measurable
            samples = [("support+bounces@example.test", "client@example.test", _stand_in_ack())]
        mails = [samples[i % len(samples)] for i in range(args.floor_sends)]
        say(f"floor: {len(mails)} mails of ~{sum(len(m[2]) for m in mails) // len(mails)} bytes "
            f"over one SMTP connection")
        sink.clear()
        send = in_child(floor_send, "127.0.0.1", sink.port, mails)
        if len(sink.received) != len(mails):
            problems.append(f"the floor's {len(mails)} mails became {len(sink.received)} at the sink")
        floor_machine = floor_window.stop()
        per_send = send["seconds"] / max(1, send["mails"])
        result["floor"] = {
            "fetch": {k: _r(v) if isinstance(v, float) else v for k, v in fetch.items()},
            "send": {k: _r(v) if isinstance(v, float) else v for k, v in send.items()},
            "seconds": _r(fetch["seconds"] + send["seconds"]),
            # One send per ack actually due, instead of one per mail as the floor has it.
            "like_for_like_seconds": _r(fetch["seconds"] + per_send * expected_acks),
            "cpu_seconds": _r(fetch["cpu_seconds"] + send["cpu_seconds"]),
            "machine": floor_machine,
            # The most mails per second one core can even fetch and parse with this stack.
            "fetch_and_parse_per_cpu_second": _r(fetch["mails"] / max(
                1e-9, fetch["cpu_seconds"] + fetch["stdlib_parse_cpu_seconds"])),
        }

    d, f = result["daemon"], result["floor"]
    e2e, e2e_ready = d["end_to_end_seconds"], d["end_to_end_after_ready_seconds"]
    result["ratios"] = {
        "end_to_end_over_floor": _r(e2e / f["seconds"] if e2e else None),
        "end_to_end_after_ready_over_floor": _r(e2e_ready / f["seconds"] if e2e_ready else None),
        "end_to_end_over_like_for_like_floor": _r(e2e / f["like_for_like_seconds"] if e2e else None),
        "stored_rate_over_target": _r(d["stored_per_second"] / TARGET_RATE if d["stored_per_second"] else None),
    }
    result["targets"] = {
        "stored_per_second": TARGET_RATE, "end_to_end_over_floor": TARGET_RATIO,
        "stored_rate_met": bool(d["stored_per_second"] and d["stored_per_second"] >= TARGET_RATE),
        "ratio_met": bool(result["ratios"]["end_to_end_over_floor"]
                          and result["ratios"]["end_to_end_over_floor"] <= TARGET_RATIO),
    }
    if args.rss_baseline:
        import json

        base = json.loads(args.rss_baseline.read_text(encoding="utf-8"))
        base_rss = base["daemon"]["peak_rss_mib"]
        growth = (d["peak_rss_mib"] - base_rss) / base_rss
        base_processes = base["daemon"].get("process_peak_rss_mib", {})
        result["rss_growth_per_process"] = {
            name: round((mib - base_processes[name]) / base_processes[name], 4)
            for name, mib in d["process_peak_rss_mib"].items() if base_processes.get(name)}
        result["rss_growth"] = {"baseline_file": str(args.rss_baseline), "baseline_mails": base["settings"]["mails"],
                                "baseline_peak_rss_mib": base_rss, "growth": round(growth, 4),
                                "target": TARGET_RSS_GROWTH, "met": growth <= TARGET_RSS_GROWTH}
    result["notes"] = [note for note in (busy_note(d["machine"]), busy_note(f["machine"])) if note]
    result["problems"] = problems
    result["ok"] = not problems
    return result


def _r(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def _stand_in_ack() -> bytes:
    body = ("Ваша задача принята и зарегистрирована. " * 60).encode()
    return b"From: support@example.test\r\nTo: client@example.test\r\nSubject: ack\r\n" \
           b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + body


def main(argv: list[str] | None = None) -> int:
    given = sys.argv[1:] if argv is None else argv
    if "postgresql" in given or "--store=postgresql" in given:
        # `--store postgresql --workers K`: K daemons on one PostgreSQL store (bench/shared_store.py).
        from bench.shared_store import main as shared_store

        return shared_store(given)
    return bench_main(parse_args, run, summary, argv)


if __name__ == "__main__":
    sys.exit(main())
