"""`oneassist check` and `run` read the templates of the package they run from (docs/reliability.md case 42).

Issue 9 finding 1: a wheel without templates took every mail, retried it and quarantined
it, and the billing pass failed at start. Here the daemon runs from a copy of its packages
(as a wheel would put them in site-packages) in which one template is missing or broken:
`check` names the file and exits 1 while IMAP, SMTP and the store pass, and `run` refuses
to start, leaving the client's mail on the server, untouched and not quarantined.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from daemon.render.notice_catalogue import KINDS
from tests.integration.deskrig import client_mail

ROOT = Path(__file__).resolve().parents[2]
GONE = "ru/staff.alert.quarantine.subject.j2"


def installed_copy(tmp_path: Path) -> Path:
    """The four packages as `pip install .` lays them out, in a folder of their own."""
    site = tmp_path / "site"
    for package in ("daemon", "parsers", "store", "templates"):
        # Bytecode too (copytree keeps mtimes, so it stays valid): each run starts faster.
        shutil.copytree(ROOT / package, site / package)
    return site


def oneassist(site: Path, config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # The copy comes first on sys.path and the working directory is the copy, so the
    # checkout's daemon/ (and its templates) is never the one imported.
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run([sys.executable, "-m", "daemon", "--config", str(config), *args], cwd=site, env=env,
                          capture_output=True, text=True, timeout=60)


def checks_of(done: subprocess.CompletedProcess[str]) -> dict[str, dict]:
    return {c["name"]: c for c in json.loads(done.stdout)["checks"]}


def test_check_renders_the_templates_of_the_package_it_runs_from(desk, tmp_path):
    site = installed_copy(tmp_path)
    done = oneassist(site, desk.config_path, "--json", "check")
    assert done.returncode == 0, done.stdout + done.stderr
    templates = checks_of(done)["templates"]
    assert templates["ok"] and str(site / "templates") in templates["detail"]
    assert f"{len(KINDS)} notice kinds x 2 languages" in templates["detail"]


def test_check_names_a_missing_template_and_exits_1(desk, tmp_path):
    site = installed_copy(tmp_path)
    (site / "templates" / GONE).unlink()
    done = oneassist(site, desk.config_path, "--json", "check")
    assert done.returncode == 1
    checks = checks_of(done)
    assert not checks["templates"]["ok"]
    assert f"{GONE}: missing" in checks["templates"]["detail"]
    # Only the templates failed: the servers and the store were fine.
    assert all(checks[name]["ok"] for name in ("config", "store", "imap", "smtp"))
    human = oneassist(site, desk.config_path, "check")
    assert human.returncode == 1 and "FAIL  templates: 1 problem(s)" in human.stdout and GONE in human.stdout


def test_check_names_a_broken_template(desk, tmp_path):
    site = installed_copy(tmp_path)
    broken = site / "templates" / "en" / "client.notice.ack.txt.j2"
    broken.write_text(broken.read_text(encoding="utf-8") + "{{ client_phone }}\n{% if %}\n", encoding="utf-8")
    done = oneassist(site, desk.config_path, "check")
    assert done.returncode == 1
    assert "FAIL  templates" in done.stdout and "en/client.notice.ack.txt.j2: line " in done.stdout


def test_run_without_a_template_refuses_to_start_and_leaves_the_mail_on_the_server(desk, tmp_path):
    site = installed_copy(tmp_path)
    (site / "templates" / GONE).unlink()
    client = desk.add_client()
    desk.deliver(client_mail(client, desk.support, "Билеты в театр", "Два билета на субботу"))
    done = oneassist(site, desk.config_path, "run", "--once")
    assert done.returncode == 1
    assert GONE in done.stderr and "reinstall" in done.stderr
    assert len(desk.intake_left()) == 1
    assert desk.inbox(client) == []
    # Installed whole again, the same mail is answered: nothing was taken or quarantined.
    shutil.copy(ROOT / "templates" / GONE, site / "templates" / GONE)
    again = oneassist(site, desk.config_path, "--json", "run", "--once")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["fetched"] == 1
    assert desk.inbox(client)[-1]["Subject"].startswith("[OA-1]")
    assert oneassist(site, desk.config_path, "quarantine", "list").stdout.strip() in ("", "(none)")
