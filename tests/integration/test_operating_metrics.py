"""The Prometheus endpoint of a running daemon, scraped over HTTP (issue 13).

The mails are fetched and answered by `run --once` processes before the daemon starts,
and the daemon is restarted between scrapes: the figures come from the store, so the
endpoint shows work no process of its own did, and the same counts after a restart.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from daemon.config import load
from daemon.core.errors import ConfigError
from tests.integration.deskrig import ROOT, client_mail


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(port: int, timeout: float = 30) -> dict[tuple[str, tuple], float]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def start(desk) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "daemon", "--config", str(desk.config_path), "run"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def stop(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()[-2000:]
    return err.decode()


def test_metrics_come_from_the_store_across_processes_and_restarts(desk):
    port = free_port()
    desk.config_path.write_text(desk.config_path.read_text() + f'\n[metrics]\nlisten = "127.0.0.1:{port}"\n')
    client = desk.add_client()
    for n in range(3):
        desk.deliver(client_mail(client, desk.support, f"Задача {n}", "Текст"))
    done = desk.run_process("run", "--once")
    assert done.returncode == 0, done.stderr.decode()[-2000:]

    proc = start(desk)
    try:
        first = scrape(port)
    finally:
        stop(proc)
    assert first[("oneassist_mails_fetched_total", ())] == 3
    assert first[("oneassist_mails_processed_total", (("outcome", "new-ticket"), ("state", "done")))] == 3
    assert first[("oneassist_sends_total", (("result", "sent"),))] >= 6  # 3 acks, 3 manager notices
    assert first[("oneassist_ack_latency_seconds_count", ())] == 3
    assert first[("oneassist_ack_latency_seconds_bucket", (("le", "+Inf"),))] == 3
    assert 0 < first[("oneassist_ack_latency_seconds_sum", ())] < 3 * 120
    assert first[("oneassist_outbox_mails", (("status", "sent"),))] >= 6
    assert first[("oneassist_spool_pending", ())] == 0
    assert first[("oneassist_imap_up", ())] == 1
    assert 0 <= first[("oneassist_imap_last_fetch_age_seconds", ())] < 120
    assert first[("oneassist_quarantine_mails", ())] == 0
    assert first[("oneassist_status", ())] == 0

    # A new mail, answered by the daemon itself this time, and then a restart.
    proc = start(desk)
    try:
        time.sleep(1.0)
        raw = client_mail(client, desk.support, "Задача 4", "Текст")
        mid = raw.split(b"Message-ID: ")[1].split(b"\n")[0].strip()
        desk.deliver(raw)
        desk.sink.wait_for(lambda m: client in m.rcpt_tos and mid in m.raw, timeout=30)
    finally:
        stop(proc)
    proc = start(desk)
    try:
        second = scrape(port)
    finally:
        stop(proc)
    assert second[("oneassist_mails_fetched_total", ())] == 4
    assert second[("oneassist_ack_latency_seconds_count", ())] == 4
    assert second[("oneassist_sends_total", (("result", "sent"),))] >= 8


def test_metrics_are_off_by_default_and_only_on_loopback(desk, tmp_path):
    assert not desk.settings.metrics.enabled
    for listen, says in (("0.0.0.0:9464", "loopback"), ("localhost:9464", "loopback"),
                         ("127.0.0.1", "HOST:PORT"), ("127.0.0.1:99999", "HOST:PORT")):
        path = tmp_path / "bad.toml"
        path.write_text(desk.config_path.read_text() + f'\n[metrics]\nlisten = "{listen}"\n')
        path.chmod(0o600)
        with pytest.raises(ConfigError, match=says):
            load(path)
