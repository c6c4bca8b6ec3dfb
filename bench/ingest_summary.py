"""The human summary of one `python -m bench.ingest` run, from the JSON document it prints."""

from __future__ import annotations

from typing import Any

from bench.common import checks_lines


def summary(r: dict[str, Any]) -> str:
    s, c, d, f, q = r["settings"], r["corpus"], r["daemon"], r["floor"], r["ratios"]
    t = r["targets"]

    def sec(v: float | None) -> str:
        return "-" if v is None else f"{v:.2f} s"

    def mark(ok: bool) -> str:
        return "met" if ok else "NOT met"

    def stored_line() -> str:
        target = f"x the {t['stored_per_second']:.0f}/s target: {mark(t['stored_rate_met'])}"
        if d["stored_seconds"]:
            return (f"  every ticket entry stored     {sec(d['stored_seconds'])}   -> "
                    f"{d['stored_per_second']:.0f} mails/s ({q['stored_rate_over_target']:.2f} {target})")
        rate = d["entries_stored"] / d["last_entry_seconds"] if d["last_entry_seconds"] else 0.0
        return (f"  every ticket entry stored     NEVER: {d['entries_stored']}/{c['mails']} after "
                f"{sec(d['last_entry_seconds'])}, then none ({rate:.0f} mails/s until then; "
                f"{rate / t['stored_per_second']:.2f} {target})")

    lines = [
        f"OneAssist ingest benchmark — {c['mails']} mails from {s['clients']} clients "
        f"({c['new_tasks']} new tasks, {c['replies']} replies, {c['with_attachment']} with a 50 KB-2 MB file, "
        f"{c['bytes'] / 2**20:.1f} MiB; charsets {c['charsets']})",
        f"machine: {r['machine']['cpus']} CPUs, Python {r['machine']['python']}, "
        f"Dovecot {r['machine'].get('dovecot', '?')}",
        f"code: {r['code']['commit']} + {r['code']['uncommitted_files']} uncommitted file(s), "
        f"tree {r['code']['tree_sha256']}",
        f"SMTP: {s['sink']}.",
        "",
        "daemon (python -m daemon run, IDLE; clock starts at Popen):",
        f"  ready (READY=1)               {sec(d['ready_seconds'])}",
        f"  first mail spooled            {sec(d['first_spooled_seconds'])}",
        stored_line(),
        f"  stored per second after the first mail was spooled: "
        f"{d.get('stored_per_second_after_first_spool') or 0:.0f} (start-up left out)",
        f"  every ack accepted by sink    {sec(d['acked_seconds'])}   ({c['new_tasks']} acks, "
        f"~{d['ack_bytes_mean'] or 0} bytes each)",
        f"  end-to-end                    {sec(d['end_to_end_seconds'])}   "
        f"(after READY=1: {sec(d['end_to_end_after_ready_seconds'])})",
        f"  all outgoing mail accepted    {sec(d['all_outgoing_accepted_seconds'])}   "
        f"({d['outgoing_mails']} mails: the acks + {d['outgoing_mails'] - c['new_tasks']} others, "
        f"by kind {r['store']['outbox']}; not part of end-to-end)",
        f"  peak RSS (VmHWM)              {d['peak_rss_mib']:.1f} MiB, the sum of each process's peak "
        f"(sampled whole desk at most {d.get('desk_rss_sampled_peak_mib', 0):.1f} MiB)",
        "  per process                   " + ", ".join(
            f"{name} {mib:.1f}" for name, mib in d.get("process_peak_rss_mib", {}).items()) + " MiB",
        (f"  daemon CPU until end-to-end   {d['cpu_seconds_to_end_to_end']:.2f} s "
         f"= {d['cpu_ms_per_mail']:.1f} ms per mail" if d["cpu_seconds_to_end_to_end"] else
         f"  daemon CPU until last entry   {d['cpu_seconds_to_last_entry']:.2f} s "
         f"= {d['cpu_seconds_to_last_entry'] * 1000 / max(1, d['entries_stored']):.1f} ms per entry") +
        f" (floor: {f['cpu_seconds']:.2f} s CPU)",
        f"  machine meanwhile             {d['machine']['machine_busy_cpus']:.2f} of {r['machine']['cpus']} CPUs "
        f"busy: daemon {d['machine']['daemon_cpu_seconds'] / d['machine']['wall_seconds']:.2f}, "
        f"this script and sink {d['machine']['bench_cpu_seconds'] / d['machine']['wall_seconds']:.2f}, "
        f"Dovecot {d['machine']['dovecot_cpu_seconds'] / d['machine']['wall_seconds']:.2f}, "
        f"other processes {d['machine']['other_processes_cpus']:.2f} (load {d['machine']['loadavg_1min_end']:.1f})",
        "",
        "floor (plain loops in a fresh process, same Dovecot and sink):",
        f"  imapclient FETCH BODY.PEEK[]  {sec(f['fetch']['seconds'])}   ({f['fetch']['mails']} mails, "
        f"batches of {f['fetch']['batch']})",
        f"  aiosmtplib send, 1 connection {sec(f['send']['seconds'])}   ({f['send']['mails']} mails)",
        f"  floor = fetch + send          {sec(f['seconds'])}   ({f['cpu_seconds']:.2f} s CPU; other processes "
        f"kept {f['machine']['other_processes_cpus']:.2f} CPUs busy meanwhile)",
        f"  not in the floor: stdlib parse {f['fetch']['stdlib_parse_cpu_seconds']:.2f} s CPU "
        f"(email.message_from_bytes); FETCH + parse alone = {f['fetch_and_parse_per_cpu_second']:.0f} "
        "mails per CPU second",
        "",
        f"end-to-end / floor              {q['end_to_end_over_floor'] or float('nan'):.2f}   "
        f"(target <= {t['end_to_end_over_floor']}: {mark(t['ratio_met'])})",
        f"  after READY=1 / floor         {q['end_to_end_after_ready_over_floor'] or float('nan'):.2f}",
        f"  / like-for-like floor         {q['end_to_end_over_like_for_like_floor'] or float('nan'):.2f}   "
        f"(one send per ack: {sec(f['like_for_like_seconds'])})",
    ]
    if "rss_growth" in r:
        g = r["rss_growth"]
        lines.append(f"peak RSS vs {g['baseline_mails']} mails   {g['baseline_peak_rss_mib']:.1f} -> "
                     f"{d['peak_rss_mib']:.1f} MiB = {g['growth'] * 100:+.1f}% "
                     f"(target <= +{g['target'] * 100:.0f}%: {mark(g['met'])})")
        if r.get("rss_growth_per_process"):
            lines.append("  per process                   " + ", ".join(
                f"{name} {growth * 100:+.1f}%" for name, growth in r["rss_growth_per_process"].items()))
    notes = r["notes"] + (["py-spy was attached to the daemon; these figures include its overhead."]
                          if s["profiled"] else [])
    lines += checks_lines({**r, "notes": notes},
                          f"checks: {r['store']['entries_in']} entries, outcomes {r['store']['spool_outcomes']}, "
                          "outbox drained, no warnings in the daemon log")
    return "\n".join(lines)
