"""The service installs as README.md "Run it as a service" says (issue 15).

The unit (systemd/oneassist.service), the README's commands and the config's file modes
must agree: the binary the unit starts is the one step 2 installs, outside /root and /home
(ProtectHome=yes); the config it reads is the one step 3 installs, owned root:oneassist
0640, which the daemon's own mode check accepts and the service user's group can read;
the user and the data directory are the ones steps 1 and 4 create; and the unit passes
`systemd-analyze verify` where systemd is installed.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from daemon.config_keys import check_file_mode
from daemon.core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "systemd" / "oneassist.service"


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """systemd's unit syntax: [Section], Key=Value, repeated keys add up, # and ; start comments."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, sep, value = line.partition("=")
        assert sep and current is not None, f"{UNIT.name}:{number}: not Key=Value in a section: {raw!r}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def readme_service_commands() -> list[list[str]]:
    """The shell commands of the README's "Run it as a service" section, split into words."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Run it as a service", 1)[1].split("\n## ", 1)[0]
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", section, re.S):
        for line in block.splitlines():
            line = line.split(" #", 1)[0].strip()
            if line and not line.startswith("#"):
                for part in re.split(r"\s&&\s", line):
                    commands.append(shlex.split(part))
    return commands


UNIT_DATA = parse_unit(UNIT.read_text(encoding="utf-8"))
SERVICE = UNIT_DATA["Service"]
COMMANDS = readme_service_commands()


def one(key: str) -> str:
    (value,) = SERVICE[key]
    return value


def commands_starting(*words: str) -> list[list[str]]:
    return [c for c in COMMANDS if c[:len(words)] == list(words)]


def option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_the_unit_runs_the_binary_the_readme_installs_outside_home():
    exec_start = shlex.split(one("ExecStart"))
    binary = Path(exec_start[0])
    # Debian's Python: a venv made by one under /root (pyenv) cannot be run by the service user.
    (venv_cmd,) = commands_starting("/usr/bin/python3", "-m", "venv")
    venv = Path(venv_cmd[3])
    assert binary == venv / "bin" / "oneassist"
    (pip,) = [c for c in COMMANDS if c[0] == str(venv / "bin" / "pip")]
    assert pip[1:] == ["install", "."], "a copy of the package, not an editable install of the clone"
    # ProtectHome=yes hides /root, /home and /run/user from the service.
    assert one("ProtectHome") == "yes"
    assert not binary.is_relative_to("/root") and not binary.is_relative_to("/home")
    assert exec_start[-1] == "run"


def test_the_user_and_group_are_the_ones_the_readme_creates():
    (useradd,) = commands_starting("useradd")
    assert "--system" in useradd and "--user-group" in useradd
    user = useradd[-1]
    assert one("User") == user and one("Group") == user
    assert option(useradd, "--shell") == "/usr/sbin/nologin"


def test_the_config_the_unit_reads_is_installed_root_oneassist_0640():
    config = option(shlex.split(one("ExecStart")), "--config")
    installs = [c for c in commands_starting("install") if c[-1] == config]
    assert len(installs) == 1, COMMANDS
    install = installs[0]
    assert (option(install, "-m"), option(install, "-o"), option(install, "-g")) == ("640", "root", one("Group"))
    (folder,) = [c for c in commands_starting("install", "-d") if c[-1] == str(Path(config).parent)]
    # The service's group must be able to enter the folder, others not.
    assert (option(folder, "-m"), option(folder, "-o"), option(folder, "-g")) == ("750", "root", one("Group"))


def test_the_daemon_accepts_a_0640_config_and_refuses_one_others_can_read(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("", encoding="utf-8")
    path.chmod(0o640)
    check_file_mode(path)  # the README's mode: group-readable for the service, nobody else
    for mode in (0o644, 0o660, 0o604):
        path.chmod(mode)
        with pytest.raises(ConfigError, match="readable or writable by other users"):
            check_file_mode(path)


def test_the_data_directory_is_the_state_directory_and_the_configs_data_dir():
    (state,) = SERVICE["StateDirectory"]
    data_dir = Path("/var/lib") / state
    (made,) = [c for c in commands_starting("install", "-d") if c[-1] == str(data_dir)]
    assert (option(made, "-m"), option(made, "-o"), option(made, "-g")) == ("700", one("User"), one("Group"))
    assert one("StateDirectoryMode") == "0700"
    example = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    assert re.search(rf'^data_dir = "{re.escape(str(data_dir))}"$', example, re.M)
    (useradd,) = commands_starting("useradd")
    assert option(useradd, "--home-dir") == str(data_dir)


def test_cli_commands_run_as_the_service_user_with_the_units_binary_and_config():
    exec_start = shlex.split(one("ExecStart"))
    as_user = commands_starting("runuser", "-u", one("User"), "--")
    assert len(as_user) >= 2 and any("check" in c for c in as_user)
    # Every secret file the example config names is installed for the service's group, like the config.
    example = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    for secret in re.findall(r'^password_file = "(.+)"$', example, re.M):
        (install,) = [c for c in commands_starting("install") if c[-1] == secret]
        assert (option(install, "-m"), option(install, "-o"), option(install, "-g")) == ("640", "root", one("Group"))
    for command in as_user:
        assert command[4:7] == [exec_start[0], "--config", option(exec_start, "--config")], command
    assert ["systemctl", "enable", "--now", "oneassist"] in COMMANDS
    assert ["journalctl", "-u", "oneassist", "-f"] in COMMANDS
    (copy,) = [c for c in commands_starting("install") if c[-1].startswith("/etc/systemd/system/")]
    assert copy[-2] == "systemd/oneassist.service" and Path(copy[-1]).name == UNIT.name


def test_the_unit_is_what_systemd_accepts(tmp_path):
    assert SERVICE["Type"] == ["notify"] and "WatchdogSec" in SERVICE
    assert UNIT_DATA["Install"]["WantedBy"] == ["multi-user.target"]
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    # verify insists that ExecStart exists: point it at this venv's oneassist, nothing else changes.
    installed = Path(sys.executable).parent / "oneassist"
    assert installed.exists() and os.stat(installed).st_mode & stat.S_IXUSR
    text = UNIT.read_text(encoding="utf-8").replace(shlex.split(one("ExecStart"))[0], str(installed))
    unit = tmp_path / UNIT.name
    unit.write_text(text, encoding="utf-8")
    done = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "SYSTEMD_LOG_LEVEL": "warning"})
    # A setting systemd cannot parse is only a warning ("ignoring"), with exit 0: any output fails.
    assert done.returncode == 0 and done.stderr.strip() == "" and done.stdout.strip() == "", \
        done.stdout + done.stderr
