"""`oneassist sandbox` as a new admin uses it (issue 15), through the sandbox's own servers.

Two sandboxes are started at once as subprocesses, each in a folder behind a closed
(0700) parent, as a clone under /root is. The commands their banners print are run as
printed; a reply goes through the sandbox's SMTP server to the exact Reply-To of the
acknowledgement (a plus-address) and joins its ticket; the manager's `#accept` goes to the
Reply-To of her notice and is applied. Each sandbox's Dovecot state lives in its own
folder, so the second one's mailboxes hold none of the first one's mail.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shlex
import shutil
import signal
import smtplib
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from daemon.sandbox.dovecot import dovecot_binary

ONEASSIST = Path(sys.executable).parent / "oneassist"
STARTUP_SECONDS = 120  # two sandboxes start at once on a loaded two-core machine
MAIL_SECONDS = 60


class Sandbox:
    """One `oneassist sandbox` process, started from `cwd` as the README says."""

    def __init__(self, cwd: Path, extra: list[str]) -> None:
        self.cwd = cwd
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("ONEASSIST_SANDBOX", None)
        # Typed as the README types it: the console script, by its path from the clone.
        self.proc = subprocess.Popen([str(ONEASSIST), "sandbox", *extra], cwd=cwd, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for text in self.proc.stdout:
            self.output.append(text)
            self.lines.put(text)

    def banner(self) -> list[str]:
        """The banner's lines, once it has printed all of them."""
        deadline = time.monotonic() + STARTUP_SECONDS
        seen: list[str] = []
        while not any("joins its ticket" in text for text in seen):
            try:
                seen.append(self.lines.get(timeout=max(0.1, deadline - time.monotonic())))
            except queue.Empty:
                raise AssertionError("no banner in time:\n" + "".join(self.output)) from None
        return seen

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def run(words: list[str], cwd: Path) -> str:
    done = subprocess.run(words, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{shlex.join(words)} -> {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def printed_commands(banner: list[str]) -> dict[str, list[str]]:
    """The banner's `In another terminal` commands, keyed by what they do."""
    found: dict[str, list[str]] = {}
    for text in banner:
        first = text.split(maxsplit=1)[0] if text.strip() else ""
        if Path(first).name in ("oneassist", "python", "python3"):
            words = shlex.split(text.split(" # ", 1)[0])
            key = " ".join(w for w in words[1:] if not w.startswith(("/", "--dir")))
            found[key] = words
    return found


def wait_until(what: str, probe: Callable[[], Any]) -> Any:
    deadline = time.monotonic() + MAIL_SECONDS
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {MAIL_SECONDS} s for {what}")
        time.sleep(0.3)


def reply(smtp_port: int, sender: str, to_mail: dict[str, Any], text: str) -> None:
    """What neomutt sends on `r`: to the Reply-To, threaded by In-Reply-To/References."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to_mail["reply_to"]
    msg["Subject"] = "Re: " + to_mail["subject"]
    msg["In-Reply-To"] = to_mail["message_id"]
    msg["References"] = to_mail["message_id"]
    msg.set_content(text + "\n\n> " + to_mail["text"].replace("\n", "\n> "))
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as smtp:
        refused = smtp.send_message(msg)
    assert refused == {}


@pytest.fixture
def closed_folders() -> Iterator[tuple[Path, Path]]:
    """Two clone-like folders behind a 0700 parent, as /root is."""
    if dovecot_binary() is None:
        pytest.skip("Dovecot is not installed (apt-get install dovecot-imapd)")
    top = Path(tempfile.mkdtemp(prefix="oa-sbx-"))
    top.chmod(0o700)
    try:
        first, second = top / "a", top / "b"
        first.mkdir()
        second.mkdir()
        yield first, second
    finally:
        shutil.rmtree(top, ignore_errors=True)


def test_sandbox_replies_to_the_reply_to_join_their_ticket_and_two_sandboxes_stay_apart(closed_folders):
    first_dir, second_dir = closed_folders
    first = Sandbox(first_dir, [])
    second_base = second_dir / "elsewhere"
    second = Sandbox(second_dir, ["--dir", str(second_base)])
    try:
        banner = first.banner()
        second_banner = second.banner()
        commands = printed_commands(banner)
        # Printed as they work: the console script by the path it was started with.
        assert commands["sandbox mailbox"][0] == str(ONEASSIST), banner
        assert "--dir" in printed_commands(second_banner)["sandbox mailbox"], second_banner

        base = first_dir / "oneassist-sandbox"
        ports = json.loads((base / "state" / "ports.json").read_text())
        second_ports = json.loads((second_base / "state" / "ports.json").read_text())
        assert Path(ports["dovecot_dir"]) == base / "dovecot"
        assert Path(second_ports["dovecot_dir"]) == second_base / "dovecot"
        assert {ports["imap"], ports["smtp"]}.isdisjoint({second_ports["imap"], second_ports["smtp"]})

        send = next(words for key, words in commands.items() if key.startswith("sandbox send"))
        run(send, first_dir)

        def client_mail() -> list[dict[str, Any]]:
            return json.loads(run([*commands["sandbox mailbox"], "--json"], first_dir))

        ack = wait_until("the acknowledgement", client_mail)[-1]
        assert ack["subject"].startswith("[OA-1]"), ack
        assert ack["reply_to"].startswith("support+OA-1."), ack
        # Its time carries the zone (the sandbox runs on Moscow time, the mail's Date is UTC).
        assert re.search(r"\(до \d\d\.\d\d\.\d{4} \d\d:\d\d UTC\+3\)", ack["text"]), ack["text"]
        assert "Осталось задач по тарифу сегодня: 3 из 3." in ack["text"], ack["text"]
        shown = run([*commands["sandbox mailbox --headers"]], first_dir)
        assert f"Reply-To: {ack['reply_to']}" in shown and f"Message-ID: {ack['message_id']}" in shown

        # The second sandbox has mail of its own only: none of the first one's acks.
        second_mail = json.loads(run([str(ONEASSIST), "sandbox", "--dir", str(second_base),
                                      "mailbox", "--json"], second_dir))
        assert second_mail == []

        ticket_show = next(words for key, words in commands.items() if key.endswith("ticket show OA-1"))

        def ticket() -> dict[str, Any]:
            return json.loads(run([*ticket_show, "--json"], first_dir))

        # The client answers the acknowledgement from a mail client: to its exact Reply-To,
        # through the sandbox's SMTP server.
        reply(ports["smtp"], "ivan@client.test", ack, "Лучше на 20:00, пожалуйста")
        joined = wait_until("the client's reply in OA-1", lambda: [
            m for m in ticket()["messages"] if m["direction"] == "in" and "20:00" in (m["text"] or "")])
        assert len(joined) == 1
        listed = json.loads(run([*next(w for k, w in commands.items() if k.endswith("ticket list")),
                                 "--json"], first_dir))
        assert [t["key"] for t in listed] == ["OA-1"], listed

        # The manager answers her notice of the new task with #accept, to its Reply-To.
        manager_mail = json.loads(run([*commands["sandbox mailbox anna@desk.test"], "--json"], first_dir))
        notice = next(m for m in manager_mail if "OA-1" in m["subject"])
        assert notice["reply_to"].startswith("support+OA-1.") and notice["reply_to"] != ack["reply_to"]
        reply(ports["smtp"], "anna@desk.test", notice, "#accept")
        wait_until("OA-1 accepted", lambda: ticket()["status"] == "accepted")
        accepted = wait_until("the client's accepted notice", lambda: [
            m for m in client_mail() if m["message_id"] != ack["message_id"]])
        assert "OA-1" in accepted[-1]["subject"]

        # A mailbox the sandbox does not have: a sentence, not a traceback.
        unknown = subprocess.run([*commands["sandbox mailbox"], "nobody@nowhere.test"], cwd=first_dir,
                                 capture_output=True, text=True, timeout=60)
        assert unknown.returncode == 2 and "no mailbox nobody@nowhere.test" in unknown.stderr, unknown
        assert "Traceback" not in unknown.stderr
        # Nothing was refused on the way (the sink's "Local delivery failed" of issue 15).
        assert not any("Local delivery failed" in text for text in first.output), "".join(first.output)
    finally:
        codes = [first.stop(), second.stop()]
    assert codes == [0, 0], "".join(first.output + second.output)
    # The mail stays with its sandbox, in its folder.
    assert any((first_dir / "oneassist-sandbox" / "dovecot" / "mail" / "ivan@client.test").iterdir())
    # Stopped, it says so and how to start it again.
    stopped = subprocess.run([str(ONEASSIST), "sandbox", "mailbox"], cwd=first_dir, capture_output=True,
                             text=True, timeout=60)
    assert stopped.returncode == 1 and "is not running" in stopped.stderr, stopped
