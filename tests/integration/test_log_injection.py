"""Attacker text cannot forge log entries or alert lines (issue 9, finding 10, logs).

docs/reliability.md cases 29 (logs) and 44: a DKIM-Signature whose d= carries CR LF
reached a WARNING line and the admin alert verbatim, so journald, which starts an entry at
every line break, showed an entry written by the attacker, priority prefix included.
"""

from __future__ import annotations

import os
import subprocess
import sys

from tests.integration.deskrig import ROOT, reply_to

FORGED = "<2>oneassist.service: FORGED-ENTRY all clients deleted"


def _run_daemon_journald(desk) -> str:
    """`oneassist run --once` as a process under a journald-like stream; returns stderr."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JOURNAL_STREAM": "8:4242"}
    env.pop("ONEASSIST_CRASH_AT", None)
    done = subprocess.run([sys.executable, "-m", "daemon", "--config", str(desk.config_path), "run", "--once"],
                          cwd=ROOT, env=env, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    return done.stderr.decode("utf-8", errors="replace")


def test_crlf_in_a_dkim_domain_stays_on_the_warning_line_and_in_one_alert_line(desk):
    text = desk.config_path.read_text(encoding="utf-8")
    desk.config_path.write_text(text.replace("[staff_mail]\n", "[staff_mail]\nverify_dkim = true\n", 1),
                                encoding="utf-8")
    client = desk.add_client()
    _, notice = desk.new_task(client)
    # Folded inside d=: dkimpy keeps the CR LF in the tag value, and the refusal names the d=.
    signature = (f"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=evil.test\r\n"
                 f"\t{FORGED}; s=sel; h=from:subject; bh=AAAA; b=BBBB\r\n").encode()
    desk.deliver(signature + reply_to(notice, desk.manager, "#done", to=desk.support))
    stderr = _run_daemon_journald(desk)
    lines = stderr.splitlines()
    warning = [line for line in lines if "not authenticated" in line]
    assert len(warning) == 1 and "forged-entry" in warning[0].lower() and warning[0].startswith("<4>")
    # No other line carries the attacker's text: nothing journald would make an entry of its own.
    assert [line for line in lines if "forged-entry" in line.lower()] == warning
    assert all(line.startswith("<") or line.startswith("  ") for line in lines)
    (alert,) = [m for m in desk.inbox(desk.admin) if "Unverified" in m["Subject"]]
    body = alert.get_body(("plain",)).get_content()
    forged_lines = [line for line in body.splitlines() if "forged-entry" in line.lower()]
    assert len(forged_lines) == 1 and "\\r\\n" in forged_lines[0] and "d=evil.test" in forged_lines[0]
