"""The built wheel, installed into a fresh venv outside the checkout, answers a client's mail.

docs/reliability.md case 42 (issue 9 finding 1). `.ci/run` builds the wheel, installs it with
pytest into a new venv under a temporary folder, copies this file there and runs it with
that venv's python, from that folder: the checkout is neither the working directory nor
on sys.path, so everything the daemon reads must come from site-packages. The name does
not match `test_*.py` on purpose: the main suite (editable install) must not collect it.

Mail goes in through SMTP into the support mailbox on Debian's Dovecot; the installed
`oneassist run --once` takes it and sends the acknowledgement through SMTP into the
client's Dovecot mailbox. The billing pass at start (renewal_days = 31, so it is always
due) mails a renewal invoice with its HTML part and PDF, from the same templates.
"""

from __future__ import annotations

import json
import shutil
import smtplib
import subprocess
import sys
import sysconfig
import tempfile
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import pytest

import daemon
import templates
from daemon.sandbox.cli import ADMIN, CLIENT, MANAGER, SUPPORT, write_config
from daemon.sandbox.dovecot import DovecotServer
from daemon.sandbox.smtp import SmtpSink, deliver_to_dovecot

SITE = Path(sysconfig.get_paths()["purelib"]).resolve()
BIN = Path(sys.executable).parent


def oneassist(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(BIN / "oneassist"), "--config", str(config), *args],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"oneassist {' '.join(args)}: {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def inbox(dovecot: DovecotServer, user: str) -> list[EmailMessage]:
    return [message_from_bytes(raw, policy=policy.default) for raw in dovecot.messages(user)]  # type: ignore[misc]


@pytest.fixture
def servers():
    # Under /tmp, not pytest's 0700 tmp tree: Dovecot's own users must reach the maildirs.
    base = Path(tempfile.mkdtemp(prefix="oneassist-wheel-dovecot-"))
    dovecot = DovecotServer(base).start()
    sink = SmtpSink(deliver=deliver_to_dovecot(dovecot)).start()
    try:
        for user in (SUPPORT, MANAGER, ADMIN, CLIENT):
            dovecot.add_user(user)
        yield dovecot, sink
    finally:
        sink.stop()
        dovecot.stop()
        shutil.rmtree(base, ignore_errors=True)


def test_the_installed_package_runs_from_site_packages_alone():
    assert Path(daemon.__file__).resolve().is_relative_to(SITE), daemon.__file__
    for entry in sys.path:
        folder = Path(entry or ".").resolve()
        assert folder == SITE or not (folder / "daemon" / "__init__.py").exists(), f"a checkout on sys.path: {entry}"
    assert Path(templates.__file__).resolve().is_relative_to(SITE), templates.__file__
    assert (Path(templates.__file__).parent / "ru" / "client.notice.ack.txt.j2").is_file()


def test_installed_wheel_acknowledges_a_client_mail_through_dovecot(servers, tmp_path):
    dovecot, sink = servers
    config = write_config(tmp_path / "desk", dovecot.imap_port, sink.port)
    text = config.read_text(encoding="utf-8")
    assert "auto_renewal = false" in text
    config.write_text(text.replace("auto_renewal = false", "auto_renewal = true\nrenewal_days = 31"),
                      encoding="utf-8")

    checked = json.loads(oneassist(config, "--json", "check").stdout)
    templates = next(c for c in checked["checks"] if c["name"] == "templates")
    assert templates["ok"] and str(SITE) in templates["detail"], templates

    oneassist(config, "client", "add", CLIENT, "--name", "Иван Петров", "--tariff", "basis",
              "--manager", MANAGER, "--lang", "ru")
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = f"Иван Петров <{CLIENT}>", SUPPORT, "Столик на пятницу"
    mail["Message-ID"] = make_msgid(domain="client.test")
    mail.set_content("Забронируйте столик на двоих на пятницу, 19:00")
    with smtplib.SMTP("127.0.0.1", sink.port, timeout=10) as smtp:
        smtp.send_message(mail)
    assert len(dovecot.messages(SUPPORT)) == 1

    ran = oneassist(config, "--json", "run", "--once")
    assert json.loads(ran.stdout)["fetched"] == 1, ran.stdout

    received = {str(m["Subject"]): m for m in inbox(dovecot, CLIENT)}
    ack = received.get("[OA-1] Столик на пятницу")
    assert ack is not None, list(received)
    assert ack["In-Reply-To"] == mail["Message-ID"]
    assert "Иван Петров" in ack.get_body(("plain",)).get_content()
    assert ack.get_body(("html",)) is not None
    invoices = [m for s, m in received.items() if s.startswith("Счёт ")]
    assert len(invoices) == 1, list(received)
    pdf = [part for part in invoices[0].iter_attachments() if part.get_content_type() == "application/pdf"]
    assert len(pdf) == 1 and pdf[0].get_content().startswith(b"%PDF")


def test_installed_daemon_runs_its_runners_from_site_packages(servers, tmp_path):
    """`oneassist run` (issue 11): the master starts each runner as `python -m daemon.runners`."""
    import signal
    import time

    dovecot, sink = servers
    config = write_config(tmp_path / "desk", dovecot.imap_port, sink.port)
    oneassist(config, "client", "add", CLIENT, "--name", "Иван Петров", "--tariff", "basis",
              "--manager", MANAGER, "--lang", "ru")
    daemon_run = subprocess.Popen([str(BIN / "oneassist"), "--config", str(config), "run"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        mail = EmailMessage()
        mail["From"], mail["To"], mail["Subject"] = f"Иван Петров <{CLIENT}>", SUPPORT, "Такси на утро"
        mail["Message-ID"] = make_msgid(domain="client.test")
        mail.set_content("Закажите такси на 8:00")
        with smtplib.SMTP("127.0.0.1", sink.port, timeout=10) as smtp:
            smtp.send_message(mail)
        deadline = time.monotonic() + 90
        while not any(m["In-Reply-To"] == mail["Message-ID"] for m in inbox(dovecot, CLIENT)):
            assert daemon_run.poll() is None and time.monotonic() < deadline, "no acknowledgement"
            time.sleep(0.2)
    finally:
        daemon_run.send_signal(signal.SIGTERM)
        _, err = daemon_run.communicate(timeout=60)
    assert daemon_run.returncode == 0, err[-3000:]
    for runner in ("fetch", "ingest-1", "scheduler", "outbox"):
        assert f"runner {runner} started" in err, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
